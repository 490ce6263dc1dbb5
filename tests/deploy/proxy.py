"""A tiny reverse proxy for the multi-node test: round-robin over the web nodes, and the next node
when one refuses the connection (a dead machine), as Caddy's or nginx's upstream retries do.

A request is retried on another node only when its connection was refused, so before a byte of it
reached any app: a request that a node took and then lost (killed in the middle) is answered 502
with `X-Proxy-Error: upstream-cut`, never sent twice, so the test can tell the connections a kill
cut from errors of the app. It sets X-Forwarded-For to the client's address (the app trusts one
proxy: PROXY_COUNT=1) and names the node that answered in `X-Backend`.

    python tests/deploy/proxy.py PORT BACKEND [BACKEND ...]     (BACKEND as host:port)
"""

from __future__ import annotations

import http.client
import itertools
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
}
TIMEOUT = 30


class Proxy(ThreadingHTTPServer):
    """The listening socket and the backends taken in turn."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, port: int, backends: list[tuple[str, int]]) -> None:
        """Listen on 127.0.0.1:port."""
        super().__init__(("127.0.0.1", port), Handler)
        self.backends = backends
        self._turn = itertools.count()
        self._lock = threading.Lock()

    def order(self) -> list[tuple[str, int]]:
        """Every backend, starting with the next one's turn."""
        with self._lock:
            start = next(self._turn) % len(self.backends)
        return self.backends[start:] + self.backends[:start]


class Handler(BaseHTTPRequestHandler):
    """Forwards one request at a time over a new connection to a backend."""

    protocol_version = "HTTP/1.1"
    server: Proxy

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        """Quiet: the test reads the answers, not a log."""

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["X-Forwarded-For"] = self.client_address[0]
        headers["Connection"] = "close"
        for host, port in self.server.order():
            upstream = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
            try:
                upstream.connect()
            except ConnectionRefusedError:
                upstream.close()
                continue  # nothing was sent: the next node gets it
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                payload = answer.read()
            except (OSError, http.client.HTTPException):
                upstream.close()
                self._reply(502, [("X-Proxy-Error", "upstream-cut")], b"the node was lost during the request\n")
                return
            upstream.close()
            kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP | {"content-length"}]
            self._reply(answer.status, [*kept, ("X-Backend", f"{host}:{port}")], payload)
            return
        self._reply(502, [("X-Proxy-Error", "no-backend")], b"no node answered\n")

    def _reply(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_HEAD = _forward  # noqa: N815 (http.server's names)


def main(argv: list[str]) -> None:
    """Serve until killed."""
    port, *backends = argv
    pairs = [(host, int(p)) for host, _, p in (b.rpartition(":") for b in backends)]
    Proxy(int(port), pairs).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
