"""What the pages say of a petition's public log: its latest checkpoint, and where anyone can verify it.

The widget, the badge, the delivery page and the verify page all show the same few facts: the
size and root of the latest signed checkpoint (the root shortened where space is short, whole
on hover and in print), and a link to the page that checks the log in the reader's browser.
Before a petition's first checkpoint they say the log is starting, never "0 entries".
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from flask import current_app

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
    text = f"{seconds:g}"
    return f"{text} second" if seconds == 1 else f"{text} seconds"
