"""A petition's signing history as open data: new counted signatures per UTC hour and per UTC day.

Read from the hourly counters (`petition_hourly_counts`), which counting/counts.apply moves
in the same transaction as every change to what counts: a confirmation adds one to the hour
it was confirmed in; an invalidation, a withdrawal or an erasure takes one from the hour that
signature was confirmed in, and a reversed invalidation puts it back there. So every period
holds the signatures confirmed in it that still count today, no period is ever negative, and
the periods add up to `signature_count` at every commit. The cost grows with the hours that
had signatures, never with the signatures.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import bindparam, select

from petitions.clock import iso
from petitions.extensions import db
from petitions.models import HourlyCount, Milestone

# Built once: every history request runs it. Hours without signatures are left out.
_HOURS = (
    select(HourlyCount.hour, HourlyCount.count)
    .where(HourlyCount.petition_id == bindparam("pid"), HourlyCount.count > 0)
    .order_by(HourlyCount.hour)
)
_MILESTONES = (
    select(Milestone.threshold, Milestone.reached_at, Milestone.is_goal)
    .where(Milestone.petition_id == bindparam("pid"))
    .order_by(Milestone.reached_at, Milestone.threshold)
)


@dataclass(frozen=True)
class History:
    """The hours and the days (UTC) that had counted signatures, oldest first."""

    hourly: tuple[tuple[datetime, int], ...]
    daily: tuple[tuple[date, int], ...]
    # (threshold, reached at, was it the goal) of each milestone, in the order reached.
    milestones: tuple[tuple[int, datetime, bool], ...] = ()

    @property
    def total(self) -> int:
        """Every period added up: the petition's count when read."""
        return sum(n for _, n in self.hourly)


def history(petition_id: int) -> History:
    """A petition's history, read from its hourly counters, and its milestones."""
    hourly = tuple((hour, n) for hour, n in db.session.execute(_HOURS, {"pid": petition_id}))
    days: Counter[date] = Counter()
    for hour, n in hourly:
        days[hour.date()] += n
    reached = tuple(
        (threshold, at, bool(goal)) for threshold, at, goal in db.session.execute(_MILESTONES, {"pid": petition_id})
    )
    return History(hourly, tuple(sorted(days.items())), reached)


def as_json(slug: str, found: History) -> dict[str, object]:
    """The history document of CONTRACT.md."""
    return {
        "slug": slug,
        "hourly": [{"hour": iso(hour), "signatures": n} for hour, n in found.hourly],
        "daily": [{"day": day.isoformat(), "signatures": n} for day, n in found.daily],
        "milestones": [
            {"threshold": threshold, "reached_at": iso(at), "goal": goal} for threshold, at, goal in found.milestones
        ],
    }


def as_csv(found: History, *, by_day: bool = False) -> str:
    """The history as CSV: `hour,signatures` (ISO UTC), or `day,signatures` when by_day."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if by_day:
        writer.writerow(("day", "signatures"))
        writer.writerows((day.isoformat(), n) for day, n in found.daily)
    else:
        writer.writerow(("hour", "signatures"))
        writer.writerows((iso(hour), n) for hour, n in found.hourly)
    return out.getvalue()
