"""The outbox: queue email in the caller's transaction; claim, send and record each message, retrying failures."""

from __future__ import annotations

import logging
import os
import smtplib
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, insert, or_, select, update

from petitions.clock import utcnow
from petitions.extensions import current_app_object, db
from petitions.infra.database import AutocommitStatement, is_postgresql
from petitions.infra.mail import prepared
from petitions.infra.mail.message import build_message
from petitions.infra.mail.render import Unsendable, render, require_rendered_late
from petitions.infra.mail.transports import PermanentFailure, SMTPTransport, transport_for
from petitions.models import OutboxMessage

log = logging.getLogger(__name__)


def queue_email(
    to: str,
    subject: str,
    template: str,
    *,
    now: datetime,
    headers: dict[str, str] | None = None,
    locale: str | None = None,
    **context: Any,
) -> int:
    """Add a message to the outbox in the current transaction and return its id; it exists exactly when the cause does.

    The body comes from templates/email/<template>.txt and, when present, .html, in the
    recipient's language `locale` (render.email_language; the subject is the caller's, made
    with mail_text in the same language). The row is written with one INSERT at once (not
    through the unit of work).
    """
    text, html = render(template, context, locale=locale)
    row = {
        "to_addr": to,
        "subject": subject,
        "body_text": text,
        "body_html": html,
        "headers": headers or {},
        "created_at": now,
        "next_attempt_at": now,
        "attempts": 0,
    }
    return db.session.execute(_INSERT_MESSAGE, row).scalar_one()


@dataclass(frozen=True)
class LateEmail:
    """A message for queue_late_emails: what queue_late_email takes, but the time."""

    to: str
    subject: str
    template: str
    context: dict[str, Any]
    signature_id: int | None = None


_OUTBOX = OutboxMessage.__table__
_INSERT_MESSAGE = insert(_OUTBOX).returning(_OUTBOX.c.id)


def queue_late_email(
    to: str, subject: str, template: str, context: dict[str, Any], *, now: datetime, signature_id: int | None = None
) -> int:
    """queue_email() for a message the worker renders (see render.rendered_late); returns its id."""
    require_rendered_late(template)
    row = {
        "to_addr": to,
        "subject": subject,
        "body_text": None,
        "body_html": None,
        "template": template,
        "context": context,
        "headers": {},
        "created_at": now,
        "next_attempt_at": now,
        "attempts": 0,
        "signature_id": signature_id,
    }
    return db.session.execute(_INSERT_MESSAGE, row).scalar_one()


def queue_late_emails(messages: Sequence[LateEmail], *, now: datetime) -> None:
    """queue_late_email() for many messages at once (one statement), such as the receipts of a log's batch."""
    if not messages:
        return
    for message in {m.template for m in messages}:
        require_rendered_late(message)
    rows = [
        {
            "to_addr": m.to,
            "subject": m.subject,
            "body_text": None,
            "body_html": None,
            "template": m.template,
            "context": m.context,
            "headers": {},
            "created_at": now,
            "next_attempt_at": now,
            "attempts": 0,
            "signature_id": m.signature_id,
        }
        for m in messages
    ]
    db.session.execute(insert(_OUTBOX), rows)


# --- the worker's side ---------------------------------------------------------------------


def claim(worker_id: str, *, now: datetime, limit: int) -> list[int]:
    """Claim up to `limit` due messages for this worker and commit the claim.

    On PostgreSQL the rows are chosen with FOR UPDATE SKIP LOCKED, so workers running at once
    never claim the same row; SQLite lets one writer in at a time, which gives the same.
    A claim older than MAIL_CLAIM_TIMEOUT is a dead worker's and is taken over.
    """
    stale = now - timedelta(seconds=current_app.config["MAIL_CLAIM_TIMEOUT"])
    due = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.failed_at.is_(None),
            OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.claimed_at.is_(None), OutboxMessage.claimed_at < stale),
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(due.scalar_subquery()))
        .values(claimed_by=worker_id, claimed_at=now)
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    ids = sorted(db.session.execute(stmt).scalars())
    db.session.commit()
    return ids


def retry_delay(attempts: int, base: float, cap: float) -> float:
    """Exponential backoff after the given number of failed attempts, capped."""
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


# A message still claimed by this worker (and not sent meanwhile): the only one it may send or mark.
_MINE = (
    _OUTBOX.c.id == bindparam("message_id"),
    _OUTBOX.c.claimed_by == bindparam("worker"),
    _OUTBOX.c.sent_at.is_(None),
)
# Built once: the claims renewed and the rows read in one statement per batch, and each message,
# nearly always, marked sent.
_RENEW = (
    update(_OUTBOX)
    .where(
        _OUTBOX.c.id.in_(bindparam("ids", expanding=True)),
        _OUTBOX.c.claimed_by == bindparam("worker"),
        _OUTBOX.c.sent_at.is_(None),
    )
    .values(claimed_at=bindparam("now"))
    .returning(*_OUTBOX.c)
)
_MARK_SENT = update(_OUTBOX).where(*_MINE).values(claimed_by=None, claimed_at=None, sent_at=bindparam("now"))
_MARK_SENT_ALONE = AutocommitStatement(_MARK_SENT.returning(_OUTBOX.c.id))


def _renew(ids: Sequence[int], worker: str, now: datetime) -> list[Any]:
    """Renew this worker's claims on these messages and read them, as plain rows in id order; commit.

    A message another worker has taken over meanwhile (our claim went stale) is left out.
    Plain rows, read once: ORM objects would be expired by each message's commit and each read
    again, a round trip per message for nothing.
    """
    rows = sorted(db.session.execute(_RENEW, {"ids": list(ids), "worker": worker, "now": now}), key=lambda r: r.id)
    db.session.commit()
    return rows


def send_claimed(ids: Sequence[int], *, clock: Any = utcnow, worker: str | None = None) -> tuple[int, int]:
    """Send the messages this worker claimed; record each outcome at once. Returns (sent, failed).

    Claims are renewed for the whole batch in one statement, and again before the next message
    once half of MAIL_CLAIM_TIMEOUT has passed since: another worker takes a claim over only
    once it is MAIL_CLAIM_TIMEOUT old, so it never takes a message this one may still send.
    Each message sent is marked by one statement committed at once (by itself, on PostgreSQL):
    a sender killed at any moment re-sends at most the message in hand.
    """
    worker = worker or worker_id()
    app = current_app_object()
    cfg = app.config
    sender = cfg["MAIL_DEFAULT_SENDER"]
    envelope_from = parseaddr(sender)[1]
    domain = envelope_from.rpartition("@")[2] or "localhost"
    transport = transport_for(app)
    smtp = transport if isinstance(transport, SMTPTransport) else None
    renew_after = float(cfg["MAIL_CLAIM_TIMEOUT"]) / 2
    alone = is_postgresql()
    sent = failed = 0
    broken: str | None = None  # once the server is unreachable, the rest of the batch waits too
    pending = list(ids)
    try:
        while pending:
            rows, pending = _renew(pending, worker, clock()), []
            renewed = time.monotonic()
            for i, row in enumerate(rows):
                if broken is None and time.monotonic() - renewed > renew_after:
                    pending = [r.id for r in rows[i:]]  # renew the rest before sending any more
                    break
                now = clock()
                error: str | None = broken
                permanent = False
                if error is None:
                    try:
                        data = prepared.message_bytes(row, sender, domain) if smtp is not None else None
                        message = None if data is not None else build_message(row, sender, domain)
                    except Unsendable as exc:
                        # Its cause is gone (a receipt for a signature erased since): kept, not sent,
                        # with why, and counted neither as sent nor as failed.
                        log.info("Mail %s not sent: %s", row.id, exc)
                        values = {
                            "claimed_by": None,
                            "claimed_at": None,
                            "failed_at": now,
                            "last_error": f"not sent: {exc}",
                        }
                        db.session.execute(
                            update(_OUTBOX).where(*_MINE).values(**values), {"message_id": row.id, "worker": worker}
                        )
                        db.session.commit()
                        continue
                    except Exception as exc:
                        # A body rendered when queued that cannot be made into a message never will
                        # be: keep it, failed. One the worker renders (see rendered_late) may fail for
                        # a reason in this worker (a version behind, a setting missing): keep trying,
                        # with the same backoff and give-up time as a server that does not answer.
                        error = f"cannot build the message: {type(exc).__name__}: {exc}"
                        permanent = row.body_text is not None
                        log.exception("Mail %s: %s", row.id, error)
                        data = message = None
                    try:
                        if data is not None and smtp is not None:
                            smtp.send_bytes(envelope_from, row.to_addr, data)
                        elif message is not None:
                            transport.send(message)
                    except PermanentFailure as exc:
                        error, permanent = str(exc), True
                    except (OSError, smtplib.SMTPException) as exc:
                        error = f"{type(exc).__name__}: {exc}"
                        if isinstance(exc, OSError | smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
                            broken = error
                mine = {"message_id": row.id, "worker": worker}
                if error is None:
                    # One statement, committed at once: a sender killed now re-sends at most the message in hand.
                    if alone:
                        _MARK_SENT_ALONE.first({**mine, "now": now})
                    else:
                        db.session.execute(_MARK_SENT, {**mine, "now": now})
                        db.session.commit()
                    sent += 1
                    continue
                _record_failure(row, error, permanent=permanent, now=now, mine=mine)
                failed += 1
    finally:
        transport.close()
    return sent, failed


def _record_failure(row: Any, error: str, *, permanent: bool, now: datetime, mine: dict[str, Any]) -> None:
    """Record a failed attempt: retried after the backoff, or failed for good (refused, or too old); commit."""
    cfg = current_app.config
    outcome: dict[str, Any] = {"claimed_by": None, "claimed_at": None}
    attempts = row.attempts + 1
    outcome.update(attempts=_OUTBOX.c.attempts + 1, last_error=error[:2000])
    gave_up = (now - row.created_at).total_seconds() > cfg["MAIL_GIVE_UP_AFTER"]
    if permanent or gave_up:
        outcome["failed_at"] = now
        log.error("Mail %s to %s failed for good: %s", row.id, row.to_addr, error)
    else:
        delay = retry_delay(attempts, cfg["MAIL_RETRY_BASE_DELAY"], cfg["MAIL_RETRY_MAX_DELAY"])
        outcome["next_attempt_at"] = now + timedelta(seconds=delay)
        log.warning("Mail %s to %s failed (attempt %s), retry in %ss: %s", row.id, row.to_addr, attempts, delay, error)
    # Only while the claim is still ours: after a broken connection another worker may have taken it over.
    db.session.execute(update(_OUTBOX).where(*_MINE).values(**outcome), mine)
    db.session.commit()


def worker_id() -> str:
    """A name for this worker, unique across processes and machines."""
    # The host name is shortened, never the thread: each sender thread must have its own name.
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{threading.get_ident()}"[:64]
