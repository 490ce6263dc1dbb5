"""The outbox: queue email in the caller's transaction; a worker sends it with retries."""

from __future__ import annotations

import contextlib
import email.charset
import email.policy
import logging
import os
import re
import smtplib
import socket
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from flask import Flask, current_app
from jinja2 import TemplateNotFound
from sqlalchemy import bindparam, insert, or_, select, update

from petitions.clock import utcnow
from petitions.extensions import current_app_object, db
from petitions.infra.database import is_postgresql, rowcount
from petitions.models import OutboxMessage

if TYPE_CHECKING:
    from sqlalchemy import Row

log = logging.getLogger(__name__)


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL on BASE_URL, built without needing a request (the worker and CLI have none)."""
    adapter = current_app.url_map.bind("localhost")
    base: str = current_app.config["BASE_URL"]
    return base + adapter.build(endpoint, values)


def render(template: str, context: dict[str, Any]) -> tuple[str, str | None]:
    """(text, html or None) of templates/email/<template>.txt and, when present, .html."""
    context.setdefault("site_url", current_app.config["BASE_URL"])
    # Rendered by Jinja alone: an email has no business with the request's context processors
    # (the signed-in user, the CSRF token), and skipping them is a third of the rendering time.
    env = current_app.jinja_env
    text = env.get_template(f"email/{template}.txt").render(context)
    try:
        html: str | None = env.get_template(f"email/{template}.html").render(context)
    except TemplateNotFound:  # a message may be plain text only
        html = None
    return text, html


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


_OUTBOX = OutboxMessage.__table__
_INSERT_MESSAGE = insert(_OUTBOX).returning(_OUTBOX.c.id)

# Messages the worker renders when it sends them: template name -> a function of the outbox
# row that gives the template's context. Queuing one costs the request no templating and no
# signed links (a signing's confirmation email, the hottest message there is); its links are
# signed when sent, so they are valid for their whole lifetime from the moment they arrive.
# An outbox message as the worker reads it: the ORM object, or a plain row of its columns (see _CLAIMED).
OutboxRow: TypeAlias = "OutboxMessage | Row[Any]"
_LATE: dict[str, Callable[[OutboxRow], dict[str, Any]]] = {}


def rendered_late(
    template: str,
) -> Callable[[Callable[[OutboxRow], dict[str, Any]]], Callable[[OutboxRow], dict[str, Any]]]:
    """Register the function that makes the context of `template` messages queued with queue_late_email()."""

    def register(make_context: Callable[[OutboxRow], dict[str, Any]]) -> Callable[[OutboxRow], dict[str, Any]]:
        _LATE[template] = make_context
        return make_context

    return register


def queue_late_email(
    to: str, subject: str, template: str, context: dict[str, Any], *, now: datetime, signature_id: int | None = None
) -> int:
    """queue_email() for a message the worker renders (see rendered_late); returns its id."""
    if template not in _LATE:
        raise KeyError(f"no context function registered for the email template {template!r}")
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


def body_of(row: OutboxRow) -> tuple[str, str | None]:
    """(text, html) of an outbox message: as queued, or rendered now for one queued with queue_late_email()."""
    if row.body_text is not None:
        return row.body_text, row.body_html
    return render(row.template or "", _LATE[row.template or ""](row))


# --- the worker ----------------------------------------------------------------------------


class PermanentFailure(Exception):
    """The server refused the message for good (a 5xx answer): retrying will not help."""


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


# Headers up to RFC 5322's limit stay on one line: Python folds a long Subject right after
# "Subject:", which some readers then show with a leading space.
_POLICY = email.policy.default.clone(max_line_length=998)
# The same limit for messages built with the email package's classic classes (see build_message).
_POLICY_CLASSIC = email.policy.compat32.clone(max_line_length=998)
# A body goes as written (7bit or 8bit), readable in any mail source view; a body with a line
# longer than SMTP carries goes quoted-printable.
_UTF8 = email.charset.Charset("utf-8")
# typeshed declares body_encoding an int; None, no transfer encoding, is documented and works.
_UTF8.body_encoding = None  # type: ignore[assignment]
_UTF8_QP = email.charset.Charset("utf-8")
_UTF8_QP.body_encoding = email.charset.QP
_SMTP_LINE = 998


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def header_text(value: str) -> str:
    """A header value on one line: control characters (CR, LF, ...) become spaces, so no header can be injected."""
    return _CONTROL.sub(" ", value).strip()


def _classic_header(value: str) -> str:
    """A header value for the classic classes: as it is when ASCII, else RFC 2047 encoded words
    of at most 75 characters."""
    value = header_text(value)
    if value.isascii():
        return value
    return Header(value, "utf-8").encode(maxlinelen=75)


def _classic_address(value: str) -> str:
    """A From or To header: a display name that is not ASCII is encoded, the address itself is kept as it is."""
    value = header_text(value)
    if value.isascii():
        return value
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8")


def _text_part(body: str, subtype: str) -> MIMEText:
    # SMTP's limit is in octets, and only CR and LF end a line on the wire.
    charset = _UTF8_QP if any(len(line) > _SMTP_LINE for line in body.encode("utf-8").splitlines()) else _UTF8
    # typeshed allows only a charset's name; MIMEText passes a Charset on to set_payload, which takes one.
    return MIMEText(body, subtype, charset, policy=_POLICY_CLASSIC)  # type: ignore[arg-type]


def build_message(row: OutboxRow, sender: str, domain: str) -> Message:
    """The MIME message for an outbox row. Its Message-ID is stable across retries.

    Built with the email package's classic classes (MIMEText, Header), as Django builds its
    mail: EmailMessage parses every header it is given back through its header registry, which
    made building and sending a message two fifths of the mail worker's time. A message to or
    from an address that is not ASCII needs SMTPUTF8 and raw UTF-8 headers, which only
    EmailMessage writes; it is built with EmailMessage.
    """
    text, html = body_of(row)
    msg: Message
    if row.to_addr.isascii() and (sender.isascii() or parseaddr(sender)[1].isascii()):
        msg = _text_part(text, "plain")
        if html:
            msg = MIMEMultipart("alternative", _subparts=[msg, _text_part(html, "html")], policy=_POLICY_CLASSIC)
        address, value = _classic_address, _classic_header
    else:
        msg = EmailMessage(policy=_POLICY)
        msg.set_content(text)
        if html:
            msg.add_alternative(html, subtype="html")
        address = value = header_text  # EmailMessage encodes what needs it
    msg["From"] = address(sender)
    msg["To"] = address(row.to_addr)
    msg["Subject"] = value(row.subject)
    msg["Message-ID"] = f"<outbox-{row.id}.{int(row.created_at.timestamp())}@{domain}>"
    for name, text_value in (row.headers or {}).items():
        msg[header_text(name)] = value(text_value)
    return msg


class SMTPTransport:
    """Sends over one SMTP connection, opened on first use and closed at the end of a batch."""

    def __init__(self, config: dict[str, Any]) -> None:
        """Keep the settings; connect lazily."""
        self.config = config
        self.conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        cls = smtplib.SMTP_SSL if cfg["MAIL_USE_SSL"] else smtplib.SMTP
        conn = cls(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=cfg["MAIL_TIMEOUT"])
        if cfg["MAIL_USE_TLS"] and not cfg["MAIL_USE_SSL"]:
            conn.starttls()
        if cfg["MAIL_USERNAME"]:
            conn.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"] or "")
        return conn

    def send(self, msg: Message) -> None:
        """Send one message; raise PermanentFailure for a 5xx refusal, anything else is transient."""
        if self.conn is None:
            self.conn = self._connect()
        try:
            self.conn.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise PermanentFailure(f"recipient refused: {exc.recipients}") from exc
            raise
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500 and not isinstance(exc, smtplib.SMTPServerDisconnected):
                self.reset()
                raise PermanentFailure(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
            self.close()
            raise
        except (OSError, smtplib.SMTPException):
            self.close()
            raise

    def reset(self) -> None:
        """Leave the connection ready for the next message after a refused one."""
        if self.conn is not None:
            try:
                self.conn.rset()
            except (OSError, smtplib.SMTPException):
                self.close()

    def close(self) -> None:
        """Close the connection, ignoring a server that is already gone."""
        if self.conn is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.conn.quit()
            self.conn = None


class FileTransport:
    """Development delivery: write each message to instance/mail/ and to the log."""

    def __init__(self, folder: Path) -> None:
        """Deliver into this folder."""
        self.folder = folder

    def send(self, msg: Message) -> None:
        """Write the message as an .eml file and log its text."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = msg["Message-ID"].strip("<>").split("@")[0] + ".eml"
        raw = msg.as_bytes()
        (self.folder / name).write_bytes(raw)
        read = email.message_from_bytes(raw, policy=email.policy.default)  # as a mail program reads it: decoded
        body = read.get_body(("plain",))
        log.info(
            "Mail to %s: %s (%s)\n%s",
            read["To"],
            read["Subject"],
            self.folder / name,
            body.get_content() if body else "",
        )

    def close(self) -> None:
        """Nothing to close."""


def _transport(app: Flask) -> SMTPTransport | FileTransport:
    if app.config["MAIL_SERVER"]:
        return SMTPTransport(app.config)
    return FileTransport(Path(app.instance_path) / "mail")


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
    transport = _transport(app)
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


def run_once(*, clock: Any = utcnow) -> tuple[int, int]:
    """Claim and send one batch. Returns (sent, failed)."""
    me = worker_id()
    ids = claim(me, now=clock(), limit=current_app.config["MAIL_BATCH_SIZE"])
    if not ids:
        return 0, 0
    return send_claimed(ids, clock=clock, worker=me)


def drain(*, clock: Any = utcnow, senders: int | None = None) -> tuple[int, int]:
    """Send batches until nothing is due, over `senders` (MAIL_SENDERS) connections at once. Returns (sent, failed).

    Each sender is a thread with its own database session and SMTP connection, claiming its
    own batches: the claims (SKIP LOCKED) keep any two from sending the same message. On
    SQLite, where a sender holds the one write lock while it sends, there is one sender.
    """
    senders = senders or current_app.config["MAIL_SENDERS"]
    if senders == 1 or not is_postgresql():
        return _drain_alone(clock)
    app = current_app_object()
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            with app.app_context():
                try:
                    results.append(_drain_alone(clock))
                finally:
                    db.session.remove()
        except BaseException as exc:  # raised below, in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=send, name=f"mail-sender-{n}") for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return sum(sent for sent, _ in results), sum(failed for _, failed in results)


def _drain_alone(clock: Any) -> tuple[int, int]:
    total_sent = total_failed = 0
    while True:
        sent, failed = run_once(clock=clock)
        total_sent += sent
        total_failed += failed
        if sent == 0:
            return total_sent, total_failed
