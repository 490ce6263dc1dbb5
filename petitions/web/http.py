"""Response helpers shared by the API and the embeds: caching with ETags, CORS."""

from __future__ import annotations

import hashlib
import json
from functools import cached_property, lru_cache
from typing import Any, Literal, overload

from babel.support import NullTranslations, Translations
from flask import Flask, current_app, request
from flask import Request as FlaskRequest
from flask import Response as FlaskResponse
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask_babel import get_locale
from itsdangerous import URLSafeTimedSerializer
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response
from wtforms.i18n import messages_path

from petitions.config import cache_budget
from petitions.web.uploads import body_limit


@lru_cache(maxsize=32)
def _wtforms_catalogue(locale: str) -> NullTranslations:
    return Translations.load(messages_path(), [locale], domain="wtforms")


def cacheable(response: Response, max_age: int | None = None, stale: int | None = None) -> Response:
    """Make a public, briefly cacheable response with an ETag; answer 304 to a matching If-None-Match.

    max-age lets a CDN or a reverse proxy take the read load; stale-while-revalidate lets it
    serve the last count while it fetches the next one. By default both come from the
    count's budget (cache_budget).
    """
    _, budget_age, budget_stale = cache_budget(current_app.config)
    max_age = budget_age if max_age is None else max_age
    stale = budget_stale if stale is None else stale
    etag = hashlib.blake2b(response.get_data(), digest_size=12).hexdigest()
    # The press endpoints' hottest path: the headers are set in one go, and the conditional
    # answer is made here (werkzeug's make_conditional also handles dates and ranges, which
    # these responses never need, at twice the cost).
    response.headers.extend(
        [
            ("Cache-Control", f"public, max-age={max_age}, stale-while-revalidate={stale}"),
            ("ETag", f'"{etag}"'),
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Expose-Headers", "ETag"),
            ("Vary", "Accept-Encoding"),
        ]
    )
    if request.method in ("GET", "HEAD") and request.if_none_match.contains(etag):
        response.status_code = 304
        response.set_data(b"")
        response.headers.remove("Content-Type")
        response.headers.remove("Content-Length")
    return response


def json_response(doc: Any, status: int = 200) -> Response:
    """Compact JSON with the right type (cheaper than jsonify's pretty-printing checks)."""
    return current_app.response_class(
        json.dumps(doc, separators=(",", ":"), ensure_ascii=False), status=status, mimetype="application/json"
    )


class Session(SecureCookieSession):
    """Flask's cookie session, which also notes whether anything read what it holds.

    Flask marks a session `accessed` whenever anything merely reaches for it (Flask-Login's
    own after-request hook does on every response), so that flag cannot tell a page that
    depends on the visitor from one that does not. `read` is set only by reading a value or
    asking whether one is there: who is signed in, a CSRF token, a flashed message.
    """

    read = False

    def __getitem__(self, key: str) -> Any:
        self.read = True
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        """dict.get, noted as a read."""
        self.read = True
        return super().get(key, default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        """dict.setdefault, noted as a read."""
        self.read = True
        return super().setdefault(key, default)

    def __contains__(self, key: object) -> bool:
        self.read = True
        return super().__contains__(key)


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, except on public, cacheable responses.

    Those (the count, the badge, the widget, oEmbed) are the same for everyone, so they must
    not answer "Vary: Cookie" (which Flask adds whenever a hook merely looks at the session,
    and which would make a CDN keep one copy per visitor) nor set a cookie.
    """

    session_class = Session

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """Flask's serializer, built once per set of keys instead of on every request."""
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached = app.extensions.get("session_serializer")
        if cached is None or cached[0] != keys:
            cached = app.extensions["session_serializer"] = (keys, super().get_signing_serializer(app))
        return cached[1]

    def save_session(self, app: Flask, session: SessionMixin, response: FlaskResponse) -> None:
        """Save as Flask does, unless the response is public.

        A public response is kept by caches and given to everyone, so it never carries a
        cookie, even when a hook changed the session on the way (Flask-Login marks a
        session that has no user as not fresh the first time it looks): that change waits
        for the visitor's next private page.
        """
        if "public" in response.headers.get("Cache-Control", ""):
            return
        super().save_session(app, session, response)


class Request(FlaskRequest):
    """Flask's request, which also refuses a body without a length that runs past MAX_CONTENT_LENGTH.

    A body sent in chunks has no Content-Length to check up front; Werkzeug reads it up to
    the limit and stops there without a word, so the form would be parsed from the first
    megabyte of a hundred. Reaching the limit is taken as going past it: 413. The limit is the
    view's own for a view that accepts an upload (uploads.accepts_upload).
    """

    @cached_property
    def wtforms_translations(self) -> NullTranslations:
        """WTForms' own messages in this request's language, each language's catalogue read once per process.

        Flask-WTF looks for this attribute first; without it, it reads the catalogue from disk
        for every request that makes a form (the signing POST, the petition page, a
        confirmation), about a sixth of a signing's CPU.
        """
        return _wtforms_catalogue(str(get_locale()))

    @property
    def max_content_length(self) -> int | None:
        """The limit set on this request, else its view's upload limit (uploads.accepts_upload), else
        MAX_CONTENT_LENGTH."""
        if self._max_content_length is not None or not current_app:
            return super().max_content_length
        return body_limit(self.url_rule.endpoint if self.url_rule is not None else None)

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value

    def _load_form_data(self) -> None:
        """Parse the form as Werkzeug does, then refuse a body cut at the limit."""
        super()._load_form_data()
        self._refuse_cut_body()

    @overload
    def get_data(self, cache: bool = True, as_text: Literal[False] = False, parse_form_data: bool = False) -> bytes: ...

    @overload
    def get_data(self, cache: bool = True, as_text: Literal[True] = ..., parse_form_data: bool = False) -> str: ...

    def get_data(self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False) -> bytes | str:
        """The body as Werkzeug reads it, unless it was cut at the limit."""
        data: bytes | str
        if as_text:
            data = super().get_data(cache=cache, as_text=True, parse_form_data=parse_form_data)
        else:
            data = super().get_data(cache=cache, as_text=False, parse_form_data=parse_form_data)
        self._refuse_cut_body()
        return data

    def _refuse_cut_body(self) -> None:
        if (
            self.content_length is None
            and self.max_content_length is not None
            and getattr(self.stream, "is_exhausted", False)
        ):
            # Nothing of the cut body stays readable, for an error page or anything else.
            self.__dict__["form"] = self.parameter_storage_class()
            self._cached_data = b""
            raise RequestEntityTooLarge()
