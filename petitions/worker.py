"""The background worker: queues update batches, sends the outbox, and keeps house."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask, current_app

from . import campaigns, mail, retention, updates
from .clock import utcnow
from .extensions import db

log = logging.getLogger(__name__)

HOUSEKEEPING_EVERY = 300  # seconds


def housekeeping(*, now: Any = None) -> dict[str, int]:
    """Close petitions past their closing date and drop signers' IP addresses past retention."""
    now = now or utcnow()
    closed = campaigns.close_expired(now=now)
    dropped = retention.drop_ip_addresses(older_than_days=current_app.config["IP_RETENTION_DAYS"], now=now)
    db.session.commit()
    return {"closed": closed, "ips_dropped": dropped}


def drain(*, clock: Any = utcnow) -> tuple[int, int]:
    """Queue every pending update, then send everything due. Returns (sent, failed)."""
    updates.queue_all(now=clock())
    return mail.drain(clock=clock)


def run_forever(app: Flask, stop: threading.Event) -> None:
    """Work until `stop` is set, polling when idle; survives database and SMTP outages.

    This thread keeps house, queues update batches and sends; MAIL_SENDERS - 1 more threads
    only send, each over its own SMTP connection.
    """
    senders = [
        threading.Thread(target=_send_forever, args=(app, stop), name=f"mail-sender-{n}", daemon=True)
        for n in range(1, app.config["MAIL_SENDERS"])
    ]
    for sender in senders:
        sender.start()
    interval = app.config["MAIL_POLL_INTERVAL"]
    last_housekeeping = 0.0
    with app.app_context():
        while not stop.is_set():
            busy = False
            try:
                if time.monotonic() - last_housekeeping > HOUSEKEEPING_EVERY:
                    housekeeping()
                    last_housekeeping = time.monotonic()
                queued = updates.queue_batch(now=utcnow())
                db.session.commit()
                sent, failed = mail.run_once()
                busy = bool(queued) or sent + failed > 0
            except Exception:
                log.exception("Worker: a step failed; retrying shortly")
                db.session.rollback()
            finally:
                db.session.remove()
            if not busy:
                stop.wait(interval)
    for sender in senders:  # each finishes the batch in hand
        sender.join()


def _send_forever(app: Flask, stop: threading.Event) -> None:
    """One more sender: claim and send batches until `stop` is set."""
    interval = app.config["MAIL_POLL_INTERVAL"]
    with app.app_context():
        while not stop.is_set():
            busy = False
            try:
                sent, failed = mail.run_once()
                busy = sent + failed > 0
            except Exception:
                log.exception("Worker: sending failed; retrying shortly")
                db.session.rollback()
            finally:
                db.session.remove()
            if not busy:
                stop.wait(interval)


def start_in_thread(app: Flask) -> threading.Event:
    """Run the worker in a daemon thread of this process (development); set the event to stop it."""
    stop = threading.Event()
    threading.Thread(target=run_forever, args=(app, stop), name="worker", daemon=True).start()
    return stop
