"""Delivering webhooks: the worker claims due deliveries, signs and POSTs each, and records the outcome.

Standard Webhooks: the body is the event's JSON; `webhook-id` is the event's message id (the
same on every retry, so a receiver can drop a repeat), `webhook-timestamp` the Unix seconds of
this attempt, and `webhook-signature` "v1," and the base64 HMAC-SHA256, keyed by the
endpoint's secret, of "<id>.<timestamp>.<body>".

Claims work as the mail outbox's do (FOR UPDATE SKIP LOCKED, committed; a stale claim is taken
over), and each outcome is committed on its own, so several workers never send one delivery
at once. A 2xx answer delivers; anything else is retried with backoff until
WEBHOOK_MAX_ATTEMPTS; WEBHOOK_DISABLE_AFTER failures in a row disable the endpoint and email
its owner. Redirects are not followed: they could lead anywhere, a private address included.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
from base64 import b64encode
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import or_, select, update

from petitions.clock import utcnow
from petitions.extensions import db
from petitions.infra.mail import external_url, mail_text, queue_email
from petitions.infra.mail.outbox import retry_delay, worker_id
from petitions.models import Petition, User, WebhookDelivery, WebhookEndpoint, WebhookEvent
from petitions.webhooks.endpoints import is_public, key_of

log = logging.getLogger(__name__)
BATCH = 20


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header's value."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + b64encode(hmac.new(key_of(secret), signed, hashlib.sha256).digest()).decode()


class RefusedAddress(OSError):
    """The endpoint's host led to an address webhooks may not reach."""


def _checked(conn: http.client.HTTPConnection, allow_private: bool) -> None:
    """Connect, then refuse a peer that is not public: the address really connected to, whatever DNS said before."""
    conn.connect()
    peer = conn.sock.getpeername()[0] if conn.sock is not None else ""
    if not allow_private and not is_public(peer):
        conn.close()
        raise RefusedAddress(f"{peer} is not a public address")


def post(url: str, headers: dict[str, str], body: bytes, *, timeout: float, allow_private: bool) -> int:
    """POST the body; the HTTP status. Raises OSError (RefusedAddress included) when no answer came."""
    parts = urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(parts.hostname or "", parts.port, timeout=timeout)
    try:
        _checked(conn, allow_private)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(65536)
        return response.status
    finally:
        conn.close()


def claim(worker: str, *, now: datetime, limit: int = BATCH) -> list[int]:
    """Claim up to `limit` due deliveries of enabled endpoints for this worker, and commit the claim."""
    stale = now - timedelta(seconds=current_app.config["MAIL_CLAIM_TIMEOUT"])
    due = (
        select(WebhookDelivery.id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.delivered_at.is_(None),
            WebhookDelivery.failed_at.is_(None),
            WebhookDelivery.next_attempt_at <= now,
            WebhookEndpoint.enabled.is_(True),
            or_(WebhookDelivery.claimed_at.is_(None), WebhookDelivery.claimed_at < stale),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(of=WebhookDelivery, skip_locked=True)
    )
    ids = sorted(
        db.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(due.scalar_subquery()))
            .values(claimed_by=worker, claimed_at=now)
            .returning(WebhookDelivery.id)
            .execution_options(synchronize_session=False)
        ).scalars()
    )
    db.session.commit()
    return ids


def run_once(*, clock: Any = utcnow) -> tuple[int, int]:
    """Claim and send one batch of due deliveries. Returns (delivered, failed)."""
    worker = worker_id()
    delivered = failed = 0
    for delivery_id in claim(worker, now=clock()):
        if _send(delivery_id, worker, clock()):
            delivered += 1
        else:
            failed += 1
    return delivered, failed


def drain(*, clock: Any = utcnow) -> tuple[int, int]:
    """run_once until nothing is due (tests, `worker --once`)."""
    total = (0, 0)
    while True:
        done = run_once(clock=clock)
        if done == (0, 0):
            return total
        total = (total[0] + done[0], total[1] + done[1])


def _send(delivery_id: int, worker: str, now: datetime) -> bool:
    # Renewing the claim locks the row until the outcome is committed (as the mail outbox does).
    mine = (
        WebhookDelivery.id == delivery_id,
        WebhookDelivery.claimed_by == worker,
        WebhookDelivery.delivered_at.is_(None),
    )
    renewed = db.session.execute(
        update(WebhookDelivery).where(*mine).values(claimed_at=now).returning(WebhookDelivery.id)
    ).first()
    if renewed is None:
        db.session.commit()
        return False
    delivery = db.session.get_one(WebhookDelivery, delivery_id)
    endpoint = db.session.get_one(WebhookEndpoint, delivery.endpoint_id)
    event = db.session.get_one(WebhookEvent, delivery.event_id)
    cfg = current_app.config
    body = json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Petitions-Webhooks/1",
        "webhook-id": event.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(endpoint.secret, event.message_id, timestamp, body),
    }
    error: str | None = None
    try:
        status = post(
            endpoint.url,
            headers,
            body,
            timeout=cfg["WEBHOOK_TIMEOUT"],
            allow_private=cfg["WEBHOOK_ALLOW_PRIVATE"],
        )
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except (OSError, http.client.HTTPException) as exc:
        error = f"{type(exc).__name__}: {exc}"
    delivery.claimed_by, delivery.claimed_at = None, None
    delivery.attempts += 1
    if error is None:
        delivery.delivered_at = now
        endpoint.failures = 0
    else:
        delivery.last_error = error[:2000]
        endpoint.failures += 1
        if delivery.attempts >= cfg["WEBHOOK_MAX_ATTEMPTS"]:
            delivery.failed_at = now
        else:
            delay = retry_delay(delivery.attempts, cfg["WEBHOOK_RETRY_BASE_DELAY"], cfg["WEBHOOK_RETRY_MAX_DELAY"])
            delivery.next_attempt_at = now + timedelta(seconds=delay)
        log.warning("Webhook %s to %s failed (attempt %s): %s", delivery.id, endpoint.url, delivery.attempts, error)
        if endpoint.enabled and endpoint.failures >= cfg["WEBHOOK_DISABLE_AFTER"]:
            _disable(endpoint, error, now=now)
    db.session.commit()
    return error is None


def _disable(endpoint: WebhookEndpoint, error: str, *, now: datetime) -> None:
    """Turn the endpoint off and tell whoever registered it (the admins, when nobody did any more)."""
    endpoint.enabled = False
    endpoint.disabled_at = now
    petition = db.session.get(Petition, endpoint.petition_id) if endpoint.petition_id is not None else None
    owner = db.session.get(User, endpoint.owner_id) if endpoint.owner_id is not None else None
    people = [owner] if owner is not None else list(db.session.scalars(select(User).where(User.is_admin.is_(True))))
    manage = (
        external_url("campaign.webhooks", slug=petition.slug)
        if petition is not None
        else external_url("admin.webhooks")
    )
    for person in people:
        queue_email(
            person.email,
            mail_text("A webhook endpoint was turned off after repeated failures", person.locale),
            "webhook_disabled",
            now=now,
            locale=person.locale,
            user=person,
            url=endpoint.url,
            failures=endpoint.failures,
            error=error,
            petition=petition,
            manage_url=manage,
        )
