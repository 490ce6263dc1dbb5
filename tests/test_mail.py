"""The outbox worker: real SMTP, retries with capped backoff, nothing lost, nothing sent twice."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from petitions import mail
from petitions.clock import utcnow
from petitions.extensions import db
from petitions.models import OutboxMessage

from .conftest import free_port, is_postgres, make_app


def queue(n: int, to: str = "reader{i}@example.org") -> None:
    now = utcnow()
    for i in range(n):
        mail.queue_email(to.format(i=i), f"Message {i}", "already_signed", now=now,
                         petition={"title": "T"}, petition_url="http://localhost/p")
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
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None))) == 0


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
    message_id = mail.queue_late_email("sam@example.org", "Please confirm", "confirm_signature",
                                       {"name": "Sam", "title": "T", "digest": "0" * 16, "updates": False}, now=now)
    db.session.commit()
    assert mail.drain() == (0, 1)
    row = db.session.get(OutboxMessage, message_id)
    assert row.sent_at is None and row.failed_at is None and row.attempts == 1
    assert row.next_attempt_at > now and "cannot build the message" in row.last_error
    assert mailbox.messages == []
