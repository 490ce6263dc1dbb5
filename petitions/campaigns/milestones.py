"""Milestones: 100, 1,000, 10,000, 100,000, 1,000,000 signatures and the goal, each recorded once.

The worker records them (record_reached), not the confirmation: on PostgreSQL a confirmation
is one statement that holds the hot counter rows' locks until it commits, and a check there
would lengthen every one of them for the sake of six moments in a petition's life. The worker
reads the committed counts instead, every MAIL_POLL_INTERVAL seconds, so a milestone is
noticed whatever moved the count (a confirmation, a reversed invalidation, a recount).

Exactly once, however many confirmations commit at once and however many workers run: a row
is written by INSERT ... ON CONFLICT DO NOTHING against the unique constraint on
(petition_id, threshold), and only the rows that statement returns are announced. The
campaigner's email and the webhook events are written in that same transaction, so they
exist exactly when the milestone does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import format_decimal
from sqlalchemy import Integer, and_, exists, literal, select, union_all, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from petitions.extensions import db
from petitions.infra.database import is_postgresql
from petitions.infra.mail import external_url, mail_text, queue_email
from petitions.infra.mail.render import email_language
from petitions.models import Milestone, Petition, User
from petitions.webhooks import events

STEPS = (100, 1_000, 10_000, 100_000, 1_000_000)
# The petitions that can have milestones: any that takes or took confirmations. The status
# list leads the index ix_petitions_status_count, so the search reads only petitions with at
# least STEPS[0] signatures or past their goal, whatever the size of the table.
_COUNTED_STATUSES = ("open", "closed", "hidden")
_MILESTONES = Milestone.__table__


@dataclass(frozen=True, order=True)
class Reached:
    """A milestone just recorded."""

    petition_id: int
    threshold: int
    is_goal: bool
    count: int


def next_goal(goal: int, count: int) -> int:
    """The next round goal above both the goal and the count: 1, 2 or 5 times a power of ten."""
    floor = max(goal, count)
    power = 1
    while True:
        for step in (1, 2, 5):
            if step * power > floor:
                return step * power
        power *= 10


def _missing() -> list[tuple[int, int, bool, int]]:
    """(petition id, threshold, is the goal, count) of every threshold reached and not recorded."""
    p = Petition.__table__
    parts = []
    for step in STEPS:
        already = exists().where(_MILESTONES.c.petition_id == p.c.id, _MILESTONES.c.threshold == step)
        parts.append(
            select(
                p.c.id,
                literal(step, Integer).label("threshold"),
                (p.c.goal == step).label("is_goal"),
                p.c.signature_count,
            ).where(p.c.status.in_(_COUNTED_STATUSES), p.c.signature_count >= step, ~already)
        )
    goal_recorded = exists().where(_MILESTONES.c.petition_id == p.c.id, _MILESTONES.c.threshold == p.c.goal)
    parts.append(
        select(p.c.id, p.c.goal.label("threshold"), literal(True).label("is_goal"), p.c.signature_count).where(
            p.c.status.in_(_COUNTED_STATUSES),
            p.c.signature_count >= p.c.goal,
            p.c.goal.not_in(STEPS),
            ~goal_recorded,
        )
    )
    rows: list[Any] = list(db.session.execute(union_all(*parts)))
    return sorted((row[0], row[1], bool(row[2]), row[3]) for row in rows)


def record_reached(*, now: datetime) -> list[Reached]:
    """Record every milestone reached since the last run, email each campaigner, emit the webhook
    events, and raise the goals their campaigners asked to be raised.

    The caller commits. Returns what was recorded by this call (nothing that another worker
    recorded first).
    """
    found = _missing()
    if not found:
        return []
    insert = pg_insert if is_postgresql() else sqlite_insert
    stmt = (
        insert(_MILESTONES)
        .values(
            [
                {"petition_id": pid, "threshold": threshold, "is_goal": is_goal, "reached_at": now, "count": count}
                for pid, threshold, is_goal, count in found
            ]
        )
        .on_conflict_do_nothing(index_elements=[_MILESTONES.c.petition_id, _MILESTONES.c.threshold])
        .returning(_MILESTONES.c.petition_id, _MILESTONES.c.threshold, _MILESTONES.c.is_goal, _MILESTONES.c.count)
    )
    returned: list[Any] = list(db.session.execute(stmt))
    reached = sorted(Reached(row[0], row[1], bool(row[2]), row[3]) for row in returned)
    for milestone in reached:
        petition = db.session.get_one(Petition, milestone.petition_id)
        raised = None
        if milestone.is_goal and petition.auto_raise_goal and petition.goal == milestone.threshold:
            raised = next_goal(petition.goal, petition.signature_count)
            db.session.execute(
                update(Petition)
                .where(and_(Petition.id == petition.id, Petition.goal == milestone.threshold))
                .values(goal=raised, updated_at=now)
                .execution_options(synchronize_session="fetch")
            )
        _email(petition, milestone, raised, now=now)
        events.milestone(petition, milestone.threshold, milestone.is_goal, milestone.count, now=now)
    db.session.flush()
    return reached


def _email(petition: Petition, milestone: Reached, raised: int | None, *, now: datetime) -> None:
    owner = db.session.get(User, petition.owner_id) if petition.owner_id is not None else None
    if owner is None or owner.email_confirmed_at is None:
        return  # the account was deleted, or its address never confirmed: nobody to tell
    with email_language(owner.locale):  # the campaigner's language: their account setting, else DEFAULT_LOCALE
        number = format_decimal(milestone.threshold)
    subject = (
        mail_text("Your petition reached its goal of %(num)s signatures", owner.locale, num=number)
        if milestone.is_goal
        else mail_text("Your petition reached %(num)s signatures", owner.locale, num=number)
    )
    queue_email(
        owner.email,
        subject[:255],
        "milestone",
        now=now,
        locale=owner.locale,
        user=owner,
        petition=petition,
        threshold=milestone.threshold,
        is_goal=milestone.is_goal,
        raised_goal=raised,
        petition_url=external_url("public.petition", slug=petition.slug),
        dashboard_url=external_url("campaign.dashboard", slug=petition.slug),
    )


def of_petition(petition_id: int) -> list[Milestone]:
    """A petition's milestones, in the order they were reached."""
    return list(
        db.session.scalars(
            select(Milestone)
            .where(Milestone.petition_id == petition_id)
            .order_by(Milestone.reached_at, Milestone.threshold)
        )
    )
