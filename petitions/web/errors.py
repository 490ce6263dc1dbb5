"""Error pages: HTML for people, JSON for the API."""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, NotFound

from petitions.extensions import db
from petitions.web.security import bounded_form

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
    """A form sent without a valid CSRF token: the signing form comes back filled in, with the reason."""
    db.session.rollback()
    petition = None
    if request.endpoint == "public.sign" and request.view_args:
        from petitions.web.queries import visible_petition_or_404

        try:
            petition = visible_petition_or_404(request.view_args["slug"])
        except NotFound:
            petition = None
    if petition is not None:
        from petitions.web.public.forms import SignForm
        from petitions.web.public.routes import form_stamp, render_petition

        # not validated: it shows what was typed (cut to each field's maximum), with a fresh CSRF token
        form = SignForm()
        bounded_form(form)
        form.started.data = form_stamp(petition.id)
        form.form_errors.append(
            "This form expired or did not come from this site. Nothing was saved; please press Sign again."
        )
        return render_petition(petition, form, 400)
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
