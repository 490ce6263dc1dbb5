"""The outbox: queue email in the caller's transaction; claim, send and record each message, retrying failures."""

from __future__ import annotations

import logging
import os
import smtplib
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, insert, or_, select, update

from petitions.clock import utcnow
from petitions.extensions import current_app_object, db
from petitions.infra.database import rowcount
from petitions.infra.mail.message import build_message
from petitions.infra.mail.render import Unsendable, render, require_rendered_late
from petitions.infra.mail.transports import PermanentFailure, transport_for
from petitions.models import OutboxMessage

log = logging.getLogger(__name__)


def queue_email(
    to: str,
    subject: str,
    template: str,
    *,
    now: datetime,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> int:
    """Add a message to the outbox in the current transaction and return its id; it exists exactly when the cause does.

    The body comes from templates/email/<template>.txt and, when present, .html. The row is
    written with one INSERT at once (not through the unit of work).
    """
    text, html = render(template, context)
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


def _still_mine(message_id: int, worker: str, now: datetime) -> bool:
    """Renew this worker's claim on a message just before sending it; False when another worker has it now.

    The UPDATE also locks the row until the outcome is committed, so a worker taking over stale
    claims (with SKIP LOCKED) passes it by meanwhile.
    """
    return rowcount(db.session.execute(_RENEW, {"message_id": message_id, "worker": worker, "now": now})) == 1


# A message still claimed by this worker (and not sent meanwhile): the only one it may send or mark.
_MINE = (
    _OUTBOX.c.id == bindparam("message_id"),
    _OUTBOX.c.claimed_by == bindparam("worker"),
    _OUTBOX.c.sent_at.is_(None),
)
# Built once: each message renews its claim and, nearly always, is marked sent.
_RENEW = update(_OUTBOX).where(*_MINE).values(claimed_at=bindparam("now"))
_MARK_SENT = update(_OUTBOX).where(*_MINE).values(claimed_by=None, claimed_at=None, sent_at=bindparam("now"))


def send_claimed(ids: Sequence[int], *, clock: Any = utcnow, worker: str | None = None) -> tuple[int, int]:
    """Send the messages this worker claimed; record each outcome at once. Returns (sent, failed)."""
    worker = worker or worker_id()
    app = current_app_object()
    cfg = app.config
    sender = cfg["MAIL_DEFAULT_SENDER"]
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    transport = transport_for(app)
    sent = failed = 0
    broken: str | None = None  # once the server is unreachable, the rest of the batch waits too
    # Plain rows, read once: ORM objects would be expired by each message's commit and each
    # read again, a round trip per message for nothing.
    rows = db.session.execute(_CLAIMED, {"ids": list(ids)}).all()
    try:
        for row in rows:
            now = clock()
            error: str | None = broken
            permanent = False
            if error is None and not _still_mine(row.id, worker, now):
                db.session.commit()
                continue  # our claim went stale and another worker took the message over
            if error is None:
                try:
                    message = build_message(row, sender, domain)
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
                    message = None
                try:
                    if message is not None:
                        transport.send(message)
                except PermanentFailure as exc:
                    error, permanent = str(exc), True
                except (OSError, smtplib.SMTPException) as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    if isinstance(exc, OSError | smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
                        broken = error
            mine = {"message_id": row.id, "worker": worker}
            if error is None:
                db.session.execute(_MARK_SENT, {**mine, "now": now})
                sent += 1
            else:
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
                    log.warning(
                        "Mail %s to %s failed (attempt %s), retry in %ss: %s",
                        row.id,
                        row.to_addr,
                        attempts,
                        delay,
                        error,
                    )
                failed += 1
                # Only while the claim is still ours: after a broken connection the claim was not
                # renewed, and another worker may have taken the message over meanwhile.
                db.session.execute(update(_OUTBOX).where(*_MINE).values(**outcome), mine)
            # One commit per message: a sender killed now re-sends at most the message in hand.
            db.session.commit()
    finally:
        transport.close()
    return sent, failed


_CLAIMED = select(_OUTBOX).where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True))).order_by(_OUTBOX.c.id)


def worker_id() -> str:
    """A name for this worker, unique across processes and machines."""
    # The host name is shortened, never the thread: each sender thread must have its own name.
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{threading.get_ident()}"[:64]
