"""A petition's figures for its campaigner: signatures over time, pending, comments, first and last dates.

The series are read from the hourly counters (one row per petition per hour with signatures),
so their cost grows with the hours a petition has lived, never with its signatures. Days and
hours are UTC. `render_bar_chart` draws a series as an SVG made on the server: readable without
JavaScript, with no style attribute (the CSP forbids them), named and described for screen readers.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from babel import numbers
from flask_babel import get_locale, gettext, ngettext
from markupsafe import Markup, escape
from sqlalchemy import func, select

from petitions.counting.counts import hour_of
from petitions.counting.rules import awaiting_confirmation, counted
from petitions.extensions import db
from petitions.extensions import lazy_text as _l
from petitions.infra import dates
from petitions.models import HourlyCount, Petition, Signature

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
RECENT_HOURS = 48
RECENT_COMMENTS = 20
ANONYMOUS = _l("A signer")
CHAR_WIDTH = 7.0  # about the width of one character of a chart label (12 units high), to keep labels apart


def format_decimal(n: int) -> str:
    """n as the page's language writes it (12,345; 12.345); English outside any app, where the messages are too."""
    return numbers.format_decimal(n, locale=get_locale() or "en")


@dataclass(frozen=True)
class Point:
    """One period (a UTC day or hour, by its start) and the signatures confirmed in it."""

    start: datetime
    count: int


@dataclass(frozen=True)
class Series:
    """Consecutive periods of one unit ("day" or "hour"), zero-filled."""

    unit: str
    points: tuple[Point, ...]

    @property
    def total(self) -> int:
        """All signatures in the series."""
        return sum(p.count for p in self.points)

    @property
    def peak(self) -> Point | None:
        """The first period with the most signatures, or None for an empty series."""
        return max(self.points, key=lambda p: p.count, default=None)

    def short(self, point: Point) -> str:
        """The period as written under the axis, in the page's language: Mar 1; Mar 1, 14:00."""
        locale = get_locale() or "en"
        if self.unit == "day":
            return dates.day_short(point.start, locale)
        return dates.moment(point.start, locale, short=True)

    def long(self, point: Point) -> str:
        """The period written in full (tooltips, tables, descriptions): March 1, 2025; Mar 1, 2025, 14:00 UTC."""
        locale = get_locale() or "en"
        if self.unit == "day":
            return dates.day(point.start, locale)
        return gettext("%(when)s UTC", when=dates.moment(point.start, locale))


def start_of_day(moment: datetime) -> datetime:
    """Midnight (UTC) of the moment's day."""
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _hours(
    petition_id: int, since: datetime | None = None, until: datetime | None = None
) -> list[tuple[datetime, int]]:
    stmt = select(HourlyCount.hour, HourlyCount.count).where(
        HourlyCount.petition_id == petition_id, HourlyCount.count > 0
    )
    if since is not None:
        stmt = stmt.where(HourlyCount.hour >= since)
    if until is not None:
        stmt = stmt.where(HourlyCount.hour <= until)
    return [(hour, n) for hour, n in db.session.execute(stmt.order_by(HourlyCount.hour))]


def life_end(petition: Petition, now: datetime) -> datetime:
    """When the petition stopped taking signatures, or now while it still takes them."""
    if petition.closed_at is not None:
        return min(petition.closed_at, now)
    if petition.closes_at is not None and petition.closes_at <= now:
        return petition.closes_at
    return now


def per_day(petition: Petition, *, now: datetime) -> Series:
    """Confirmed, valid signatures per UTC day over the petition's whole life, days without any as 0."""
    by_day: Counter[datetime] = Counter()
    rows = _hours(petition.id)
    for hour, n in rows:
        by_day[start_of_day(hour)] += n
    first = start_of_day(petition.opened_at or petition.created_at)
    last = start_of_day(life_end(petition, now))
    if rows:
        first = min(first, start_of_day(rows[0][0]))
        last = max(last, start_of_day(rows[-1][0]))
    last = max(first, last)
    days = (last - first) // DAY + 1
    return Series("day", tuple(Point(first + i * DAY, by_day.get(first + i * DAY, 0)) for i in range(days)))


def per_hour(petition: Petition, *, now: datetime, hours: int = RECENT_HOURS) -> Series:
    """Confirmed, valid signatures per hour in the last `hours` hours, the current one included, zero-filled."""
    last = hour_of(now)
    first = last - (hours - 1) * HOUR
    by_hour = dict(_hours(petition.id, since=first, until=last))
    return Series("hour", tuple(Point(first + i * HOUR, by_hour.get(first + i * HOUR, 0)) for i in range(hours)))


def pending_count(petition: Petition) -> int:
    """Signatures waiting for their signer to confirm (not invalidated)."""
    return db.session.execute(
        select(func.count())
        .select_from(Signature)
        .where(Signature.petition_id == petition.id, *awaiting_confirmation())
    ).scalar_one()


def pending_counts(*, owner_id: int) -> dict[int, int]:
    """Signatures waiting for their signer to confirm, per petition of this owner (petitions with none left out)."""
    rows = db.session.execute(
        select(Signature.petition_id, func.count())
        .join(Petition, Petition.id == Signature.petition_id)
        .where(Petition.owner_id == owner_id, *awaiting_confirmation())
        .group_by(Signature.petition_id)
    )
    return {petition_id: n for petition_id, n in rows}


@dataclass(frozen=True)
class Comment:
    """A comment as the campaigner may see it: the name only when the signer allowed it, never the email."""

    name: str
    text: str
    confirmed_at: datetime


def recent_comments(petition: Petition, *, limit: int = RECENT_COMMENTS) -> list[Comment]:
    """The latest comments of confirmed, valid signatures, newest first."""
    # Counted rows with a comment: the comment and the confirmation time are never NULL here.
    rows: Iterable[tuple[str, bool, str, datetime]] = db.session.execute(
        select(Signature.name, Signature.show_name, Signature.comment, Signature.confirmed_at)
        .where(
            Signature.petition_id == petition.id, *counted(), Signature.comment.is_not(None), Signature.comment != ""
        )
        .order_by(Signature.confirmed_at.desc(), Signature.id.desc())
        .limit(limit)
    )
    return [Comment(name if show else ANONYMOUS, text, at) for name, show, text, at in rows]


def confirmed_range(petition: Petition) -> tuple[datetime | None, datetime | None]:
    """The first and the last confirmation of a valid signature, in one MIN/MAX query over the index."""
    first, last = db.session.execute(
        select(func.min(Signature.confirmed_at), func.max(Signature.confirmed_at)).where(
            Signature.petition_id == petition.id, *counted()
        )
    ).one()
    return first, last


# --- the chart ---------------------------------------------------------------------------------


def _num(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _tick_indexes(labels: list[str], slot: float) -> list[int]:
    """Which periods get a label under the axis: the first, the last, and evenly spaced ones that do not touch."""
    n = len(labels)
    if n == 0:
        return []
    widest = max(len(label) for label in labels) * CHAR_WIDTH
    # 1.5 widths apart: the first and last labels may be pushed half a width inwards to stay on the chart.
    step = max(1, math.ceil((1.5 * widest + 8) / slot))
    ticks = list(range(0, n, step))
    if ticks[-1] != n - 1:
        if n > 1 and (n - 1 - ticks[-1]) * slot < 1.5 * widest + 8:
            ticks.pop()
        ticks.append(n - 1)
    return ticks


def describe(series: Series) -> str:
    """A sentence saying what the chart shows, for its <desc> and for anyone not seeing it."""
    points = series.points
    if not points:
        return gettext("No periods to show.")
    total, first, last = series.total, series.long(points[0]), series.long(points[-1])
    signatures = ngettext("%(n)s signature", "%(n)s signatures", total, n=format_decimal(total))
    periods = dict(n=format_decimal(len(points)), signatures=signatures, first=first, last=last)
    if series.unit == "day":
        text = ngettext(
            "%(signatures)s over %(n)s day, from %(first)s to %(last)s.",
            "%(signatures)s over %(n)s days, from %(first)s to %(last)s.",
            len(points),
            **periods,
        )
    else:
        text = ngettext(
            "%(signatures)s over %(n)s hour, from %(first)s to %(last)s.",
            "%(signatures)s over %(n)s hours, from %(first)s to %(last)s.",
            len(points),
            **periods,
        )
    peak = series.peak
    if peak is not None and peak.count > 0:
        most = dict(count=format_decimal(peak.count), when=series.long(peak))
        if series.unit == "day":
            text += " " + gettext("The most in one day: %(count)s, on %(when)s.", **most)
        else:
            text += " " + gettext("The most in one hour: %(count)s, on %(when)s.", **most)
    return text


def render_bar_chart(
    series: Series,
    *,
    chart_id: str,
    title: str,
    width: int = 720,
    height: int = 240,
    color: str = "#1d3557",
) -> Markup:
    """An SVG bar chart of the series: bars with tooltips, 0 and the highest value on the y axis, dates below.

    The <svg> is an image named by its <title> and described by its <desc>, which states the
    total and the highest period; pair it with a table of the numbers for the details.
    """
    points = series.points
    highest = series.peak
    peak = highest.count if highest is not None else 0
    # room on the left for the highest value, however many digits it has
    left, right, top, bottom = max(40, round(len(format_decimal(peak)) * CHAR_WIDTH) + 14), 12, 16, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    base = top + plot_h
    n = max(len(points), 1)
    slot = plot_w / n
    bar_w = max(slot * 0.8, min(slot, 1.0))
    cid = escape(chart_id)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" width="100%" '
        f'preserveAspectRatio="xMidYMid meet" role="img" aria-labelledby="{cid}-title {cid}-desc" id="{cid}">',
        f'<title id="{cid}-title">{escape(title)}</title>',
        f'<desc id="{cid}-desc">{escape(describe(series))}</desc>',
        # the highest value, with a faint guide line across the plot
        f'<line class="chart-grid" x1="{left}" y1="{top}" x2="{left + plot_w}" y2="{top}" stroke="#b1b4b6" '
        f'stroke-width="1" stroke-dasharray="4 4"/>',
        f'<text class="chart-label" x="{left - 8}" y="{top + 4}" text-anchor="end" font-size="12" fill="#3d3d3d">'
        f"{escape(format_decimal(peak))}</text>",
        f'<text class="chart-label" x="{left - 8}" y="{base + 4}" text-anchor="end" font-size="12" fill="#3d3d3d">'
        "0</text>",
    ]
    if peak:
        for i, point in enumerate(points):
            if point.count <= 0:
                continue
            h = max(point.count / peak * plot_h, 1.0)
            x = left + i * slot + (slot - bar_w) / 2
            tip = f"{series.long(point)}: {format_decimal(point.count)}"
            parts.append(
                f'<rect class="bar" x="{_num(x)}" y="{_num(base - h)}" width="{_num(bar_w)}" height="{_num(h)}" '
                f'fill="{escape(color)}"><title>{escape(tip)}</title></rect>'
            )
    parts.append(
        f'<line class="chart-axis" x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}"'
        ' stroke="#505a5f" stroke-width="1"/>'
    )
    parts.append(
        f'<line class="chart-axis" x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="#505a5f" stroke-width="1"/>'
    )
    labels = [series.short(p) for p in points]
    for i in _tick_indexes(labels, slot):
        tick = left + (i + 0.5) * slot
        half = len(labels[i]) * CHAR_WIDTH / 2
        x = min(max(tick, left + half), left + plot_w - half)  # kept inside the plot's width
        parts.append(
            f'<line x1="{_num(tick)}" y1="{base}" x2="{_num(tick)}" y2="{base + 4}" stroke="#505a5f" stroke-width="1"/>'
            f'<text class="chart-label" x="{_num(x)}" y="{base + 20}" text-anchor="middle" font-size="12" '
            f'fill="#3d3d3d">{escape(labels[i])}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every value above is escaped or a number)
