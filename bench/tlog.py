"""Benchmark: the standalone verifier checking a petition's log of a million entries.

Builds a log of BENCH_TLOG_ENTRIES (default 1,000,000) entries: adds with a commitment,
a country and, for one in three, a supporter group's domain, and a remove for one in fifty,
as the site would write them. It lays the checkpoint, tiles and entry bundles out as files,
serves them with Python's own http.server in another process (HTTP/1.1 keep-alive and
TCP_NODELAY, as production servers answer), and times `python -m petitions.verify <url>
--key <key>` in a third: every bundle and tile downloaded, every leaf rehashed, every tile
compared, the root checked against the signature, every entry replayed. Printed: the wall
time (target: under 30 s on this machine) and the verifier's CPU time, which a machine
shared with other work changes less.

Run: .venv/bin/python bench/tlog.py
"""

from __future__ import annotations

import functools
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from petitions.infra.tlog import entries, merkle, note, tiles  # noqa: E402

SLUG = "million"
COUNTRIES = ("GB", "FR", "DE", "ES", "IT", "IE", "NL", "BE", "PT", "PL")


def make_entries(n: int) -> list[bytes]:
    """n entries: adds, with a remove of an earlier add every 50th."""
    out = []
    for i in range(n):
        if i % 50 == 49:
            out.append(entries.remove_entry(i - 49, "withdrawn"))
        else:
            commitment = entries.commitment(SLUG, f"signer{i}@example.org", f"{i:032x}")
            domain = "uni.example.ac.uk" if i % 3 == 0 else None
            out.append(entries.add_entry(commitment, COUNTRIES[i % len(COUNTRIES)], domain))
    return out


def write_log(root: Path, base_url: str, items: list[bytes]) -> tuple[str, note.Checkpoint]:
    """The site's files for this log under root; returns the verifier key and the checkpoint."""
    signer = note.generate_key(note.key_name(base_url))
    prefix = root / "petitions" / SLUG / "log"
    built = tiles.build_tiles([merkle.leaf_hash(item) for item in items])
    for tile, data in built.tiles.items():
        (prefix / tile.path).parent.mkdir(parents=True, exist_ok=True)
        (prefix / tile.path).write_bytes(data)
    for bundle in tiles.bundles_for_size(len(items)):
        start = bundle.index * tiles.TILE_WIDTH
        (prefix / bundle.path).parent.mkdir(parents=True, exist_ok=True)
        (prefix / bundle.path).write_bytes(tiles.encode_bundle(items[start : start + bundle.width]))
    checkpoint = note.Checkpoint(note.log_origin(base_url, SLUG), built.size, built.root)
    (prefix / "checkpoint").write_text(note.sign_checkpoint(checkpoint, signer))
    (root / "log").mkdir(exist_ok=True)
    (root / "log" / "key").write_text(f"{signer.verifier}\n")
    return str(signer.verifier), checkpoint


class StaticHandler(SimpleHTTPRequestHandler):
    """A static file server as production ones behave: keep-alive, and no Nagle delay between headers and body."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's name)
        return None


def serve(directory: str, port: int) -> None:
    """Serve a directory on 127.0.0.1 until killed (run in its own process: python bench/tlog.py --serve DIR PORT)."""
    handler = functools.partial(StaticHandler, directory=directory)
    with ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        server.serve_forever()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (a local URL made here)
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def main() -> int:
    n = int(os.environ.get("BENCH_TLOG_ENTRIES", "1000000"))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        items = make_entries(n)
        key, checkpoint = write_log(root, base_url, items)
        built = time.perf_counter() - started
        expected = entries.replay(items).count
        del items
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", tmp, str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(f"{base_url}/log/key")
            started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
            ran = subprocess.run(
                [sys.executable, "-m", "petitions.verify", f"{base_url}/petitions/{SLUG}", "--key", key, "--json"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=600,
            )
            seconds = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu_seconds = after.ru_utime - cpu.ru_utime + after.ru_stime - cpu.ru_stime
        finally:
            server.terminate()
            server.wait(timeout=10)
    if ran.returncode != 0:
        print(ran.stderr, file=sys.stderr)
        return 1
    result = json.loads(ran.stdout)
    assert result["count"] == expected and result["size"] == n, result
    assert result["root"] == checkpoint.root_b64
    bundles = len(tiles.bundles_for_size(n))
    requests = bundles + len(tiles.tiles_for_size(n)) + 1
    print(f"Public log verification: {n:,} entries ({bundles:,} bundles, {requests:,} requests), count {expected:,}")
    print(f"  log built and written in {built:.1f} s (not timed)")
    print(f"  python -m petitions.verify: {seconds:.1f} s ({n / seconds:,.0f} entries/s); target under 30 s")
    load = os.getloadavg()[0]
    print(f"  its CPU time: {cpu_seconds:.1f} s; load average at the end {load:.1f} on {os.cpu_count()} cores")
    return 0 if seconds < 30 else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2], int(sys.argv[3]))
    sys.exit(main())
