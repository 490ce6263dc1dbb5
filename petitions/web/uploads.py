"""Views that take a file: their own size limit, and the folder the files go to.

MAX_CONTENT_LENGTH keeps every other request small. A view that takes an upload names the setting
of its own limit with `accepts_upload`; the request reads it before anything parses the body (the
CSRF check and the NUL-byte guard read the form before the view runs), so a file over that limit is
refused unread with a page that says so (errors.too_large_message), and one under it is read.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import current_app, request

from petitions.config import upload_dir

# Room in an upload's body for the form's other fields and the multipart boundaries.
FORM_ALLOWANCE = 64 * 1024


def accepts_upload(setting: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a view whose body may hold a file of up to `current_app.config[setting]` bytes."""

    def mark(view: Callable[..., Any]) -> Callable[..., Any]:
        # A flag on the function itself, read back by upload_setting (as security.frameable does).
        view.upload_limit = setting  # type: ignore[attr-defined]
        return view

    return mark


def upload_setting(endpoint: str | None = None) -> str | None:
    """The setting naming the upload limit of the endpoint (the current request's by default), or None
    for a view that takes no file."""
    if endpoint is None:
        endpoint = request.endpoint
    view = current_app.view_functions.get(endpoint) if endpoint else None
    setting: str | None = getattr(view, "upload_limit", None)
    return setting


def body_limit(endpoint: str | None) -> int | None:
    """The most bytes a request's body may have: its view's upload limit with room for the form, or
    MAX_CONTENT_LENGTH."""
    setting = upload_setting(endpoint) if endpoint else None
    if setting is None:
        limit: int | None = current_app.config["MAX_CONTENT_LENGTH"]
        return limit
    return int(current_app.config[setting]) + FORM_ALLOWANCE


def upload_folder() -> Path:
    """Where uploaded files are kept: UPLOAD_DIR, else the folder "uploads" of the instance folder."""
    return upload_dir(current_app)
