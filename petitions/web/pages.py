"""What the views of several blueprints share: rate limits on their POSTs, and pages reached by a secret link."""

from __future__ import annotations

from flask import current_app, render_template
from flask_limiter import RouteLimit
from werkzeug.wrappers import Response

from petitions.extensions import db, limiter


def limit(setting: str) -> RouteLimit:
    """A rate limit on the POSTs of a view, read from the setting at request time."""
    return limiter.limit(lambda: current_app.config[setting], methods=["POST"], scope=setting)


def private(body: str, status: int) -> Response:
    """A page whose URL holds a secret: never cached, never sent on as a Referer."""
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def link_error(kind: str, reason: str, status: int) -> Response:
    """An emailed account link (`kind` email or reset) that no longer works, and why; nothing is kept."""
    db.session.rollback()
    return private(render_template("errors/link_error.html", kind=kind, reason=reason), status)
