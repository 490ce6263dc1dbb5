"""The background worker: appends to the public logs, queues update batches, sends the outbox, and keeps house."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

from petitions.campaigns import lifecycle, milestones, updates
from petitions.clock import utcnow
from petitions.extensions import db
from petitions.infra import mail
from petitions.moderation import abuse
from petitions.signatures import retention
from petitions.transparency import sequencer
from petitions.webhooks import delivery as webhooks

log = logging.getLogger(__name__)

HOUSEKEEPING_EVERY = 300  # seconds


def housekeeping(*, now: Any = None) -> dict[str, int]:
    """Close petitions past their closing date, drop signers' IP addresses past retention, forget old form stamps."""
    now = now or utcnow()
    closed = lifecycle.close_expired(now=now)
    dropped = retention.drop_ip_addresses(older_than_days=current_app.config["IP_RETENTION_DAYS"], now=now)
    stamps = abuse.purge_form_stamps(now=now)
    db.session.commit()
    return {"closed": closed, "ips_dropped": dropped, "stamps_forgotten": stamps}


def record_milestones(*, now: Any = None) -> int:
    """Record the milestones reached since the last run, with their emails; commit. Returns how many."""
    reached = milestones.record_reached(now=now or utcnow())
    db.session.commit()
    return len(reached)


def drain(*, clock: Any = utcnow) -> tuple[int, int]:
    """Put suspected signatures in their batches, record milestones, bring the public logs up to date,
    queue every pending update, then send everything due (the logs' receipts included). Returns (sent, failed)."""
    abuse.assign_suspected(now=clock())
    db.session.commit()
    record_milestones(now=clock())
    sequencer.log_changed(sequencer.sequence_all(now=clock()))
    updates.queue_all(now=clock())
    webhooks.drain(clock=clock)
    return mail.drain(clock=clock)


def run_forever(app: Flask, stop: threading.Event) -> None:
    """Work until `stop` is set, polling when idle; survives database and SMTP outages.

    This thread keeps house, queues update batches and sends; MAIL_SENDERS - 1 more threads
    only send, each over its own SMTP connection and database session; and one more appends
    what changed to the public logs every LOG_INTERVAL seconds, so a long batch of the log
    never holds the mail up.
    """
    last_housekeeping = 0.0

    def work() -> bool:
        nonlocal last_housekeeping
        if time.monotonic() - last_housekeeping > HOUSEKEEPING_EVERY:
            housekeeping()
            last_housekeeping = time.monotonic()
        held = abuse.assign_suspected(now=utcnow())
        queued = updates.queue_batch(now=utcnow())
        db.session.commit()
        reached = record_milestones()
        hooked = sum(webhooks.run_once())
        full = _sent_a_full_batch(*mail.run_once())
        return bool(queued or held or reached or hooked) or full

    helpers = [
        threading.Thread(target=_repeat, args=(app, stop, _send), name=f"mail-sender-{n}", daemon=True)
        for n in range(1, app.config["MAIL_SENDERS"])
    ]
    interval = float(app.config["LOG_INTERVAL"])
    helpers.append(
        threading.Thread(target=_repeat, args=(app, stop, _sequence, interval), name="log-sequencer", daemon=True)
    )
    for helper in helpers:
        helper.start()
    try:
        _repeat(app, stop, work)
    finally:
        for helper in helpers:  # each finishes the message or the log batch in hand and records it
            helper.join()


def _send() -> bool:
    return _sent_a_full_batch(*mail.run_once())


def _sent_a_full_batch(sent: int, failed: int) -> bool:
    """Whether the batch just sent was a full MAIL_BATCH_SIZE, so more is likely due at once.

    After a part batch the sender waits MAIL_POLL_INTERVAL before claiming again, rather than
    claiming the one or two messages queued meanwhile: under a steady stream of signings each
    claim then takes a second's worth, and the claim, the renewal and the SMTP connection are
    paid once per batch instead of nearly once per message, which is CPU the web needs then.
    A message waits at most the interval longer, as it does when the worker is idle.
    """
    return sent + failed >= int(current_app.config["MAIL_BATCH_SIZE"])


def _sequence() -> bool:
    sequencer.log_changed(sequencer.sequence_all())
    return False  # the next run waits the whole interval: each run makes a new checkpoint of every log it changes


def _repeat(app: Flask, stop: threading.Event, step: Callable[[], bool], interval: float | None = None) -> None:
    """Run `step` until `stop` is set, waiting `interval` (MAIL_POLL_INTERVAL) after a step that found nothing to do.

    A failing step is logged and tried again; nothing it raises ends the thread.
    """
    if interval is None:
        interval = app.config["MAIL_POLL_INTERVAL"]
    with app.app_context():
        while not stop.is_set():
            busy = False
            try:
                busy = step()
            except Exception:
                log.exception("Worker: a step failed; retrying shortly")
                with contextlib.suppress(Exception):
                    db.session.rollback()
            finally:
                with contextlib.suppress(Exception):
                    db.session.remove()
            if not busy:
                stop.wait(interval)


def start_in_thread(app: Flask) -> threading.Event:
    """Run the worker in a daemon thread of this process (development); set the event to stop it."""
    stop = threading.Event()
    threading.Thread(target=run_forever, args=(app, stop), name="worker", daemon=True).start()
    return stop
