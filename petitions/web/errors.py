"""Error pages: HTML for people, JSON for the API."""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from petitions.extensions import N_, db
from petitions.extensions import lazy_text as _l
from petitions.web.uploads import upload_setting

log = logging.getLogger(__name__)

# Werkzeug's own words for the errors a person may meet, marked so that an error page is read in the
# page's language (handle_http translates them; the API answers in English). The descriptions we
# give abort() are marked with N_ and translated by handle_http the same way.
_WERKZEUG_WORDS = (
    _l("Bad Request"),
    _l("The browser (or proxy) sent a request that this server could not understand."),
    _l("Forbidden"),
    _l(
        "You don't have the permission to access the requested resource. It is either read-protected or not"
        " readable by the server."
    ),
    _l("Not Found"),
    _l(
        "The requested URL was not found on the server. If you entered the URL manually please check your"
        " spelling and try again."
    ),
    _l("Method Not Allowed"),
    _l("The method is not allowed for the requested URL."),
    _l("Conflict"),
    _l(
        "A conflict happened while processing the request. The resource might have been modified while the"
        " request was being processed."
    ),
    _l("Gone"),
    _l(
        "The requested URL is no longer available on this server and there is no forwarding address. If you"
        " followed a link from a foreign page, please contact the author of this page."
    ),
    _l("Internal Server Error"),
)


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
                render_template(
                    "errors/error.html",
                    code=429,
                    name=_("Too many attempts"),
                    description=_("Too many attempts from your connection. Please wait a few minutes and try again."),
                )
            )
        response.status_code = 429
        retry_after = getattr(exc, "retry_after", None)  # set on werkzeug's TooManyRequests, when known
        if retry_after:
            response.headers["Retry-After"] = str(retry_after)
        return response
    name, description = exc.name, exc.description
    if code == 413:
        name, description = _("Too large"), too_large_message()
        # The body is never read: the page's own forms (the header's sign-out button) see an empty one
        # instead of asking Werkzeug to parse it again, which would raise this error once more.
        empty = request.parameter_storage_class()
        request.__dict__.update(form=empty, files=empty)
    if _wants_json():
        return jsonify(error=description or name), code
    # Werkzeug's words (_WERKZEUG_WORDS) in the page's language; ours come translated already.
    name, description = _(name), _(description) if description else description
    return render_template("errors/error.html", code=code, name=name, description=description), code


def too_large_message() -> str:
    """What a 413 says: the limit, and that nothing was kept."""
    setting = upload_setting()
    limit = (current_app.config[setting] if setting else current_app.config.get("MAX_CONTENT_LENGTH")) or 0
    size = f"{limit / (1024 * 1024):g} MB" if limit >= 1024 * 1024 else f"{max(1, limit // 1024)} kB"
    if setting:
        return _(
            "The file you sent is larger than this page accepts (at most %(size)s), so nothing was saved."
            " Please choose a smaller file, or make this one smaller, and try again.",
            size=size,
        )
    return _(
        "What you sent is larger than this site accepts (at most %(size)s), so nothing was saved."
        " Please shorten it and try again.",
        size=size,
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
        name=_("The form has expired"),
        description=_(
            "The form expired or did not come from this site, so nothing was saved."
            " Please go back, reload the page and try again."
        ),
    ), 400


def handle_unexpected(exc: Exception) -> ResponseReturnValue:
    """Anything unforeseen: log it, roll back, answer 500 (or 503 when the database is down)."""
    from sqlalchemy.exc import OperationalError

    db.session.rollback()
    if isinstance(exc, OperationalError):
        log.error("Database unavailable: %s", exc)
        code, name, text = (
            503,
            N_("Service unavailable"),
            N_("The site is busy or under maintenance. Please try again in a moment."),
        )
    else:
        log.exception("Unhandled error")
        code, name, text = 500, InternalServerError().name, N_("Something went wrong on our side. Nothing was saved.")
    if _wants_json():
        return jsonify(error=text), code
    name, text = _(name), _(text)
    # A page that needs nothing from the database, which may be what failed.
    return render_template("errors/unavailable.html", name=name, description=text), code


def init_app(app: Flask) -> None:
    """Register the handlers."""
    app.register_error_handler(CSRFError, handle_csrf)
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(Exception, handle_unexpected)
