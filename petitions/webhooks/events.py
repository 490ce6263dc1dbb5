"""Webhook events: each written once, with a delivery for every endpoint that wants it.

The three types (CONTRACT.md, "Webhooks"):
- `milestone`: the count reached a threshold or the goal (campaigns/milestones.py);
- `petition.closed`: the petition stopped taking signatures, closed by its campaigner or at its
  closing date (campaigns/lifecycle.py);
- `petition.responded`: the petition's target answered it, posted by its campaigner or an
  administrator (campaigns/responses.py).

An event's `key` names its cause ("milestone:12:1000"): the unique constraint on it makes a
cause announced twice one event, and the unique (event, endpoint) pair one delivery each.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from petitions.clock import iso
from petitions.extensions import db
from petitions.infra.database import is_postgresql
from petitions.infra.mail import external_url
from petitions.models import Petition, PetitionResponse, WebhookDelivery, WebhookEndpoint, WebhookEvent

MILESTONE = "milestone"
CLOSED = "petition.closed"
RESPONDED = "petition.responded"

_EVENTS = WebhookEvent.__table__


def petition_data(petition: Petition, now: datetime) -> dict[str, Any]:
    """What every event says of its petition."""
    return {
        "slug": petition.slug,
        "title": petition.title,
        "url": external_url("public.petition", slug=petition.slug),
        "status": petition.effective_status(now),
        "outcome": petition.outcome,
        "signature_count": petition.signature_count,
        "goal": petition.goal,
    }


def emit(type_: str, key: str, petition: Petition, data: dict[str, Any], *, now: datetime) -> bool:
    """Write the event and its deliveries in the caller's transaction; False when `key` was emitted before.

    The body every endpoint receives is {"type", "timestamp", "data": {"petition": {...}, ...}}
    (the Standard Webhooks shape).
    """
    payload = {"type": type_, "timestamp": iso(now), "data": {"petition": petition_data(petition, now), **data}}
    insert = pg_insert if is_postgresql() else sqlite_insert
    stmt = (
        insert(_EVENTS)
        .values(
            message_id="msg_" + secrets.token_urlsafe(18),
            key=key[:200],
            type=type_,
            petition_id=petition.id,
            payload=payload,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[_EVENTS.c.key])
        .returning(_EVENTS.c.id)
    )
    event_id = db.session.execute(stmt).scalar()
    if event_id is None:
        return False
    rows = db.session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.events).where(
            WebhookEndpoint.enabled.is_(True),
            or_(WebhookEndpoint.petition_id == petition.id, WebhookEndpoint.petition_id.is_(None)),
        )
    ).all()
    for endpoint_id, events in rows:
        if type_ in events.split(","):
            db.session.add(
                WebhookDelivery(
                    event_id=event_id, endpoint_id=endpoint_id, created_at=now, next_attempt_at=now, attempts=0
                )
            )
    db.session.flush()
    return True


def milestone(petition: Petition, threshold: int, is_goal: bool, count: int, *, now: datetime) -> bool:
    """The `milestone` event: data {"petition", "threshold", "goal": bool, "signature_count"}."""
    return emit(
        MILESTONE,
        f"milestone:{petition.id}:{threshold}",
        petition,
        {"threshold": threshold, "goal": is_goal, "signature_count": count},
        now=now,
    )


def closed(petition: Petition, *, now: datetime) -> bool:
    """The `petition.closed` event: data {"petition", "closed_at"}; one per closing."""
    closed_at = petition.closed_at or now
    return emit(CLOSED, f"closed:{petition.id}:{iso(closed_at)}", petition, {"closed_at": iso(closed_at)}, now=now)


def responded(petition: Petition, response: PetitionResponse, *, now: datetime) -> bool:
    """The `petition.responded` event: data {"petition", "response": {"text", "responded_at", "won"}}, one per
    response; `text` is the Markdown as posted, `responded_at` the day the target answered (YYYY-MM-DD)."""
    return emit(
        RESPONDED,
        f"responded:{petition.id}:{response.id}",
        petition,
        {"response": {"text": response.text, "responded_at": response.responded_on.isoformat(), "won": response.won}},
        now=now,
    )
