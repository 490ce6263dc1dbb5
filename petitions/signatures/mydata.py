"""A signer's own data: asked for by email link, shown, and deleted on request."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import select

from petitions.exceptions import TokenInvalid
from petitions.extensions import db
from petitions.infra import tokens
from petitions.infra.mail import external_url, mail_text, queue_email
from petitions.models import Signature
from petitions.signatures import withdrawing
from petitions.signatures.mailboxes import normalize_email
from petitions.transparency import removals

MY_DATA = "my-data"
MAX_AGE = 3600


def request_link(address: str, *, now: datetime) -> bool:
    """Email a link to the data of this mailbox, if it has signed anything. The caller answers the same either way."""
    normalized = normalize_email(address)
    # The latest signature: its address, and its language, the one this signer used last.
    latest = db.session.scalar(
        select(Signature)
        .where(Signature.email_normalized == normalized)
        .order_by(Signature.created_at.desc(), Signature.id.desc())
        .limit(1)
    )
    if latest is None:
        return False
    token = tokens.make_token(MY_DATA, normalized)
    queue_email(
        latest.email,
        mail_text("Your signatures", latest.locale),
        "my_data",
        now=now,
        locale=latest.locale,
        data_url=external_url("public.my_data_view", token=token),
    )
    return True


def mailbox_from(token: str, *, now: datetime) -> str:
    """The mailbox a data link is for; raises TokenInvalid or TokenExpired."""
    value = tokens.read_token(MY_DATA, token, max_age=current_app.config.get("MY_DATA_MAX_AGE", MAX_AGE), now=now)
    if not isinstance(value, str):
        raise TokenInvalid()
    return value


def signatures_of(normalized: str) -> list[Signature]:
    """Every signature of this mailbox, newest first."""
    return list(
        db.session.scalars(
            select(Signature).where(Signature.email_normalized == normalized).order_by(Signature.created_at.desc())
        )
    )


def hide_names(normalized: str) -> int:
    """Stop showing this signer's name anywhere."""
    rows = [s for s in signatures_of(normalized) if s.show_name]
    for s in rows:
        s.show_name = False
    db.session.flush()
    return len(rows)


def delete_all(normalized: str, *, now: datetime) -> int:
    """Withdraw every signature of this mailbox; counted ones leave the counts.

    Invalidated and suspected ones keep their mailbox on record (see withdrawing.withdraw) and
    are listed so afterwards. A deleted signature's add in the public log is removed as erased:
    the row, its nonce and everything personal go; the opaque entry stays.
    """
    deleted = 0
    for s in signatures_of(normalized):
        if s.withdrawn_at is not None:  # withdrawn before; only its mailbox is kept (withdrawing.withdraw)
            continue
        try:
            withdrawing.withdraw(s, now=now, reason=removals.ERASED)
        except TokenInvalid:  # gone already (a second press of the button)
            continue
        deleted += 1
    return deleted
