"""The press endpoints' repeat requests answered below Flask, from the response Flask just made.

A petition in the news is read by every visitor of every article that embeds its count or
badge: the same few URLs, thousands of times a second, all getting the same bytes. Within a
short TTL this middleware replays Flask's own last answer to such a URL (status, headers and
body, captured as Flask sent them) without running the framework: about half the cost per
request. Only a GET without a query string of those URLs, and only a public 200, is kept;
a matching If-None-Match gets a 304, as Flask would give. Everything else goes to Flask.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from werkzeug.http import parse_etags

from petitions.config import cache_budget

PATHS = re.compile(r"/api/v1/petitions/[a-z0-9-]{1,80}/count|/petitions/[a-z0-9-]{1,80}/badge\.svg")
_NOT_IN_304 = {"content-type", "content-length"}


@dataclass(frozen=True)
class _Answer:
    expires: float
    status: str
    headers: list[tuple[str, str]]
    headers_304: list[tuple[str, str]]
    etag: str | None
    body: bytes


def ttl(config: Any) -> float:
    """Seconds an answer is replayed: half of the in-process share of COUNT_MAX_AGE.

    The count cache keeps the other half (live.count_cache), so a count spends no longer in
    the process than cache_budget allows, and no longer in all caches than COUNT_MAX_AGE.
    """
    return cache_budget(config)[0] / 2


class MicroCache:
    """WSGI middleware keeping Flask's last answer to each press URL for ttl() seconds."""

    def __init__(self, app: Flask, wsgi_app: Callable[..., Iterable[bytes]], size: int = 10_000) -> None:
        """Wrap wsgi_app (Flask's); `app` gives the settings."""
        self.app = app
        self.wsgi_app = wsgi_app
        self.size = size
        self.lock = threading.Lock()
        self.answers: dict[tuple[str, str], _Answer] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Replay a fresh answer, or ask Flask and keep a copy of a public 200."""
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "GET" or environ.get("QUERY_STRING") or not PATHS.fullmatch(path):
            return self.wsgi_app(environ, start_response)
        seconds = ttl(self.app.config)
        if seconds <= 0:
            return self.wsgi_app(environ, start_response)
        key = (path, environ.get("wsgi.url_scheme", "http"))
        now = time.monotonic()
        answer = self.answers.get(key)
        if answer is not None and answer.expires > now:
            if answer.etag and parse_etags(environ.get("HTTP_IF_NONE_MATCH")).contains(answer.etag):
                start_response("304 NOT MODIFIED", list(answer.headers_304))
                return [b""]
            start_response(answer.status, list(answer.headers))
            return [answer.body]
        return self._ask_flask(environ, start_response, key, now + seconds)

    def _ask_flask(
        self, environ: dict[str, Any], start_response: Callable[..., Any], key: tuple[str, str], expires: float
    ) -> Iterable[bytes]:
        seen: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"], seen["headers"] = status, headers
            return start_response(status, headers, exc_info)

        result = self.wsgi_app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        headers = seen.get("headers", [])
        names = {name.lower(): value for name, value in headers}
        if (
            seen.get("status", "").startswith("200")
            and "public" in names.get("cache-control", "")
            and "set-cookie" not in names
        ):
            etag = names.get("etag", "").strip('"') or None
            answer = _Answer(
                expires,
                seen["status"],
                list(headers),
                [(n, v) for n, v in headers if n.lower() not in _NOT_IN_304],
                etag,
                body,
            )
            with self.lock:
                if len(self.answers) >= self.size:
                    self.answers.clear()  # crude but bounded, like the count cache
                self.answers[key] = answer
        return [body]


def init_app(app: Flask) -> None:
    """Put the micro-cache in front of Flask (inside ProxyFix, which must see the request first)."""
    # Flask's way to add WSGI middleware is to replace this method; mypy flags any method assignment.
    app.wsgi_app = MicroCache(app, app.wsgi_app)  # type: ignore[method-assign]
