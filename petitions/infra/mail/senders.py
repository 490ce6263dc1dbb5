"""The sending loop: claim and send batches until nothing is due, over MAIL_SENDERS connections at once."""

from __future__ import annotations

import threading
from typing import Any

from flask import current_app

from petitions.clock import utcnow
from petitions.extensions import current_app_object, db
from petitions.infra.database import is_postgresql
from petitions.infra.mail.outbox import claim, send_claimed, worker_id


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
