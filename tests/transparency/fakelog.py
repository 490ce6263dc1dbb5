"""A petition's log as static files, served by a plain http.server: what the verifiers are tested against.

It writes what the site will serve (checkpoint, tiles, entry bundles, /log/key) with the same
core modules, from a list of entries, and keeps every file in a dict that a test can alter to
play a dishonest or broken log.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from petitions.infra.tlog import entries, merkle, note, tiles


class StaticLog:
    """The files of one site holding one petition's log, kept as path -> bytes."""

    def __init__(
        self, base_url: str, slug: str, files: dict[str, bytes] | None = None, signer: note.Signer | None = None
    ) -> None:
        self.base_url = base_url
        self.slug = slug
        self.signer = signer or note.generate_key(note.key_name(base_url))
        self.prefix = f"petitions/{slug}/log/"
        self.files = {} if files is None else files
        self.files["log/key"] = f"{self.signer.verifier}\n".encode()
        self.entries: list[bytes] = []
        self.hashes: dict[tuple[int, int, int], bytes] = {}
        self.checkpoint = note.Checkpoint(note.log_origin(base_url, slug), 0, merkle.EMPTY_ROOT)

    @property
    def url(self) -> str:
        return f"{self.base_url}/petitions/{self.slug}"

    @property
    def verifier_key(self) -> str:
        return str(self.signer.verifier)

    def read_tile(self, level: int, index: int, width: int) -> bytes:
        return self.hashes[(level, index, width)]

    def append(self, new: list[bytes], sign: bool = True) -> note.Checkpoint:
        """Append entries, write the tiles and bundles they change, and sign a new checkpoint."""
        old_size = len(self.entries)
        grown = tiles.append_leaves(self.read_tile, old_size, [merkle.leaf_hash(e) for e in new])
        self.entries += new
        for tile, data in grown.tiles.items():
            self.hashes[(tile.level, tile.index, tile.width)] = data
            self.files[self.prefix + tile.path] = data
        for bundle in tiles.bundles_for_size(grown.size)[old_size // tiles.TILE_WIDTH :]:
            start = bundle.index * tiles.TILE_WIDTH
            self.files[self.prefix + bundle.path] = tiles.encode_bundle(self.entries[start : start + bundle.width])
        self.checkpoint = note.Checkpoint(self.checkpoint.origin, grown.size, grown.root)
        if sign:
            self.sign()
        return self.checkpoint

    def sign(self, checkpoint: note.Checkpoint | None = None) -> None:
        self.files[self.prefix + "checkpoint"] = note.sign_checkpoint(
            checkpoint or self.checkpoint, self.signer
        ).encode()

    def write(self, root: Path) -> None:
        """Lay the files out on disk, to serve with any static file server."""
        for path, data in self.files.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


def sample_entries(n: int, slug: str = "save-the-park") -> tuple[list[bytes], dict[str, object]]:
    """n entries: mostly adds, some removes, restores and group entries; and the counts they add up to, by hand."""
    out: list[bytes] = []
    live: dict[int, tuple[str, str | None]] = {}
    removed: dict[int, tuple[str, str | None]] = {}
    countries = ("GB", "FR", "DE", "ES", "IE")
    for i in range(n):
        if i % 7 == 6 and live:
            target = min(live)
            out.append(entries.remove_entry(target, "withdrawn"))
            removed[target] = live.pop(target)
        elif i % 13 == 12 and removed:
            target = min(removed)
            out.append(entries.restore_entry(target))
            live[target] = removed.pop(target)
        elif i % 11 == 10 and any(domain is None for _, domain in [*live.values(), *removed.values()]):
            # A group entry for an add without a domain, live or removed (a removed one counts
            # toward the group if restored).
            ungrouped = sorted(k for k, (_, domain) in [*live.items(), *removed.items()] if domain is None)
            target = ungrouped[len(ungrouped) // 2]
            out.append(entries.group_entry(target, "lab.example.com"))
            held = live if target in live else removed
            held[target] = (held[target][0], "lab.example.com")
        else:
            country, domain = countries[i % 5], ("uni.example.ac.uk" if i % 3 == 0 else None)
            c = entries.commitment(slug, f"signer{i}@example.org", f"{i:032x}")
            out.append(entries.add_entry(c, country, domain))
            live[i] = (country, domain)
    by_country: dict[str, int] = {}
    by_group: dict[str, int] = {}
    for country, domain in live.values():
        by_country[country] = by_country.get(country, 0) + 1
        if domain:
            by_group[domain] = by_group.get(domain, 0) + 1
    by_group = dict(sorted(by_group.items()))
    return out, {"count": len(live), "by_country": dict(sorted(by_country.items())), "by_group": by_group}


def _content_type(path: str) -> str:
    if "/tile/" in path:
        return "application/octet-stream"
    if path.endswith(".js"):
        return "text/javascript; charset=utf-8"
    if path.endswith(".html"):
        return "text/html; charset=utf-8"
    return "text/plain; charset=utf-8"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # Keep-alive, as any real server offers it: the verifier reuses its connections. Without
    # TCP_NODELAY the body waits behind the headers for the client's delayed ACK, 40 ms a file.
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        data = self.server.files.get(self.path.lstrip("/"))
        self.server.requests.append(self.path)
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        if self.server.gzip and "gzip" in self.headers.get("Accept-Encoding", ""):
            data = gzip.compress(data)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Type", _content_type(self.path))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's name)
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    files: dict[str, bytes]
    requests: list[str]
    gzip: bool


@contextmanager
def serve(files: dict[str, bytes], compress: bool = False) -> Iterator[str]:
    """Serve these files (the dict itself, so later changes show) on 127.0.0.1; yields the base URL.

    compress: gzip every answer to a client that accepts it, as tlog-tiles lets a log do.
    """
    server = _Server(("127.0.0.1", 0), _Handler)
    server.files = files
    server.requests = []
    server.gzip = compress
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
