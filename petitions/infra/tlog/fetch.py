"""Fetching a log over HTTP for the standalone verifier: persistent connections, redirects, gzip.

Standard library only, like the rest of petitions/infra/tlog, so `python -m petitions.verify`
runs where nothing but `cryptography` is installed.
"""

from __future__ import annotations

import gzip
import http.client
import threading
from collections.abc import Callable
from urllib.parse import SplitResult, urljoin, urlsplit

USER_AGENT = "petitions-verify/1"
TIMEOUT = 60


class VerifyError(Exception):
    """The log does not check out (or cannot be read); the message says why."""


class NotFound(VerifyError):
    """The server answered 404."""


Fetch = Callable[[str], bytes]


class HttpFetcher:
    """GET over persistent connections, one per thread and host: a million-entry log is thousands of files.

    Follows redirects, accepts gzip (as tlog-tiles asks clients to), checks TLS certificates as
    Python does by default, and reconnects once when a server has closed an idle connection.
    """

    def __init__(self, timeout: float = TIMEOUT) -> None:
        self.timeout = timeout
        self.local = threading.local()
        self.lock = threading.Lock()
        self.opened: list[http.client.HTTPConnection] = []

    def close(self) -> None:
        """Close every connection any thread opened."""
        with self.lock:
            for connection in self.opened:
                connection.close()
            self.opened.clear()

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        pool: dict[tuple[str, str], http.client.HTTPConnection] = self.local.__dict__.setdefault("pool", {})
        key = (scheme, netloc)
        if key not in pool:
            kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            pool[key] = kind(netloc, timeout=self.timeout)
            with self.lock:
                self.opened.append(pool[key])
        return pool[key]

    def _drop(self, scheme: str, netloc: str) -> None:
        connection = self.local.__dict__.get("pool", {}).pop((scheme, netloc), None)
        if connection is not None:
            connection.close()

    def _get(self, parts: SplitResult) -> tuple[int, str, http.client.HTTPMessage, bytes]:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, identity"}
        for attempt in (1, 2):
            connection = self._connection(parts.scheme, parts.netloc)
            try:
                connection.request("GET", target, headers=headers)
                response = connection.getresponse()
                body = response.read()
            except (http.client.HTTPException, OSError):
                self._drop(parts.scheme, parts.netloc)
                if attempt == 2:
                    raise
                continue
            if response.will_close:
                self._drop(parts.scheme, parts.netloc)
            return response.status, response.reason, response.headers, body
        raise AssertionError("unreachable")

    def __call__(self, url: str) -> bytes:
        for _ in range(5):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https"):
                raise VerifyError(f"{url}: only http and https are fetched")
            try:
                status, reason, headers, body = self._get(parts)
            except (http.client.HTTPException, OSError) as exc:
                raise VerifyError(f"{url}: cannot be fetched ({exc})") from None
            if status in (301, 302, 303, 307, 308) and headers.get("Location"):
                url = urljoin(url, headers["Location"])
                continue
            if status == 404:
                raise NotFound(f"{url} is missing (HTTP 404)")
            if status != 200:
                raise VerifyError(f"{url}: HTTP {status} {reason}")
            if headers.get("Content-Encoding", "").lower() == "gzip":
                try:
                    body = gzip.decompress(body)
                except (OSError, EOFError) as exc:
                    raise VerifyError(f"{url}: bad gzip ({exc})") from None
            return body
        raise VerifyError(f"{url}: too many redirects")
