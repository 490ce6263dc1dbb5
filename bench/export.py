"""Benchmark: the CSV export of a million signatures through a real server, in constant memory.

On a PostgreSQL database of its own (created here, dropped at the end), one INSERT ... SELECT
generate_series makes BENCH_EXPORT_ROWS (default 1,000,000) confirmed signatures for one
petition. gunicorn (gunicorn.conf.py, one gthread worker) serves the app; the owner signs in
with requests and reads GET /petitions/<slug>/signatures.csv in 64 KiB chunks. Printed: rows,
bytes, seconds, rows/s, and the worker's memory before and at its peak during the export
(VmRSS sampled every 10 ms, and VmHWM reset just before the export). The target: under 50 MB
of growth. Also the dashboard and delivery pages of that petition against a petition of 100.

Run: .venv/bin/python bench/export.py (needs PostgreSQL on 127.0.0.1:5432, like the tests).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import create_database, drop_database, migrate_with_owner  # noqa: E402
from petitions import create_app  # noqa: E402
from petitions.campaigns.lifecycle import PetitionData, create_petition  # noqa: E402
from petitions.clock import utcnow  # noqa: E402
from petitions.extensions import db  # noqa: E402

ROWS = int(os.environ.get("BENCH_EXPORT_ROWS", "1000000"))
TARGET_MB = 50
OWNER, PASSWORD = "bench-owner@example.org", "correct horse battery"
CHUNK = 64 * 1024
MB = 1024 * 1024

SIGNATURES = """
INSERT INTO signatures (petition_id, name, email, email_normalized, email_domain, country, postcode, comment,
                        show_name, updates, created_at, confirmed_at, resend_count)
SELECT :pid,
       CASE WHEN g % 997 = 0 THEN '=HYPERLINK("http://evil.example","x")' ELSE 'Signer ' || g END,
       's' || g || '@example.org', 's' || g || '@example.org', 'example.org',
       (ARRAY['GB','FR','DE','US','ES','IT','NL','SE'])[1 + g % 8],
       CASE WHEN g % 3 = 0 THEN 'SW1A ' || (g % 9) || 'AA' END,
       CASE WHEN g % 10 = 0 THEN 'I signed, because "it matters" (' || g || ')' END,
       g % 2 = 0, false,
       (now() AT TIME ZONE 'utc') - make_interval(secs => (:n - g) * 2.5 + 60),
       (now() AT TIME ZONE 'utc') - make_interval(secs => (:n - g) * 2.5),
       0
FROM generate_series(1, :n) g
"""
# The counters the signing code keeps, computed once here from the rows.
COUNTERS = [
    "UPDATE petitions SET signature_count = (SELECT count(*) FROM signatures WHERE petition_id = :pid) WHERE id = :pid",
    "INSERT INTO petition_country_counts (petition_id, country, count) "
    "SELECT petition_id, country, count(*) FROM signatures WHERE petition_id = :pid GROUP BY petition_id, country",
    "INSERT INTO petition_hourly_counts (petition_id, hour, count) "
    "SELECT petition_id, date_trunc('hour', confirmed_at), count(*) FROM signatures"
    " WHERE petition_id = :pid GROUP BY petition_id, date_trunc('hour', confirmed_at)",
]


def setup(url: str) -> tuple[str, str, str]:
    """Migrate, then an owner with petitions of ROWS, 100 and 10 confirmed signatures. Returns the slugs."""
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    app.logger.setLevel("WARNING")
    with app.app_context():
        owner = migrate_with_owner("Bench Owner", OWNER, PASSWORD)
        now = utcnow()
        big = create_petition(
            owner, PetitionData("A million signers", "Target", "Summary", "Body", 2_000_000), now=now, moderation="post"
        )
        small = create_petition(
            owner, PetitionData("A hundred signers", "Target", "Summary", "Body", 1000), now=now, moderation="post"
        )
        ten = create_petition(
            owner, PetitionData("Ten signers", "Target", "Summary", "Body", 1000), now=now, moderation="post"
        )
        db.session.commit()
        for petition, n in ((big, ROWS), (small, 100), (ten, 10)):
            db.session.execute(db.text(SIGNATURES), {"pid": petition.id, "n": n})
            for statement in COUNTERS:
                db.session.execute(db.text(statement), {"pid": petition.id})
        db.session.commit()
        slugs = big.slug, small.slug, ten.slug
        db.session.remove()
        db.engine.dispose()
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return slugs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(url: str, log: Path) -> tuple[subprocess.Popen, str]:
    """gunicorn app:app with the production config, one gthread worker; waits for /healthz."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_")}
    env.update(
        DATABASE_URL=url,
        SECRET_KEY=secrets.token_hex(32),
        BASE_URL=f"http://127.0.0.1:{port}",
        RATELIMIT_ENABLED="false",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_ACCESS_LOG="",  # off, as docs/SCALING.md recommends under load
        GUNICORN_TIMEOUT="300",
        GUNICORN_GRACEFUL_TIMEOUT="5",
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="4",
        COUNT_MAX_AGE="0",  # every count read from the database, not from the process's cache
    )
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "app:app", "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except requests.RequestException:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"gunicorn did not start:\n{log.read_text(errors='replace')}")


def worker_pid(master: int) -> int:
    """The pid of gunicorn's only worker."""
    for _ in range(100):
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise RuntimeError("gunicorn has no worker")


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return values


class Sampler(threading.Thread):
    """Reads a process's VmRSS every 10 ms and keeps the highest."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, memory(self.pid)["VmRSS"])
            time.sleep(0.01)


def sign_in(base: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/login", timeout=10)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    answer = session.post(
        f"{base}/login",
        data={"email": OWNER, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 303, answer.status_code
    return session


def export(session: requests.Session, base: str, slug: str) -> tuple[int, int, float, float, bytes]:
    """Read the CSV in chunks: (rows, bytes, seconds, seconds to the first byte, the first line)."""
    t0 = time.perf_counter()
    first_byte = None
    size = lines = 0
    head = b""
    with session.get(f"{base}/petitions/{slug}/signatures.csv", stream=True, timeout=300) as response:
        assert response.status_code == 200, response.status_code
        for chunk in response.iter_content(CHUNK):
            if first_byte is None:
                first_byte = time.perf_counter() - t0
                head = chunk.split(b"\r\n", 1)[0]
            size += len(chunk)
            lines += chunk.count(b"\n")  # no generated cell holds a line break
    return lines - 1, size, time.perf_counter() - t0, first_byte or 0.0, head


def median_ms(session: requests.Session, url: str, n: int = 20) -> float:
    for _ in range(3):
        session.get(url, timeout=30)
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        assert session.get(url, timeout=30).status_code == 200
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000


def side_by_side_ms(session: requests.Session, few_url: str, many_url: str, n: int = 60) -> tuple[float, float]:
    """Median ms of each URL, requested in turn (so a slow moment of the machine hits both alike)."""
    for _ in range(3):
        session.get(few_url, timeout=30)
        session.get(many_url, timeout=30)
    few, many = [], []
    for _ in range(n):
        for url, samples in ((few_url, few), (many_url, many)):
            t = time.perf_counter()
            assert session.get(url, timeout=30).status_code == 200, url
            samples.append(time.perf_counter() - t)
    return statistics.median(few) * 1000, statistics.median(many) * 1000


def main() -> None:
    name, url = create_database("petitions_bench_export")
    proc = None
    try:
        t = time.perf_counter()
        big, small, ten = setup(url)
        made = time.perf_counter() - t
        log = Path(tempfile.mkdtemp(prefix="bench-export-")) / "gunicorn.log"
        proc, base = start_gunicorn(url, log)
        pid = worker_pid(proc.pid)
        session = sign_in(base)
        export(session, base, small)  # warm: modules, templates, connections

        before = memory(pid)
        try:  # reset VmHWM to the current RSS, so after the export it is the export's own peak
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            hwm_reset = True
        except OSError:
            hwm_reset = False
        sampler = Sampler(pid)
        sampler.start()
        rows, size, seconds, ttfb, head = export(session, base, big)
        sampler.stop.set()
        sampler.join()
        after = memory(pid)
        assert head == b'"name","country","postcode","comment","confirmed_at"', head  # every field quoted
        assert rows == ROWS, (rows, ROWS)

        peak = max(sampler.peak, after["VmRSS"])
        growth = (peak - before["VmRSS"]) / MB
        hwm_growth = (after["VmHWM"] - before["VmRSS"]) / MB if hwm_reset else None
        worst = max(growth, hwm_growth or 0.0)
        print(f"export: PostgreSQL, GET /petitions/<slug>/signatures.csv of {ROWS:,} confirmed signatures")
        print(
            f"        through gunicorn (1 gthread worker), read with requests in {CHUNK // 1024} KiB chunks"
            f" (data made in {made:.0f} s)"
        )
        table = [
            ("rows", f"{rows:,}"),
            ("bytes", f"{size:,} ({size / MB:.1f} MB)"),
            ("seconds", f"{seconds:.2f}"),
            ("rows/s", f"{rows / seconds:,.0f}"),
            ("first byte (ms)", f"{ttfb * 1000:.0f}"),
            ("worker RSS before (MB)", f"{before['VmRSS'] / MB:.1f}"),
            ("worker peak RSS, sampled (MB)", f"{peak / MB:.1f}"),
            ("peak RSS growth, sampled (MB)", f"{growth:.1f}"),
            ("peak RSS growth, VmHWM (MB)", f"{hwm_growth:.1f}" if hwm_growth is not None else "n/a"),
            ("worker RSS after (MB)", f"{after['VmRSS'] / MB:.1f}"),
            (f"target: growth < {TARGET_MB} MB", "met" if worst < TARGET_MB else "MISSED"),
        ]
        width = max(len(k) for k, _ in table)
        print(f"{'measure':<{width}}  value")
        for key, value in table:
            print(f"{key:<{width}}  {value}")

        print()
        print(f"campaigner pages: {ROWS:,} signatures vs 100, median of 20 requests through gunicorn")
        print(f"{'page':<32}{'100 (ms)':>10}{'big (ms)':>10}{'ratio':>8}")
        for label, path in [
            ("GET /account/petitions/<slug>", "/account/petitions/{}"),
            ("GET /petitions/<slug>/delivery", "/petitions/{}/delivery"),
        ]:
            few = median_ms(session, base + path.format(small))
            many = median_ms(session, base + path.format(big))
            print(f"{label:<32}{few:>10.1f}{many:>10.1f}{many / few:>8.2f}")

        print()
        print(
            f"public reads: {ROWS:,} signatures vs 10, median of 60 requests each, in turn, through gunicorn"
            " (COUNT_MAX_AGE=0: the count from the database every time)"
        )
        print(f"{'request':<36}{'10 (ms)':>9}{'big (ms)':>10}{'ratio':>8}")
        public = requests.Session()
        ratios = []
        for label, path in [
            ("GET /petitions/<slug>", "/petitions/{}"),
            ("GET /api/v1/petitions/<slug>", "/api/v1/petitions/{}"),
            ("GET /api/v1/petitions/<slug>/count", "/api/v1/petitions/{}/count"),
        ]:
            few, many = side_by_side_ms(public, base + path.format(ten), base + path.format(big))
            ratios.append(many / few)
            print(f"{label:<36}{few:>9.2f}{many:>10.2f}{many / few:>8.2f}")
        print(f"target: every ratio < 1.2          {'met' if max(ratios) < 1.2 else 'MISSED'}")
        if worst >= TARGET_MB:
            sys.exit(1)
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        drop_database(name)


if __name__ == "__main__":
    main()
