"""Security headers on every response; views opt out of frame denial one by one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, abort, current_app, request
from werkzeug.wrappers import Response

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


FRAMEABLE_CSP = CSP.replace("frame-ancestors 'none'", "frame-ancestors *")


def frameable(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view whose pages other sites may put in an iframe (embeds)."""
    view.frameable = True  # type: ignore[attr-defined]
    return view


def set_headers(response: Response) -> Response:
    """Add the security headers a page needs unless it set its own."""
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    if getattr(view, "frameable", False):
        csp = FRAMEABLE_CSP
    else:
        csp = CSP
        response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Content-Security-Policy", csp)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


def refuse_nul_bytes() -> None:
    """No text we store may hold a NUL byte (PostgreSQL refuses them): refuse such a request at the door."""
    if "\x00" in request.path or any("\x00" in v for v in request.args.values()):
        abort(400, description="The address contains a character that is not allowed.")
    if request.method == "POST" and any("\x00" in v for v in request.form.values()):
        abort(400, description="The form contains a character that is not allowed. Nothing was saved.")


def init_app(app: Flask) -> None:
    """Register the header hook and the input guard."""
    app.before_request(refuse_nul_bytes)
    app.after_request(set_headers)
