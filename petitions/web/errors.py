"""Error pages: HTML for people, JSON for the API."""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from petitions.extensions import db

log = logging.getLogger(__name__)


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def handle_http(exc: HTTPException) -> ResponseReturnValue:
    """Render an HTTP error as a page, or as {"error": ...} under /api/."""
    code = exc.code or 500
    if code == 429:
        text = "Too many attempts from your connection. Please wait a few minutes and try again."
        if _wants_json():
            response = jsonify(error=text)
        else:
            response = current_app.make_response(
                render_template("errors/error.html", code=429, name="Too many attempts", description=text)
            )
        response.status_code = 429
        retry_after = getattr(exc, "retry_after", None)  # set on werkzeug's TooManyRequests, when known
        if retry_after:
            response.headers["Retry-After"] = str(retry_after)
        return response
    name, description = exc.name, exc.description
    if code == 413:
        name, description = "Too large", too_large_message()
    if _wants_json():
        return jsonify(error=description or name), code
    return render_template("errors/error.html", code=code, name=name, description=description), code


def too_large_message() -> str:
    """What a 413 says: the limit, and that nothing was kept."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    size = f"{limit / (1024 * 1024):g} MB" if limit >= 1024 * 1024 else f"{max(1, limit // 1024)} kB"
    return (
        f"What you sent is larger than this site accepts (at most {size}), so nothing was saved. "
        "Please shorten it and try again."
    )


def handle_csrf(exc: CSRFError) -> ResponseReturnValue:
    """A form sent without a valid CSRF token: nothing was saved, and the page says why.

    The public blueprint answers its signing form itself (the petition's page, filled in), and
    hands every other form back to this page.
    """
    db.session.rollback()
    return render_template(
        "errors/error.html",
        code=400,
        name="The form has expired",
        description="The form expired or did not come from this site, so nothing was saved. "
        "Please go back, reload the page and try again.",
    ), 400


def handle_unexpected(exc: Exception) -> ResponseReturnValue:
    """Anything unforeseen: log it, roll back, answer 500 (or 503 when the database is down)."""
    from sqlalchemy.exc import OperationalError

    db.session.rollback()
    if isinstance(exc, OperationalError):
        log.error("Database unavailable: %s", exc)
        code, name, text = (
            503,
            "Service unavailable",
            "The site is busy or under maintenance. Please try again in a moment.",
        )
    else:
        log.exception("Unhandled error")
        code, name, text = 500, InternalServerError().name, "Something went wrong on our side. Nothing was saved."
    if _wants_json():
        return jsonify(error=text), code
    # A page that needs nothing from the database, which may be what failed.
    return render_template("errors/unavailable.html", name=name, description=text), code


def init_app(app: Flask) -> None:
    """Register the handlers."""
    app.register_error_handler(CSRFError, handle_csrf)
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(Exception, handle_unexpected)
