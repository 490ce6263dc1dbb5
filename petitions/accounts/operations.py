"""Campaigner accounts: registering, confirming the address, signing in, settings, password reset, deletion."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from werkzeug.security import check_password_hash, generate_password_hash

from petitions.campaigns import lifecycle
from petitions.exceptions import DomainError, EmailTaken, TokenInvalid
from petitions.extensions import db
from petitions.infra import tokens
from petitions.infra.database import rowcount
from petitions.infra.mail import external_url, mail_text, queue_email
from petitions.models import Petition, User
from petitions.models.user import new_session_token
from petitions.signatures.mailboxes import canonical_email

# Checked against when the address is unknown, so a failed login takes as long either way.
_DUMMY_HASH = generate_password_hash("not a password")

# Token purposes (the serializer's salt): a token made for one is refused by the others.
PASSWORD_RESET = "password-reset"  # noqa: S105 (a token purpose, not a password)
CONFIRM_EMAIL_CHANGE = "confirm-email-change"


class WrongPassword(DomainError):
    """The current password given to confirm a change does not match the account's."""


class SameEmail(DomainError):
    """The new address asked for is the account's address already."""


class TokenUsed(TokenInvalid):
    """A single-use link that has done its work already (the password changed since it was sent)."""


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
        mail_text("Confirm your email address", user.locale),
        "confirm_account",
        now=now,
        locale=user.locale,
        user=user,
        confirm_url=external_url("auth.confirm_account", token=token),
    )


def warn_existing(email: str, *, now: datetime) -> None:
    """Tell the owner of an address that someone tried to register it again (in their account's language)."""
    address = account_email(email)
    locale = db.session.scalar(select(User.locale).where(User.email == address))
    queue_email(
        address,
        mail_text("Someone tried to register with your email address", locale),
        "account_exists",
        now=now,
        locale=locale,
        login_url=external_url("auth.login"),
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
        lifecycle.publish_drafts(user, now=now, moderation=current_app.config["MODERATION"])
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


def end_sessions(user: User) -> None:
    """Sign the account out everywhere: every session of it, and every copy of their cookies, stops working."""
    user.end_sessions()
    db.session.flush()


# --- settings -------------------------------------------------------------------------------


def _require_password(user: User, password: str) -> None:
    if not user.check_password(password):
        raise WrongPassword()


def _confirm_address(user: User, *, now: datetime) -> None:
    """The campaigner has just proved they read mail at the account's address: confirm it."""
    if user.email_confirmed_at is None:
        user.email_confirmed_at = now
        lifecycle.publish_drafts(user, now=now, moderation=current_app.config["MODERATION"])


def change_name(user: User, name: str) -> None:
    """Change the name shown on the account."""
    user.name = name.strip()
    db.session.flush()


def change_locale(user: User, locale: str | None) -> None:
    """Set the account's interface language (a code the caller checked against LANGUAGES), or None: the browser's."""
    user.locale = locale or None
    db.session.flush()


def request_email_change(user: User, new_email: str, password: str, *, now: datetime) -> str:
    """Start moving the account to a new address; it changes only when the link sent there is opened.

    Whether or not another account has the new address, the account records it as pending and
    its current address is told: the campaigner sees the same either way, so the form cannot
    be used to find out which addresses have accounts. Only the mailbox of the new address
    learns the difference (a link, or a note that it has an account already).
    Raises WrongPassword, SameEmail, or InvalidEmail (a ValueError). Returns the new address.
    """
    _require_password(user, password)
    address = account_email(new_email)
    if address == user.email:
        raise SameEmail()
    user.pending_email = address
    other = db.session.execute(select(User.locale).where(User.email == address, User.id != user.id)).first()
    if other is not None:  # in the language of the account that has the address
        queue_email(
            address,
            mail_text("This email address already has an account", other.locale),
            "email_change_taken",
            now=now,
            locale=other.locale,
            login_url=external_url("auth.login"),
            reset_url=external_url("auth.forgot_password"),
        )
    else:
        token = tokens.make_token(CONFIRM_EMAIL_CHANGE, [user.id, address])
        queue_email(
            address,
            mail_text("Confirm your new email address", user.locale),
            "confirm_email_change",
            now=now,
            locale=user.locale,
            user=user,
            confirm_url=external_url("account.confirm_email_change", token=token),
        )
    queue_email(
        user.email,
        mail_text("Your email address is about to change", user.locale),
        "email_change_notice",
        now=now,
        locale=user.locale,
        user=user,
        new_email=address,
        reset_url=external_url("auth.forgot_password"),
    )
    db.session.flush()
    return address


def cancel_email_change(user: User) -> None:
    """Forget a pending new address; the link sent to it stops working."""
    user.pending_email = None
    db.session.flush()


def confirm_email_change(token: str, *, now: datetime) -> User:
    """Move the account to the address the token was sent to. Idempotent once done.

    Raises TokenExpired, TokenInvalid (forged, superseded or cancelled), or EmailTaken when
    another account took the address in the meantime (the database's unique constraint decides).
    """
    payload = tokens.read_token(
        CONFIRM_EMAIL_CHANGE, token, max_age=current_app.config["ACCOUNT_TOKEN_MAX_AGE"], now=now
    )
    try:
        user_id, address = int(payload[0]), str(payload[1])
    except (TypeError, ValueError, IndexError, KeyError):
        raise TokenInvalid() from None
    user = db.session.get(User, user_id)
    if user is None:
        raise TokenInvalid()
    if user.email == address:
        return user  # the link was opened before
    if user.pending_email != address:
        raise TokenInvalid()
    try:
        with db.session.begin_nested():
            user.email = address
            user.pending_email = None
    except IntegrityError:
        raise EmailTaken() from None
    _confirm_address(user, now=now)
    db.session.flush()
    return user


def change_password(user: User, current_password: str, new_password: str, *, now: datetime) -> None:
    """Set a new password after checking the current one; outstanding reset links and every session stop working.

    Raises WrongPassword.
    """
    _require_password(user, current_password)
    user.set_password(new_password)
    _notify_password_changed(user, now=now)
    db.session.flush()


def _notify_password_changed(user: User, *, now: datetime) -> None:
    queue_email(
        user.email,
        mail_text("Your password was changed", user.locale),
        "password_changed",
        now=now,
        locale=user.locale,
        user=user,
        reset_url=external_url("auth.forgot_password"),
    )


def delete_account(user: User, password: str, *, now: datetime) -> list[Petition]:
    """Delete the account after checking its password. Returns the petitions it owned.

    The petitions stay, with their signatures and counts, owned by nobody. The open ones are
    closed, since nobody can run them any more (one already past its closing date closes at
    that date). Drafts and petitions waiting for moderation stay unpublished.
    Raises WrongPassword.
    """
    _require_password(user, password)
    petitions = list(user.petitions)
    for petition in petitions:
        if petition.status == "open":
            petition.status = "closed"
            petition.closed_at = petition.closes_at if petition.closes_at and petition.closes_at <= now else now
            petition.updated_at = now
        petition.owner_id = None
    queue_email(
        user.email,
        mail_text("Your account is deleted", user.locale),
        "account_deleted",
        now=now,
        locale=user.locale,
        user=user,
        petitions=[(p.title, external_url("public.petition", slug=p.slug)) for p in petitions if p.is_public()],
    )
    db.session.delete(user)
    db.session.flush()
    return petitions


# --- forgotten password ---------------------------------------------------------------------


def password_fingerprint(user: User) -> str:
    """A keyed digest of the current password hash: it changes with every new password, and reveals nothing of it."""
    key = current_app.config["SECRET_KEY"]
    key = key if isinstance(key, bytes) else key.encode()
    return hmac.new(key, b"password-reset:" + user.password_hash.encode(), hashlib.sha256).hexdigest()[:32]


def request_password_reset(email: str, *, now: datetime) -> bool:
    """Email a reset link if an account has this address; nothing otherwise. True when one was sent.

    The same work is done either way, so the time the answer takes does not tell whether the
    address has an account: for an unknown address a link is signed, the email rendered and
    its outbox row written for a stand-in account, then the row is undone (its savepoint
    rolled back). The caller must answer the same either way. Raises InvalidEmail (a
    ValueError) for a malformed address.
    """
    address = account_email(email)
    user = db.session.scalar(select(User).where(User.email == address))
    known = user is not None
    if user is None:
        user = User(id=0, name="", email=address, password_hash=_DUMMY_HASH)  # never added to the session
    token = tokens.make_token(PASSWORD_RESET, [user.id, user.email, password_fingerprint(user)])
    savepoint = db.session.begin_nested()
    queue_email(
        user.email,
        mail_text("Reset your password", user.locale),
        "password_reset",
        now=now,
        locale=user.locale,
        user=user,
        reset_url=external_url("auth.reset_password", token=token),
        minutes=current_app.config["PASSWORD_RESET_MAX_AGE"] // 60,
    )
    if known:
        savepoint.commit()
    else:
        savepoint.rollback()
    return known


def check_password_reset(token: str, *, now: datetime) -> User:
    """The account a reset link is for, if it may still be used.

    Raises TokenExpired (older than PASSWORD_RESET_MAX_AGE), TokenUsed (the password changed
    since the link was sent, by this link or otherwise), or TokenInvalid.
    """
    payload = tokens.read_token(PASSWORD_RESET, token, max_age=current_app.config["PASSWORD_RESET_MAX_AGE"], now=now)
    try:
        user_id, address, fingerprint = int(payload[0]), str(payload[1]), str(payload[2])
    except (TypeError, ValueError, IndexError, KeyError):
        raise TokenInvalid() from None
    user = db.session.get(User, user_id)
    if user is None or user.email != address:
        raise TokenInvalid()
    if not hmac.compare_digest(fingerprint, password_fingerprint(user)):
        raise TokenUsed()
    return user


def reset_password(token: str, new_password: str, *, now: datetime) -> User:
    """Set a new password through a reset link; the link works once.

    The new hash is written only where the old one is still stored, so of two requests racing
    with the same link only one succeeds. The link proves the campaigner reads mail at the
    address, so an unconfirmed address becomes confirmed. Raises what check_password_reset raises.
    """
    user = check_password_reset(token, now=now)
    old_hash = user.password_hash
    new_hash = generate_password_hash(new_password)
    session_token = new_session_token()  # every session signed in with the old password ends
    result = db.session.execute(
        update(User)
        .where(User.id == user.id, User.password_hash == old_hash)
        .values(password_hash=new_hash, session_token=session_token)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        raise TokenUsed()
    # What the row holds now; nothing more to write.
    set_committed_value(user, "password_hash", new_hash)
    set_committed_value(user, "session_token", session_token)
    _confirm_address(user, now=now)
    _notify_password_changed(user, now=now)
    db.session.flush()
    return user
