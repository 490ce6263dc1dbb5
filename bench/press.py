"""Press benchmarks on the real stack: the count endpoint against a bare Flask ceiling, and open SSE streams.

1. wrk (-t2 -c32) against GET /api/v1/petitions/<slug>/count and /badge.svg, served by the app under
   gunicorn with its production config (gthread, the processes and threads it ships with: 2 per core
   x 2) on PostgreSQL, side by side with a bare Flask app returning the same bytes under the same
   gunicorn settings (the ceiling).
2. N open Server-Sent Event streams (default 1,000) on one gevent worker: the memory they cost,
   and how long until every stream sees a confirmation made in the database.

Run with `make bench` (PostgreSQL on 127.0.0.1:5432 and Debian's wrk).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import (  # noqa: E402
    create_database,
    drop_database,
    gunicorn_settings,
    migrate_with_owner,
    wrk_figures,
)

STREAMS = int(os.environ.get("BENCH_STREAMS", "1000"))
DURATION = os.environ.get("BENCH_WRK_SECONDS", "8")
GUNICORN = str(Path(sys.executable).parent / "gunicorn")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(module: str, port: int, env: dict, **extra: str) -> subprocess.Popen:
    # access log off (docs/SCALING.md)
    e = {**os.environ, **env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_ACCESS_LOG": "", **extra}
    proc = subprocess.Popen(
        [GUNICORN, module, "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env=e,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    for _ in range(100):
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except requests.RequestException:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{module} did not start: {proc.stderr.read().decode()[-2000:]}")


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    if proc.stderr:
        proc.stderr.close()


def wrk(url: str) -> tuple[float, float, int]:
    """(requests per second, p99 ms, errors)."""
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{DURATION}s", "--latency", url], capture_output=True, text=True, check=True
    ).stdout
    rps, p99, _, errors = wrk_figures(out)
    return rps, p99, errors


def rss_kb(pid: int) -> int:
    return int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


async def open_stream(port: int, path: str, seen: dict, i: int, ready: asyncio.Event, target: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            m = re.search(rb'"signature_count":\s*(\d+)', line)
            if m:
                n = int(m.group(1))
                seen.setdefault(i, {})[n] = time.monotonic()
                if n >= target:
                    return
    finally:
        writer.close()


async def streams_run(port: int, slug: str, confirm) -> tuple[int, float, float]:
    """Open STREAMS streams, wait for their first event, confirm one signature, time its arrival everywhere."""
    seen: dict = {}
    ready = asyncio.Event()
    tasks = [
        asyncio.create_task(open_stream(port, f"/petitions/{slug}/events", seen, i, ready, 11)) for i in range(STREAMS)
    ]
    deadline = time.monotonic() + 60
    while sum(1 for v in seen.values() if 10 in v) < STREAMS and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    opened = sum(1 for v in seen.values() if 10 in v)
    await asyncio.sleep(1)
    t0 = time.monotonic()
    await asyncio.get_running_loop().run_in_executor(None, confirm)
    done = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=30)
    lags = [v[11] - t0 for v in seen.values() if 11 in v]
    _ = done
    return opened, max(lags) if lags else float("inf"), len(lags)


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install -y wrk")
    name, url = create_database("petitions_bench")
    env = {
        "DATABASE_URL": url,
        "SECRET_KEY": secrets.token_hex(16),
        "RATELIMIT_ENABLED": "false",
        **gunicorn_settings(),
    }
    procs: list[subprocess.Popen] = []
    try:
        from petitions import create_app
        from petitions.campaigns.lifecycle import PetitionData, create_petition
        from petitions.clock import utcnow
        from petitions.extensions import db
        from petitions.signatures import confirming, signing

        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
        with app.app_context():
            owner = migrate_with_owner()
            now = utcnow()
            petition = create_petition(
                owner, PetitionData("Bench petition", "T", "S", "B", 100), now=now, moderation="post"
            )
            for i in range(10):
                s = signing.sign(petition, signing.SignatureData("A", f"s{i}@example.org", "GB"), now=now, ip=None)
                confirming.confirm(s, now=now)
            extra = signing.sign(petition, signing.SignatureData("A", "late@example.org", "GB"), now=now, ip=None)
            db.session.commit()
            slug, extra_id = petition.slug, extra.id

        app_port, bare_port = free_port(), free_port()
        procs.append(start("app:app", app_port, env))
        body = requests.get(f"http://127.0.0.1:{app_port}/api/v1/petitions/{slug}/count", timeout=10).content
        procs.append(start("bench.bare_app:app", bare_port, {**env, "BARE_BODY": body.decode()}))
        # the bare app has no /healthz; start() accepted any answer

        print(
            f"count endpoint: gunicorn gthread {env['WEB_CONCURRENCY']} workers x {env['GUNICORN_THREADS']} threads,"
            f" wrk -t2 -c32 -d{DURATION}s, PostgreSQL"
        )
        print(f"{'endpoint':<36}{'req/s':>9}{'p99 ms':>9}{'errors':>8}{'ratio':>8}")
        ceiling, p99, _ = max(wrk(f"http://127.0.0.1:{bare_port}/api/v1/petitions/{slug}/count") for _ in range(2))
        print(f"{'bare Flask, same bytes (ceiling)':<36}{ceiling:>9.0f}{p99:>9.1f}{0:>8}{1:>8.2f}")
        for label, path in (
            ("GET /api/v1/petitions/<slug>/count", f"/api/v1/petitions/{slug}/count"),
            ("GET /petitions/<slug>/badge.svg", f"/petitions/{slug}/badge.svg"),
        ):
            rps, p99, bad = max(wrk(f"http://127.0.0.1:{app_port}{path}") for _ in range(2))
            print(f"{label:<36}{rps:>9.0f}{p99:>9.1f}{bad:>8}{rps / ceiling:>8.2f}")
        for p in procs:
            stop(p)
        procs.clear()

        sse_port = free_port()
        master = start("app:app", sse_port, {**env, "WEB_CONCURRENCY": "1", "GUNICORN_WORKER_CLASS": "gevent"})
        procs.append(master)
        (worker,) = children(master.pid)
        before = rss_kb(worker)

        def confirm() -> None:
            with app.app_context():
                from petitions.models import Signature

                confirming.confirm(db.session.get(Signature, extra_id), now=utcnow())
                db.session.commit()

        opened, lag, arrived = asyncio.run(streams_run(sse_port, slug, confirm))
        after = rss_kb(worker)
        print()
        print("live updates: Server-Sent Events on ONE gunicorn gevent worker (GUNICORN_WORKER_CLASS=gevent)")
        print(f"{'streams open':>13}{'saw new count':>15}{'slowest (s)':>13}{'worker RSS MB':>15}{'per stream kB':>15}")
        print(f"{opened:>13}{arrived:>15}{lag:>13.2f}{after / 1024:>15.1f}{(after - before) / max(1, opened):>15.1f}")
        with app.app_context():
            db.engine.dispose()
    finally:
        for p in procs:
            stop(p)
        drop_database(name)


if __name__ == "__main__":
    main()
