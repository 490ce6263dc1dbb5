"""The audit log: every administrator action, written in the transaction of the action itself."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from petitions.extensions import db
from petitions.models import AuditEntry, User


def record(
    actor: User,
    action: str,
    target_type: str,
    target_id: int | None,
    *,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    now: datetime,
) -> AuditEntry:
    """Add an entry (who, what, on what, when, why) to the caller's transaction; it commits or
    rolls back with the action."""
    entry = AuditEntry(
        actor_id=actor.id,
        actor_email=actor.email,
        action=action,
        target_type=target_type,
        target_id=target_id,
        reason=(reason or "").strip()[:500] or None,
        details=details or {},
        created_at=now,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def entries(*, target_type: str | None = None, target_id: int | None = None) -> Select:
    """A query for the log, newest first, optionally about one target."""
    stmt = select(AuditEntry)
    if target_type is not None:
        stmt = stmt.where(AuditEntry.target_type == target_type)
    if target_id is not None:
        stmt = stmt.where(AuditEntry.target_id == target_id)
    return stmt.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
