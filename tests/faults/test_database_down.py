"""The database goes away and comes back.

PostgreSQL (a private instance, so the shared server is left alone) is stopped under load, twice:
pages and /healthz answer 503 quickly, never 500 (not even for the requests caught in the middle
of their transaction); once it is started again the same gunicorn processes answer 200 within
seconds and take signatures. A database that cannot be reached at all is a 503 too.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import requests
from flask_migrate import upgrade

from petitions.extensions import db
from tests.faults.helpers import HTTP_TIMEOUT, children, dispose, sign_over_http, sql, start_gunicorn, wait_until
from tests.helpers import ROOT, free_port, make_app, make_petition

pytestmark = pytest.mark.slow

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PROBERS_PER_PATH = 5  # browsers polling each of /healthz and the petition page
RESTARTS = 2  # times the database is stopped and started under that load


@dataclass
class PrivatePostgres:
    """A PostgreSQL server of our own, in a temporary directory."""

    root: Path
    port: int
    as_postgres: list[str]

    @property
    def data(self) -> Path:
        """The data directory."""
        return self.root / "data"

    @property
    def url(self) -> str:
        """The application's database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/petitions"

    def run(self, *args: str, timeout: float = 60) -> None:
        """Run a PostgreSQL program as the postgres user; fail with its output if it fails."""
        cmd = [*self.as_postgres, *args]
        try:
            done = subprocess.run(cmd, cwd=self.root, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"{' '.join(cmd)} took over {timeout} s\n{exc.stdout}\n{exc.stderr}\n{self.log()}")
        if done.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} exited {done.returncode}\n{done.stdout}\n{done.stderr}\n{self.log()}")

    def start(self) -> None:
        """Start the server and wait until it takes connections."""
        self.run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "postgres.log"),
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
            "-w",
            "-t",
            "30",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server and wait until it is gone."""
        self.run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "stop", "-m", mode, "-w", "-t", "30")

    def running(self) -> bool:
        """True while the server's pid file is there."""
        return (self.data / "postmaster.pid").exists()

    def log(self) -> str:
        """The server's log."""
        path = self.root / "postgres.log"
        return f"--- postgres log:\n{path.read_text(errors='replace')[-10000:]}" if path.exists() else ""


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL 15 with a `petitions` database; stopped and deleted afterwards."""
    for tool in ("initdb", "pg_ctl"):
        if not (PG_BIN / tool).exists():
            pytest.fail(f"{PG_BIN / tool} is missing: install postgresql-15 (apt-get install -y postgresql-15)")
    as_postgres: list[str] = []
    owner = None
    if os.geteuid() == 0:  # initdb refuses to run as root
        if shutil.which("runuser") is None:
            pytest.fail("runuser is missing (util-linux): needed to run initdb as the postgres user")
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("there is no 'postgres' user to run a private PostgreSQL server as")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    # Not under pytest's tmp_path: its parent is private to root, and the postgres user must get in.
    root = Path(tempfile.mkdtemp(prefix="petitions-pg-"))
    server = PrivatePostgres(root, free_port(), as_postgres)
    try:
        if owner is not None:
            os.chown(root, owner.pw_uid, owner.pw_gid)
        server.run(
            str(PG_BIN / "initdb"),
            "-D",
            str(server.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
            "--no-instructions",
        )
        server.start()
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{server.port}/postgres", autocommit=True, connect_timeout=5
        ) as admin:
            admin.execute("CREATE DATABASE petitions")
        yield server
    finally:
        if server.running():
            with contextlib.suppress(Exception):
                server.run(str(PG_BIN / "pg_ctl"), "-D", str(server.data), "stop", "-m", "immediate", "-w", "-t", "30")
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class Probe:
    """One request made while the database went down and came back."""

    path: str
    started: float
    ended: float
    status: int | str
    body: str = ""


@dataclass
class Outage:
    """When one stop and start of the database happened (time.monotonic()), and what was seen."""

    stopping: float  # pg_ctl stop called
    down: float  # ... and returned: the server is gone
    health_down: tuple[int, str]
    page_down: tuple[int, str]
    starting: float  # pg_ctl start called
    up: float  # ... and returned: the server takes connections
    back: float  # the site answered 200 on every path again


def test_the_site_answers_503_while_the_database_is_down_and_recovers_without_a_restart(
    private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    with contextlib.ExitStack() as stack:
        app = make_app(private_pg.url, None, tmp_path)
        stack.callback(dispose, app)
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
            slug = make_petition().slug
            db.session.remove()
            db.engine.dispose()
        server = start_gunicorn(stack, tmp_path, private_pg.url, workers=2, threads=8)
        workers = children(server.proc.pid)
        paths = ["/healthz", f"/petitions/{slug}"]
        stop = threading.Event()

        def prober(path: str) -> list[Probe]:
            probes = []
            with requests.Session() as s:
                while not stop.is_set():
                    started = time.monotonic()
                    try:
                        with s.get(server.url + path, timeout=5) as r:
                            status: int | str = r.status_code
                            body = r.text[:300] if r.status_code != 200 else ""
                    except requests.RequestException as exc:
                        status, body = type(exc).__name__, str(exc)[:300]
                    probes.append(Probe(path, started, time.monotonic(), status, body))
                    stop.wait(0.01)
            return probes

        def details() -> str:
            return f"{server.proc.tracebacks()}\n{private_pg.log()}"

        def get(path: str) -> tuple[int, str]:
            with requests.get(server.url + path, timeout=HTTP_TIMEOUT) as r:
                return r.status_code, r.text

        def recovered() -> bool:
            return all(get(path)[0] == 200 for path in paths)

        def outage() -> Outage:
            stopping = time.monotonic()
            private_pg.stop("fast")
            down = time.monotonic()
            time.sleep(1.5)
            health_down, page_down = get("/healthz"), get(paths[1])
            starting = time.monotonic()
            private_pg.start()
            up = time.monotonic()
            wait_until(
                recovered,
                timeout=10,
                what="the site answering 200 after the database came back",
                details=details,
                every=0.2,
            )
            back = time.monotonic()
            time.sleep(1)
            return Outage(stopping, down, health_down, page_down, starting, up, back)

        # Several browsers on each page, so that requests are in the middle of their transactions
        # when the database goes away; it does so RESTARTS times.
        with ThreadPoolExecutor(PROBERS_PER_PATH * len(paths)) as pool:
            futures = [pool.submit(prober, path) for path in paths * PROBERS_PER_PATH]
            try:
                time.sleep(1)
                outages = [outage() for _ in range(RESTARTS)]
            finally:
                stop.set()
            probes = [p for f in futures for p in f.result(timeout=30)]

        for n, o in enumerate(outages):
            # While the database is down: 503 at once, a JSON answer from /healthz, the plain page elsewhere.
            assert o.health_down[0] == 503, f"/healthz with the database down: {o.health_down}\n{details()}"
            assert '"database":"down"' in o.health_down[1].replace(" ", ""), o.health_down[1]
            assert o.page_down[0] == 503, f"the page with the database down: {o.page_down[0]}\n{o.page_down[1][:2000]}"
            assert "Service unavailable" in o.page_down[1], o.page_down[1][:2000]
            previous = outages[n - 1].back if n else 0.0
            upto = outages[n + 1].stopping if n + 1 < len(outages) else float("inf")
            before = [p for p in probes if previous < p.started and p.ended < o.stopping]
            during = [p for p in probes if p.started > o.down and p.ended < o.starting]
            after = [p for p in probes if o.back < p.started and p.ended < upto]
            assert before and all(p.status == 200 for p in before), [p for p in before if p.status != 200]
            assert {p.path for p in during} == set(paths), during
            assert all(p.status == 503 for p in during), [p for p in during if p.status != 503]
            slowest = max(p.ended - p.started for p in during)
            assert slowest < 2, f"a request took {slowest:.1f} s to answer with the database down"
            # Back up: the same processes recovered by themselves.
            assert {p.path for p in after} == set(paths), after
            assert all(p.status == 200 for p in after), [p for p in after if p.status != 200]
            print(
                f"outage {n + 1}: database down {o.starting - o.down:.1f} s, {len(during)} requests answered 503"
                f" (slowest {slowest:.2f} s); up {o.up - o.starting:.1f} s after pg_ctl start,"
                f" the site answered 200 {o.back - o.up:.2f} s later"
            )

        # The same gunicorn processes throughout, and they take signatures again.
        assert server.proc.alive() and children(server.proc.pid) == workers, details()
        assert sign_over_http(server.url, slug, "after-restart@example.org") == 303, details()
        assert (
            sql(
                private_pg.url,
                "SELECT count(*) AS n FROM signatures WHERE email_normalized = %s",
                "after-restart@example.org",
            )[0].n
            == 1
        )
        print(f"same gunicorn workers {workers} throughout; {len(probes)} requests in all")

        # And at no moment, not even the instant the database went away, an error page or no answer.
        wrong = [p for p in probes if p.status not in (200, 503)]
        moments = ", ".join(f"{o.stopping:.2f}-{o.down:.2f}" for o in outages)
        assert not wrong, (
            f"{len(wrong)} of {len(probes)} requests answered other than 200 or 503 (or not at all);"
            f" the database was being stopped at {moments}:\n"
            + "\n".join(f"  {p.path}: {p.status} ({p.started:.2f}-{p.ended:.2f}) {p.body[:120]!r}" for p in wrong[:10])
            + f"\n{details()}"
        )


def test_a_confirmation_while_the_database_is_unreachable_answers_503(tmp_path: Path) -> None:
    """The one-statement confirmation is often a process's first use of the database: a failed
    connect there is the database's unavailability (503, try again), not a crash (500)."""
    from petitions.infra import tokens
    from petitions.signatures import links

    app = make_app("postgresql+psycopg://postgres@127.0.0.1:1/nowhere", None, tmp_path, WTF_CSRF_ENABLED=False)
    with app.app_context():
        token = links.token_for(1, links.email_digest("someone@example.org"), tokens.CONFIRM_SIGNATURE)
    response = app.test_client().post(f"/verify/{token}")
    assert response.status_code == 503, response.text
    assert "try again" in response.text
