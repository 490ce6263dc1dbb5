"""The embeddable chart of a petition's signatures over time, drawn here as SVG from its history.

The page reads without script: the chart, a sentence that says what it shows, and the
milestones as text. With script (static/embed/chart.js) it follows the count's live stream and,
when the count moves, fetches this same page again and swaps the chart in, so the drawing is
made in one place only. Frameable by any site, no cookie, cacheable like the widget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app, render_template
from flask_babel import gettext, ngettext
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from petitions.campaigns import history as histories
from petitions.clock import utcnow
from petitions.infra.mail import external_url
from petitions.models import Petition
from petitions.web.http import cacheable
from petitions.web.i18n import day, thousands
from petitions.web.press import bp
from petitions.web.press.snippets import chart_code
from petitions.web.queries import public_petition_or_404
from petitions.web.security import frameable

# The drawing's own units; the page scales it to the frame's width.
WIDTH, HEIGHT = 600, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 14, 30
# A history longer than this many hours is drawn by day: a few hundred points at most.
HOURLY_UP_TO = 72
# Units between two milestones' labels, so that they never print over each other.
LABEL_GAP = 56

bp.add_app_template_global(chart_code, "chart_code")


@dataclass(frozen=True)
class Chart:
    """What the page shows: the SVG, and the same in words."""

    svg: Markup
    summary: str
    milestones: list[str]


def nice_ceiling(n: int) -> int:
    """The smallest of 1, 2, 5 times a power of ten that is at least n (and at least 10)."""
    if n <= 10:
        return 10
    power: int = 10 ** int(math.log10(n))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= n)


def _hour_up(moment: datetime) -> datetime:
    """The end of moment's hour, so that the drawing of an open petition changes once an hour, not every request."""
    return moment.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def cumulative(found: histories.History) -> list[tuple[datetime, int]]:
    """(end of period, signatures so far), by hour for a short history, by day for a long one."""
    if not found.hourly:
        return []
    if (found.hourly[-1][0] - found.hourly[0][0]) <= timedelta(hours=HOURLY_UP_TO):
        periods = [(hour + timedelta(hours=1), n) for hour, n in found.hourly]
    else:
        periods = [(datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(days=1), n) for d, n in found.daily]
    points, total = [], 0
    for end, n in periods:
        total += n
        points.append((end, total))
    return points


def draw(petition: Petition, found: histories.History, now: datetime) -> Chart:
    """The chart of a petition's history: cumulative signatures over time, milestones marked."""
    points = cumulative(found)
    total = points[-1][1] if points else 0
    opened = petition.opened_at or petition.created_at
    start = min(opened, found.hourly[0][0]) if found.hourly else opened
    if petition.effective_status(now) == "open":
        end = _hour_up(now)
    else:
        end = max([p for p, _ in points] + [petition.closed_at or petition.closes_at or _hour_up(now)])
    end = max(end, start + timedelta(hours=1))
    top = nice_ceiling(total)
    span = (end - start).total_seconds()
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: datetime) -> float:
        return round(LEFT + plot_w * (t - start).total_seconds() / span, 1)

    def y(n: int) -> float:
        return round(TOP + plot_h * (1 - n / top), 1)

    line = [f"M{x(start)} {y(0)}"]
    for t, n in points:
        line.append(f"L{x(t)} {y(n)}")
    line.append(f"L{x(end)} {y(total)}")
    d = "".join(line)
    title = gettext("%(title)s: signatures over time", title=petition.title)
    summary = ngettext(
        "%(count)s signature from %(start)s to %(end)s.",
        "%(count)s signatures from %(start)s to %(end)s.",
        total,
        count=thousands(total),
        start=day(start),
        end=day(min(end, now)),
    )
    marks: list[str] = []
    words: list[str] = []
    labelled: list[float] = []
    # The latest (largest) first: a label too close to one already placed is left out, its dot kept.
    for threshold, at, goal in reversed(found.milestones):
        if goal:
            words.insert(0, gettext("%(num)s (the goal) on %(day)s", num=thousands(threshold), day=day(at)))
        else:
            words.insert(0, gettext("%(num)s on %(day)s", num=thousands(threshold), day=day(at)))
        cx, cy = x(min(max(at, start), end)), y(min(threshold, top))
        text = ""
        if all(abs(cx - other) >= LABEL_GAP for other in labelled):
            labelled.append(cx)
            text = f'<text x="{cx - 6}" y="{max(cy - 8, TOP + 8)}" text-anchor="end">{thousands(threshold)}</text>'
        marks.insert(
            0,
            f'<g class="milestone"><line x1="{cx}" y1="{y(0)}" x2="{cx}" y2="{cy}"/>'
            f'<circle cx="{cx}" cy="{cy}" r="4"/>{text}</g>',
        )
    desc = summary + (" " + gettext("Milestones: %(list)s.", list=", ".join(words)) if words else "")
    grid = "".join(
        f'<line class="grid" x1="{LEFT}" y1="{y(n)}" x2="{WIDTH - RIGHT}" y2="{y(n)}"/>'
        f'<text x="{LEFT - 6}" y="{y(n) + 4}" text-anchor="end">{thousands(n)}</text>'
        for n in (0, top // 2, top)
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title chart-desc" class="chart">'
        f'<title id="chart-title">{escape(title)}</title><desc id="chart-desc">{escape(desc)}</desc>'
        f"{grid}"
        f'<path class="area" d="{d}L{x(end)} {y(0)}Z"/><path class="line" d="{d}"/>'
        f"{''.join(marks)}"
        f'<text x="{LEFT}" y="{HEIGHT - 8}">{day(start)}</text>'
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end">{day(min(end, now))}</text>'
        "</svg>"
    )
    return Chart(Markup(svg), summary, words)  # noqa: S704 (every text in it escaped above)


@bp.get("/embed/<slug>/chart")
@frameable
def chart(slug: str) -> Response:
    """Cumulative signatures over time for an <iframe>: drawn by the server, live with script, no cookies."""
    petition = public_petition_or_404(slug)
    now = utcnow()
    html = render_template(
        "press/chart.html",
        petition=petition,
        chart=draw(petition, histories.history(petition.id), now),
        petition_url=external_url("public.petition", slug=petition.slug),
        status=petition.effective_status(now),
    )
    return cacheable(current_app.response_class(html, mimetype="text/html"))
