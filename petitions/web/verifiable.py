"""What the pages say of a petition's public log: its latest checkpoint, and where anyone can verify it.

The widget, the badge, the delivery page and the verify page all show the same few facts: the
size and root of the latest signed checkpoint (the root shortened where space is short, whole
on hover and in print), and a link to the page that checks the log in the reader's browser.
Before a petition's first checkpoint they say the log is starting, never "0 entries".
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import segno
from flask import Flask, current_app
from flask_babel import format_decimal, ngettext
from markupsafe import Markup, escape
from sqlalchemy import select

from petitions.extensions import db
from petitions.infra.ttlcache import TTLCache
from petitions.models import Petition
from petitions.transparency import reading, receipts

# Characters of the base64 root shown where space is short: 96 bits, more than enough to compare by eye.
SHORT_ROOT = 16


@dataclass(frozen=True)
class LogStatus:
    """A petition's log as of its latest checkpoint, as the pages show it."""

    size: int
    count: int
    root: str  # base64, as in the checkpoint
    checkpoint: str  # the signed note, whole
    verify_url: str  # absolute: the widget and the printed page are read elsewhere

    @property
    def short_root(self) -> str:
        return self.root[:SHORT_ROOT]


def log_status(petition_id: int, slug: str) -> LogStatus | None:
    """The latest checkpoint of the petition's log, or None while the log is starting (no checkpoint yet)."""
    head = reading.head(petition_id)
    if head is None or head.checkpoint is None:
        return None
    root = base64.b64encode(head.root).decode("ascii")
    return LogStatus(head.size, head.count, root, head.checkpoint, receipts.verify_url(slug))


def log_interval() -> str:
    """LOG_INTERVAL as people read it: "10 seconds", "2.5 seconds", "1 second"."""
    seconds = float(current_app.config["LOG_INTERVAL"])
    # The plural rules take whole numbers; a fraction of a second reads as plural in English.
    count = int(seconds) if seconds.is_integer() else 2
    return ngettext("%(n)s second", "%(n)s seconds", count, n=format_decimal(seconds))


def _status_cache(app: Flask) -> TTLCache[LogStatus | None]:
    """This process's log statuses by slug, kept as long as the count documents (infra/live.count_cache)."""
    cache: TTLCache[LogStatus | None] | None = app.extensions.get("log_status_cache")
    if cache is None:
        from petitions.config import cache_budget

        cache = app.extensions.setdefault("log_status_cache", TTLCache(cache_budget(app.config)[0] / 2))
    return cache


def _load_status(slug: str) -> LogStatus | None:
    petition_id = db.session.scalar(select(Petition.id).where(Petition.slug == slug))
    return None if petition_id is None else log_status(petition_id, slug)


def cached_log_status(slug: str) -> LogStatus | None:
    """log_status by slug, read at most once per count TTL per process: the badge is what viral readers fetch."""
    return _status_cache(current_app).get(slug, _load_status)


def qr_svg(url: str, label: str) -> Markup:
    """A QR code of `url` as inline SVG (black modules on the page's white), named `label` for screen readers."""
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", xmldecl=False, svgns=True, scale=4, border=4, svgclass="qr")
    svg = out.getvalue().decode("ascii").replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1)
    return Markup(svg)  # noqa: S704 (segno writes only numbers and path data; the label is escaped)
