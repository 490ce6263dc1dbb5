"""Campaigner accounts: registering, confirming the address, signing in."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from . import campaigns, tokens
from .emails import canonical_email
from .exceptions import EmailTaken, TokenInvalid
from .extensions import db
from .mail import external_url, queue_email
from .models import User

# Checked against when the address is unknown, so a failed login takes as long either way.
_DUMMY_HASH = generate_password_hash("not a password")


def account_email(address: str) -> str:
    """The form in which account addresses are stored and looked up."""
    return canonical_email(address).lower()


def register(name: str, email: str, password: str, *, now: datetime) -> User:
    """Create an unconfirmed account and queue the confirmation email. Raises EmailTaken."""
    address = account_email(email)
    user = User(name=name.strip(), email=address, created_at=now, is_admin=False)
    user.set_password(password)
    try:
        with db.session.begin_nested():
            db.session.add(user)
    except IntegrityError:
        raise EmailTaken() from None
    send_confirmation(user, now=now)
    return user


def send_confirmation(user: User, *, now: datetime) -> None:
    """Queue the email with the link that confirms the account's address."""
    token = tokens.make_token(tokens.CONFIRM_ACCOUNT, [user.id, user.email])
    queue_email(
        user.email,
        "Confirm your email address",
        "confirm_account",
        now=now,
        user=user,
        confirm_url=external_url("campaign.confirm_account", token=token),
    )


def warn_existing(email: str, *, now: datetime) -> None:
    """Tell the owner of an address that someone tried to register it again."""
    queue_email(
        account_email(email),
        "Someone tried to register with your email address",
        "account_exists",
        now=now,
        login_url=external_url("campaign.login"),
    )


def confirm_account(token: str, *, now: datetime) -> User:
    """Mark the address of the token's account confirmed and publish its waiting drafts."""
    payload = tokens.read_token(
        tokens.CONFIRM_ACCOUNT, token, max_age=current_app.config["ACCOUNT_TOKEN_MAX_AGE"], now=now
    )
    try:
        user_id, email = int(payload[0]), str(payload[1])
    except (TypeError, ValueError, IndexError, KeyError):
        raise TokenInvalid() from None
    user = db.session.get(User, user_id)
    if user is None or user.email != email:
        raise TokenInvalid()
    if user.email_confirmed_at is None:
        user.email_confirmed_at = now
        campaigns.publish_drafts(user, now=now, moderation=current_app.config["MODERATION"])
    db.session.flush()
    return user


def authenticate(email: str, password: str) -> User | None:
    """The account with this address and password, or None; as slow for unknown addresses."""
    try:
        address = account_email(email)
    except ValueError:
        address = None
    user = db.session.scalar(select(User).where(User.email == address)) if address else None
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if user.check_password(password) else None
