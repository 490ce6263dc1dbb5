"""Security headers on every response (views opt out of frame denial one by one), and the session cookie."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flask import Flask, abort, current_app, request, session
from werkzeug.wrappers import Response
from wtforms import Field, Form
from wtforms.validators import Length

from petitions.extensions import N_

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


FRAMEABLE_CSP = CSP.replace("frame-ancestors 'none'", "frame-ancestors *")


def frameable(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view whose pages other sites may put in an iframe (embeds)."""
    # A flag on the function itself, read back with getattr (set_headers): functions take attributes.
    view.frameable = True  # type: ignore[attr-defined]
    return view


_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("X-Frame-Options", "DENY"),
)
_FRAMEABLE_HEADERS = (("Content-Security-Policy", FRAMEABLE_CSP),) + _HEADERS[1:3]
_HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def set_headers(response: Response) -> Response:
    """Add the security headers a page needs unless it set its own.

    On every response, the count endpoint's included: one pass over the headers already set
    (werkzeug's setdefault raises and catches a KeyError for each missing one).
    """
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    wanted: tuple[tuple[str, str], ...] = _FRAMEABLE_HEADERS if getattr(view, "frameable", False) else _HEADERS
    if request.is_secure:
        wanted += (_HSTS,)
    present = {name.lower() for name, _ in response.headers}
    response.headers.extend([(name, value) for name, value in wanted if name.lower() not in present])
    return response


PRIVATE_CACHING = "private, no-store"


def private_by_default(response: Response) -> Response:
    """No cache keeps a response that depends on the visitor's session.

    A page that read the session (who is signed in, or a CSRF token for its forms) is that
    visitor's alone: "private, no-store", so a CDN's "cache everything" rule cannot hand
    one person's account page, or their form token, to the next. Responses the view made
    public on purpose (the count, the badge, the widget; see http.cacheable) keep their
    caching, and SessionInterface gives them no cookie; one already "no-store" is kept as is.
    """
    chosen = response.headers.get("Cache-Control", "")
    if "public" in chosen or "no-store" in chosen:  # the view's own choice: shared on purpose, or kept nowhere
        return response
    if session.modified or getattr(session, "read", True):  # a session of another kind: assume it was read
        response.headers["Cache-Control"] = PRIVATE_CACHING
    return response


def refuse_nul_bytes() -> None:
    """No text we store may hold a NUL byte (PostgreSQL refuses them): refuse such a request at the door."""
    if "\x00" in request.path or (request.query_string and any("\x00" in v for v in request.args.values())):
        abort(400, description=N_("The address contains a character that is not allowed."))
    if request.method == "POST" and any("\x00" in v for v in request.form.values()):
        abort(400, description=N_("The form contains a character that is not allowed. Nothing was saved."))


# Characters of a field with no maximum of its own (a hidden stamp, the honeypot) shown again.
ECHO_DEFAULT_MAX = 200


def echo_limit(field: Field) -> int:
    """The most of a field's value a page shows again: its Length maximum, else ECHO_DEFAULT_MAX."""
    validators: Sequence[object] = field.validators  # any callables; only Length ones are looked at
    limits = [v.max for v in validators if isinstance(v, Length) and v.max is not None and v.max >= 0]
    return min(limits) if limits else ECHO_DEFAULT_MAX


def bounded(field: Field) -> Field:
    """The field, its submitted value cut to echo_limit, ready to be shown again.

    A form with errors comes back filled in; a value longer than its field allows (a
    megabyte in a name, a bot's honeypot) is not sent back in full. Widgets show `data`,
    or `raw_data` for numbers and dates, so both are cut.
    """
    limit = echo_limit(field)
    if isinstance(field.data, str) and len(field.data) > limit:
        field.data = field.data[:limit]
    if field.raw_data:
        field.raw_data = [v[:limit] if isinstance(v, str) else v for v in field.raw_data]
    return field


def bounded_form(form: Form) -> Form:
    """Every field of the form cut as bounded() does."""
    for field in form:
        bounded(field)
    return form


def init_app(app: Flask) -> None:
    """Register the header hook, the input guard, and `bounded` for the form templates."""
    from petitions.web.http import Request, SessionInterface

    app.request_class = Request
    app.session_interface = SessionInterface()
    app.before_request(refuse_nul_bytes)
    app.after_request(set_headers)
    # Registered after Flask-Login's hook, so it runs before it (after_request runs in reverse)
    # and sees whether the view read the session, not Flask-Login's own reading of it.
    app.after_request(private_by_default)
    app.add_template_global(bounded)
