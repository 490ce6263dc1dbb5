"""The outbox worker: real SMTP, retries with capped backoff, nothing lost, nothing sent twice."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta
from email.utils import parseaddr

import pytest
from sqlalchemy import func, select

from petitions import worker
from petitions.clock import utcnow
from petitions.extensions import db
from petitions.infra import mail
from petitions.models import OutboxMessage
from petitions.signatures import signing
from tests.helpers import body_of, free_port, is_postgres, make_app, make_petition


def queue(n: int, to: str = "reader{i}@example.org") -> None:
    now = utcnow()
    for i in range(n):
        mail.queue_email(
            to.format(i=i),
            f"Message {i}",
            "already_signed",
            now=now,
            petition={"title": "T"},
            petition_url="http://localhost/p",
        )
    db.session.commit()


def test_queued_mail_is_sent_over_smtp_once(app, ctx, mailbox) -> None:
    queue(3)
    assert mail.drain() == (3, 0)
    assert sorted(m["To"] for m in mailbox.messages) == [f"reader{i}@example.org" for i in range(3)]
    assert all(m["Message-ID"].startswith("<outbox-") for m in mailbox.messages)
    assert mail.drain() == (0, 0)  # nothing is sent twice
    assert len(mailbox.messages) == 3
    sent = db.session.scalars(select(OutboxMessage)).all()
    assert all(m.sent_at is not None and m.claimed_by is None for m in sent)


def test_a_server_that_is_down_delays_mail_but_loses_none(app, ctx, mailbox) -> None:
    queue(2)
    app.config["MAIL_PORT"] = free_port()  # nobody listens there
    start = utcnow()
    assert mail.drain(clock=lambda: start) == (0, 2)
    rows = db.session.scalars(select(OutboxMessage)).all()
    assert all(r.attempts == 1 and r.sent_at is None and r.failed_at is None for r in rows)
    assert all("Connection" in r.last_error or "refused" in r.last_error for r in rows)
    assert all(r.next_attempt_at > start for r in rows)

    # Many failures later the delay is capped, so a recovered server is used within a minute.
    later = start
    for _ in range(12):
        later += timedelta(hours=1)
        mail.drain(clock=lambda: later)  # noqa: B023
    rows = db.session.scalars(select(OutboxMessage)).all()
    assert all(r.attempts == 13 for r in rows)
    assert all(r.next_attempt_at - later <= timedelta(seconds=app.config["MAIL_RETRY_MAX_DELAY"]) for r in rows)

    app.config["MAIL_PORT"] = app.extensions["test_smtp_port"]  # the server is back
    after = later + timedelta(seconds=61)
    assert mail.drain(clock=lambda: after) == (2, 0)
    assert len(mailbox.messages) == 2


def test_a_refused_recipient_is_kept_with_its_error_and_not_retried(app, ctx, mailbox) -> None:
    mailbox.refuse.add("reader0@example.org")
    queue(2)
    assert mail.drain() == (1, 1)
    failed = db.session.scalar(select(OutboxMessage).where(OutboxMessage.to_addr == "reader0@example.org"))
    assert failed.failed_at is not None and "550" in failed.last_error
    assert [m["To"] for m in mailbox.messages] == ["reader1@example.org"]
    assert mail.drain() == (0, 0)


def test_a_dead_workers_claim_is_taken_over(app, ctx, mailbox) -> None:
    queue(1)
    now = utcnow()
    assert mail.claim("dead-worker", now=now, limit=10)  # claimed, then the worker died
    assert mail.drain(clock=lambda: now) == (0, 0)  # a fresh claim is respected
    later = now + timedelta(seconds=app.config["MAIL_CLAIM_TIMEOUT"] + 1)
    assert mail.drain(clock=lambda: later) == (1, 0)
    assert len(mailbox.messages) == 1


def test_a_stale_claim_is_not_sent_by_its_old_worker(app, ctx, mailbox) -> None:
    now = utcnow()
    mail.queue_email(
        "r@example.org",
        "Hi",
        "already_signed",
        now=now,
        petition={"title": "T"},
        petition_url="http://localhost/p",
        withdraw_url="http://localhost/w",
    )
    db.session.commit()
    old = mail.claim("old-worker", now=now, limit=10)
    # the claim goes stale and another worker takes the message over
    db.session.execute(db.update(OutboxMessage).values(claimed_by="new-worker"))
    db.session.commit()
    assert mail.send_claimed(old, worker="old-worker") == (0, 0)
    assert mailbox.messages == []


def test_workers_running_at_once_never_send_a_message_twice(app, ctx, mailbox) -> None:
    queue(120)
    app.config["MAIL_BATCH_SIZE"] = 7
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with app.app_context():
                mail.drain()
                db.session.remove()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4 if is_postgres(app) else 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    ids = [m["Message-ID"] for m in mailbox.messages]
    assert len(ids) == 120 and len(set(ids)) == 120
    assert (
        db.session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None))) == 0
    )


def test_without_a_mail_server_messages_go_to_files(database_url, tmp_path, smtp_server) -> None:
    app = make_app(database_url, None, tmp_path)
    with app.app_context():
        queue(1)
        assert mail.drain() == (1, 0)
        (eml,) = (tmp_path / "instance" / "mail").glob("*.eml")
        assert b"reader0@example.org" in eml.read_bytes()
        db.engine.dispose()


def test_a_message_the_worker_cannot_render_is_retried_not_failed(app, ctx, mailbox) -> None:
    """A late-rendered message (see mail.rendered_late) that fails in this worker stays due, with its error."""
    now = utcnow()
    # A confirmation email queued without its signature: as a worker a version behind or ahead might see it.
    message_id = mail.queue_late_email(
        "sam@example.org",
        "Please confirm",
        "confirm_signature",
        {"name": "Sam", "title": "T", "digest": "0" * 16, "updates": False},
        now=now,
    )
    db.session.commit()
    assert mail.drain() == (0, 1)
    row = db.session.get(OutboxMessage, message_id)
    assert row.sent_at is None and row.failed_at is None and row.attempts == 1
    assert row.next_attempt_at > now and "cannot build the message" in row.last_error
    assert mailbox.messages == []


def _within_smtp_limits(raw: bytes) -> None:
    """No line longer than SMTP carries (998 octets), no RFC 2047 encoded word longer than 75 characters."""
    assert all(len(line) <= 998 for line in raw.split(b"\r\n")), max(map(len, raw.split(b"\r\n")))
    words = re.findall(rb"=\?[^?\s]+\?[qQbB]\?[^?\s]*\?=", raw)
    assert all(len(word) <= 75 for word in words), max(words, key=len)


@pytest.mark.parametrize("address", ["zoe@example.org", "zoë@example.org"])
def test_names_titles_and_addresses_in_any_script_arrive_as_written(app, ctx, mailbox, address) -> None:
    """A confirmation email with accents everywhere: in the sender's name, the signer's name, a long title, and
    (second case) the address itself, which goes over SMTPUTF8."""
    app.config["MAIL_DEFAULT_SENDER"] = "Pétitions Citoyennes <no-reply@example.org>"
    petition = make_petition(title="Gegen den Verkauf von Gesichtserkennung an Behörden, " + "jetzt und für immer " * 4)
    data = signing.SignatureData(name="Zoë Ångström-Müller", email=address, country="DE", updates=True)
    signing.sign(petition, data, now=utcnow(), ip=None)
    db.session.commit()
    assert mail.drain() == (1, 0)

    (sent,) = mailbox.messages
    assert sent["Subject"] == f"Please confirm your signature: {petition.title}"
    # (str, not .addresses: Python's address parser leaves raw UTF-8 undecoded, a mail program does not)
    assert parseaddr(str(sent["From"])) == ("Pétitions Citoyennes", "no-reply@example.org")
    assert sent["To"] == address
    text = body_of(sent)
    assert "Hello Zoë Ångström-Müller," in text and petition.title in text and "/verify/" in text
    html = sent.get_body(("html",)).get_content()
    assert "Zoë Ångström-Müller" in html and "/verify/" in html
    _within_smtp_limits(mailbox.raw[0])


@pytest.mark.parametrize("long_line", ["https://example.org/" + "x" * 1480, "Журнал " * 90], ids=["link", "cyrillic"])
def test_a_line_longer_than_smtp_carries_arrives_whole(app, ctx, mailbox, long_line) -> None:
    """An update whose text has a line longer than SMTP's 998 octets (a pasted link; a paragraph in Cyrillic: 630
    characters, 1,170 octets) and a long List-Unsubscribe header."""
    unsubscribe = "https://petitions.example/unsubscribe/" + "t" * 300
    mail.queue_email(
        "reader@example.org",
        "News",
        "update",
        now=utcnow(),
        headers={"List-Unsubscribe": f"<{unsubscribe}>"},
        update={"body": f"{long_line}\nZweite Zeile für alle."},
        petition={"title": "T"},
        body_html=f"<p>{long_line}</p>",
        unsubscribe_url=unsubscribe,
        petition_url="https://petitions.example/p",
    )
    db.session.commit()
    assert mail.drain() == (1, 0)

    (sent,) = mailbox.messages
    # lines end in CRLF on the wire
    assert f"{long_line}\nZweite Zeile für alle." in body_of(sent).replace("\r\n", "\n")
    assert f"<p>{long_line}</p>" in sent.get_body(("html",)).get_content()
    assert sent["List-Unsubscribe"] == f"<{unsubscribe}>"  # on one line, whole
    _within_smtp_limits(mailbox.raw[0])


def test_a_worker_sends_over_several_connections_at_once_each_message_once(app, ctx, mailbox) -> None:
    """A distant server takes a while to accept each message; on PostgreSQL the senders of one
    worker overlap their waits."""
    queue(24)
    app.config["MAIL_BATCH_SIZE"] = 3  # each sender claims 3 at a time, so all four get some
    mailbox.delay = 0.05
    assert mail.drain(senders=4) == (24, 0)
    ids = [m["Message-ID"] for m in mailbox.messages]
    assert len(ids) == 24 and len(set(ids)) == 24
    # SQLite lets one writer in at a time, so a worker there has one sender whatever it is asked.
    assert mailbox.most_at_once > 1 if is_postgres(app) else mailbox.most_at_once == 1
    assert (
        db.session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None))) == 0
    )
    assert mail.drain(senders=4) == (0, 0)


def test_one_sender_uses_one_connection(app, ctx, mailbox) -> None:
    queue(6)
    mailbox.delay = 0.01
    assert mail.drain(senders=1) == (6, 0)
    assert len(mailbox.sessions) == 1 and mailbox.most_at_once == 1


def test_the_running_worker_sends_over_its_senders_and_stops_with_them(app, ctx, mailbox) -> None:
    """`mail-worker` (run_forever) with MAIL_SENDERS threads: every message once, several at a time on
    PostgreSQL, and when told to stop, no sender thread is left running."""
    queue(12)
    postgres = is_postgres(app)
    app.config.update(MAIL_BATCH_SIZE=2, MAIL_POLL_INTERVAL=0.05, MAIL_SENDERS=3 if postgres else 1)
    mailbox.delay = 0.05
    stop = threading.Event()
    runner = threading.Thread(target=worker.run_forever, args=(app, stop))
    runner.start()
    deadline = time.monotonic() + 30  # a bound for a broken worker, not a measure of speed
    while len(mailbox.messages) < 12 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    runner.join(30)

    assert not runner.is_alive()
    assert not [t for t in threading.enumerate() if t.name.startswith("mail-sender-")]
    ids = [m["Message-ID"] for m in mailbox.messages]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert mailbox.most_at_once > 1 if postgres else mailbox.most_at_once == 1


def test_a_steady_stream_is_sent_promptly_in_a_few_full_batches(app, ctx, mailbox) -> None:
    """Messages queued one at a time, as signings come in, while `mail-worker` runs: each arrives
    within the poll interval of being queued (and a bound for a broken worker), and a sender that
    finds a part batch waits the interval before claiming again, so the stream goes out in a few
    batches, one SMTP connection each, not in a batch and a connection per message or two."""
    interval, n = 0.5, 60
    app.config.update(MAIL_BATCH_SIZE=50, MAIL_POLL_INTERVAL=interval, MAIL_SENDERS=1)
    stop = threading.Event()
    runner = threading.Thread(target=worker.run_forever, args=(app, stop))
    runner.start()
    queued: dict[str, float] = {}
    arrived: dict[str, float] = {}

    def look() -> None:
        with mailbox.lock:
            to = [m["To"] for m in mailbox.messages]
        for address in to:
            arrived.setdefault(address, time.monotonic())

    try:
        for i in range(n):  # about 2 s of a steady stream
            queue(1, to=f"stream{i}@example.org")
            queued[f"stream{i}@example.org"] = time.monotonic()
            look()
            time.sleep(0.03)
        deadline = time.monotonic() + 30  # a bound for a broken worker, not a measure of speed
        while len(arrived) < n and time.monotonic() < deadline:
            look()
            time.sleep(0.01)
    finally:
        stop.set()
        runner.join(30)

    ids = [m["Message-ID"] for m in mailbox.messages]
    assert len(ids) == n and len(set(ids)) == n
    assert max(arrived[a] - queued[a] for a in queued) < interval + 5.0
    assert len(mailbox.sessions) <= n // 6
