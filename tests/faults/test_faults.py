"""Reliability under faults (issue 5): real processes are killed, servers go away and come back.

1. The SMTP server is down while people sign: the mail worker keeps every message and retries
   it; once the server is back, each message arrives within MAIL_RETRY_MAX_DELAY, exactly once.
2. A mail worker is killed (SIGKILL) in the middle of a batch: its claims go stale and a second
   worker takes them over after MAIL_CLAIM_TIMEOUT; every message arrives, at most the one in
   flight twice.
3. A gunicorn worker is killed (SIGKILL) during a burst of signing: every signing answered
   with a 303 has its row; gunicorn replaces the worker.
4. PostgreSQL (a private instance, so the shared server is left alone) is stopped under load,
   twice: pages and /healthz answer 503 quickly, never 500 (not even for the requests caught in
   the middle of their transaction); once it is started again the same gunicorn processes answer
   200 within seconds and take signatures.

Every process is started in its own process group and stopped (SIGTERM, then SIGKILL) at the
end, whatever happened; the tables used in the session's PostgreSQL database are emptied.
Logs go to files and are shown only when an assertion fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
import requests
from aiosmtpd.controller import Controller
from flask import Flask
from flask_migrate import upgrade
from psycopg.rows import namedtuple_row

from petitions.config import _ENV as CONFIG_ENV
from petitions.extensions import db
from tests.helpers import ROOT, TABLES, Mailbox, csrf_from, free_port, make_app, make_petition, started_from

pytestmark = pytest.mark.slow

VENV_BIN = ROOT / ".venv" / "bin"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
HTTP_TIMEOUT = 10
PROBERS_PER_PATH = 5  # browsers polling each of /healthz and the petition page
RESTARTS = 2  # times the database is stopped and started under that load
START_TIMEOUT = 20

# Mail worker timings for these tests (seconds).
RETRY_BASE_DELAY = 0.5
RETRY_MAX_DELAY = 2.0
POLL_INTERVAL = 0.2
CLAIM_TIMEOUT = 3.0
SLOW_SMTP = 0.3  # each message takes this long in the slow SMTP server's DATA


# --- processes ------------------------------------------------------------------------------------


@dataclass
class Proc:
    """A child process in its own process group, its stdout and stderr in a file."""

    name: str
    popen: subprocess.Popen
    log_path: Path

    @classmethod
    def start(cls, name: str, args: list[str], env: dict[str, str], log_path: Path) -> Proc:
        """Start args in ROOT with this environment."""
        with open(log_path, "wb") as log:
            popen = subprocess.Popen(
                args,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(name, popen, log_path)

    @property
    def pid(self) -> int:
        """The process id (and process group id)."""
        return self.popen.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.popen.poll() is None

    def log(self) -> str:
        """What the process wrote so far, headed by its name."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        return f"--- {self.name} (pid {self.pid}) log:\n{text[-20000:]}"

    def tracebacks(self, limit: int = 2) -> str:
        """The first log records that carry a traceback, whole (a record ends where the next begins)."""
        lines = self.log_path.read_text(errors="replace").splitlines()
        new_record = re.compile(r"^(\[\d{4}-\d\d-\d\d |\d{4}-\d\d-\d\d )")
        starts = [i for i, line in enumerate(lines) if new_record.match(line)] + [len(lines)]
        records = ["\n".join(lines[a:b]) for a, b in pairwise(starts)]
        with_traceback = [r for r in records if "Traceback (most recent call last)" in r]
        shown = "\n".join(with_traceback[:limit])
        return f"--- {self.name}: {len(with_traceback)} record(s) with a traceback, the first {limit}:\n{shown}"

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole process group at once, and reap the process."""
        self._signal_group(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM the group; SIGKILL whatever is left after timeout seconds."""
        if self.alive():
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        self._signal_group(signal.SIGKILL)  # the master and any child it left behind
        self.popen.wait(timeout=10)


def child_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """This process's environment without any app or gunicorn setting of its own, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_") and k not in CONFIG_ENV}
    for name in ("XDG_RUNTIME_DIR", "FLASK_ENV", "APP_ENV", "WEB_CONCURRENCY", "FLASK_APP"):
        env.pop(name, None)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env["HOME"] = str(home)
    env.update(settings)
    return env


def children(pid: int) -> list[int]:
    """The ids of the processes whose parent is pid."""
    if shutil.which("pgrep") is None:
        pytest.fail("pgrep is missing: install procps (apt-get install -y procps)")
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, timeout=10, check=False)
    return sorted(int(p) for p in out.stdout.split())


def wait_until(
    check: Callable[[], Any], *, timeout: float, what: str, details: Callable[[], str] = str, every: float = 0.1
) -> Any:
    """Poll check() until it returns something true; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s\n{details()}")
        time.sleep(every)


@dataclass
class Server:
    """A gunicorn master serving the app."""

    url: str
    proc: Proc


def start_gunicorn(
    stack: contextlib.ExitStack, tmp_path: Path, database_url: str, *, workers: int = 2, threads: int = 8
) -> Server:
    """gunicorn app:app with the production config file; stopped when the stack closes."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = child_env(
        tmp_path,
        DATABASE_URL=database_url,
        SECRET_KEY=secrets.token_hex(32),
        BASE_URL=url,
        RATELIMIT_ENABLED="false",
        SIGN_MIN_SECONDS="0",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_ACCESS_LOG="/dev/null",
        GUNICORN_GRACEFUL_TIMEOUT="5",
        WEB_CONCURRENCY=str(workers),
        GUNICORN_THREADS=str(threads),
    )
    proc = Proc.start(
        "gunicorn", [str(VENV_BIN / "gunicorn"), "app:app", "-c", "gunicorn.conf.py"], env, tmp_path / "gunicorn.log"
    )
    stack.callback(proc.stop)
    server = Server(url, proc)

    def healthy() -> bool:
        if not proc.alive():
            pytest.fail(f"gunicorn exited with {proc.popen.returncode}\n{proc.log()}")
        try:
            with requests.get(f"{url}/healthz", timeout=1) as r:
                return r.status_code == 200
        except requests.RequestException:
            return False

    wait_until(healthy, timeout=START_TIMEOUT, what="gunicorn answering /healthz with 200", details=proc.log)
    wait_until(
        lambda: len(children(proc.pid)) == workers,
        timeout=START_TIMEOUT,
        what=f"gunicorn running {workers} workers",
        details=proc.log,
    )
    return server


def start_mail_worker(
    stack: contextlib.ExitStack, tmp_path: Path, name: str, database_url: str, smtp_port: int, **settings: str
) -> Proc:
    """`flask --app app mail-worker`, sending to 127.0.0.1:smtp_port; stopped when the stack closes."""
    env = child_env(
        tmp_path,
        DATABASE_URL=database_url,
        SECRET_KEY="faults-secret",
        BASE_URL="http://localhost",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(smtp_port),
        MAIL_RETRY_BASE_DELAY=str(RETRY_BASE_DELAY),
        MAIL_RETRY_MAX_DELAY=str(RETRY_MAX_DELAY),
        MAIL_POLL_INTERVAL=str(POLL_INTERVAL),
        MAIL_TIMEOUT="5",
        **settings,
    )
    proc = Proc.start(name, [str(VENV_BIN / "flask"), "--app", "app", "mail-worker"], env, tmp_path / f"{name}.log")
    stack.callback(proc.stop)
    return proc


def start_smtp(stack: contextlib.ExitStack, handler: Mailbox, port: int) -> Controller:
    """An aiosmtpd server on 127.0.0.1:port; stopped when the stack closes."""
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    stack.callback(controller.stop)
    return controller


# --- the database -------------------------------------------------------------------------------


def plain(url: str) -> str:
    """A SQLAlchemy URL as psycopg wants it."""
    return url.replace("+psycopg", "", 1)


def sql(url: str, query: str, *params: Any) -> list[Any]:
    """Run one query on its own connection; the rows, as named tuples."""
    with psycopg.connect(plain(url), autocommit=True, connect_timeout=5, row_factory=namedtuple_row) as conn:
        return conn.execute(query, params).fetchall()


def truncate(url: str) -> None:
    """Empty every table (waiting at most 10 s for locks rather than hanging)."""
    with psycopg.connect(plain(url), autocommit=True, connect_timeout=5) as conn:
        conn.execute("SET lock_timeout = '10s'")
        conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")


def outbox(url: str) -> list[Any]:
    """Every outbox row, in id order."""
    return sql(
        url,
        "SELECT id, to_addr, sent_at, failed_at, claimed_by, claimed_at, attempts, last_error"
        " FROM outbox_messages ORDER BY id",
    )


@pytest.fixture
def pg(postgres_url: str) -> Iterator[str]:
    """The session's PostgreSQL database, empty at the start, emptied at the end."""
    truncate(postgres_url)
    yield postgres_url
    truncate(postgres_url)


@pytest.fixture
def stack(pg: str) -> Iterator[contextlib.ExitStack]:
    """Cleanups (processes, SMTP servers, engines), run before the tables are emptied."""
    with contextlib.ExitStack() as cleanups:
        yield cleanups


def dispose(app: Flask) -> None:
    """Close an in-process app's database connections."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# --- signing --------------------------------------------------------------------------------------


def signing_app(stack: contextlib.ExitStack, database_url: str, tmp_path: Path) -> Flask:
    """An in-process app to sign through (queues the confirmation email; sends nothing)."""
    app = make_app(database_url, None, tmp_path, SIGN_MIN_SECONDS=0, RATELIMIT_ENABLED=False)
    stack.callback(dispose, app)
    return app


def new_petition(app: Flask) -> str:
    """An open petition; its slug."""
    with app.app_context():
        slug = make_petition().slug
        db.session.remove()
    return slug


def sign_in_process(app: Flask, slug: str, emails: list[str]) -> None:
    """Sign the petition once per address through the app's test client; each must answer 303."""
    client = app.test_client()
    for email in emails:
        page = client.get(f"/petitions/{slug}")
        assert page.status_code == 200, page.text[:2000]
        answer = client.post(
            f"/petitions/{slug}/sign",
            data={
                "name": "Sam Signer",
                "email": email,
                "country": "GB",
                "csrf_token": csrf_from(page.text),
                "started": started_from(page.text),
            },
        )
        assert (answer.status_code, urlsplit(answer.headers.get("Location", "")).path) == (
            303,
            f"/petitions/{slug}/signed",
        ), f"signing as {email}: {answer.status_code}\n{answer.text[:2000]}"


def sign_over_http(base: str, slug: str, email: str, *, timeout: float = HTTP_TIMEOUT) -> int:
    """Open the petition page in a fresh browser, then submit the form; the status of the POST (or the GET)."""
    with requests.Session() as s:
        with s.get(f"{base}/petitions/{slug}", timeout=timeout) as page:
            if page.status_code != 200:
                return page.status_code
            form = {
                "csrf_token": csrf_from(page.text),
                "started": started_from(page.text),
                "name": "Sam Signer",
                "email": email,
                "country": "GB",
            }
        with s.post(f"{base}/petitions/{slug}/sign", data=form, allow_redirects=False, timeout=timeout) as answer:
            if answer.status_code == 303:
                assert urlsplit(answer.headers["Location"]).path == f"/petitions/{slug}/signed"
            return answer.status_code


# --- mail ---------------------------------------------------------------------------------------


class SlowMailbox(Mailbox):
    """A mailbox whose server takes SLOW_SMTP seconds over each message's DATA."""

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        """Keep the message after a pause, as a slow server would."""
        await asyncio.sleep(SLOW_SMTP)
        return await super().handle_DATA(server, session, envelope)


def received(mailbox: Mailbox) -> list[Any]:
    """A copy of what the mailbox holds now."""
    with mailbox.lock:
        return list(mailbox.messages)


def outbox_id(msg: Any) -> int:
    """The outbox row a delivered message came from (its Message-ID is <outbox-ID.TIMESTAMP@domain>)."""
    match = re.fullmatch(r"<outbox-(\d+)\.\d+@[^>]+>", str(msg["Message-ID"]).strip())
    assert match, f"unexpected Message-ID {msg['Message-ID']!r}"
    return int(match.group(1))


# --- 1. SMTP down for a while ---------------------------------------------------------------------


def test_mail_queued_while_smtp_is_down_is_delivered_once_when_it_is_back(
    pg: str, stack: contextlib.ExitStack, tmp_path: Path
) -> None:
    smtp_port = free_port()  # nothing listens here until the end
    worker = start_mail_worker(stack, tmp_path, "mail-worker", pg, smtp_port)
    app = signing_app(stack, pg, tmp_path)
    slug = new_petition(app)

    # 30 people sign while the SMTP server is unreachable: every signing is answered.
    emails = [f"down{i}@example.org" for i in range(30)]
    sign_in_process(app, slug, emails)

    # The worker fails, keeps every message and retries it (attempts >= 2 means a retry failed too).
    def all_retried() -> bool:
        rows = outbox(pg)
        return len(rows) == len(emails) and all(r.attempts >= 2 for r in rows)

    wait_until(
        all_retried,
        timeout=15,
        what="every message tried and retried while SMTP is down",
        details=lambda: f"{outbox(pg)}\n{worker.log()}",
    )
    rows = outbox(pg)
    assert sorted(r.to_addr for r in rows) == sorted(emails)
    assert all(r.sent_at is None and r.failed_at is None for r in rows), rows
    assert all(r.last_error for r in rows), rows
    assert worker.alive(), worker.log()

    # The SMTP server comes up: everything arrives within the longest retry delay, plus slack.
    mailbox = Mailbox()
    start_smtp(stack, mailbox, smtp_port)
    up = time.monotonic()
    limit = RETRY_MAX_DELAY + 4
    wait_until(
        lambda: len(received(mailbox)) >= len(emails),
        timeout=limit,
        what=f"all {len(emails)} messages delivered once SMTP is back",
        details=lambda: f"received {len(received(mailbox))}\n{outbox(pg)}\n{worker.log()}",
    )
    took = time.monotonic() - up
    time.sleep(1)  # a duplicate would arrive now

    messages = received(mailbox)
    ids = Counter(str(m["Message-ID"]) for m in messages)
    assert [mid for mid, n in ids.items() if n > 1] == [], f"delivered twice: {ids}\n{worker.log()}"
    assert sorted(str(m["To"]) for m in messages) == sorted(emails)
    assert {outbox_id(m) for m in messages} == {r.id for r in rows}
    rows = outbox(pg)
    assert all(r.sent_at is not None and r.claimed_by is None and r.failed_at is None for r in rows), rows
    assert worker.alive(), worker.log()
    assert "Traceback" not in worker.log(), worker.log()
    print(
        f"SMTP down: {len(emails)} messages kept through {max(r.attempts for r in rows)} attempts;"
        f" all delivered {took:.1f} s after SMTP came back"
    )


# --- 2. a mail worker killed in the middle of a batch -------------------------------------------------


def test_a_killed_mail_workers_claims_are_taken_over_and_every_message_is_delivered(
    pg: str, stack: contextlib.ExitStack, tmp_path: Path
) -> None:
    mailbox = SlowMailbox()
    smtp_port = free_port()
    start_smtp(stack, mailbox, smtp_port)
    app = signing_app(stack, pg, tmp_path)
    slug = new_petition(app)
    emails = [f"kill{i}@example.org" for i in range(40)]
    sign_in_process(app, slug, emails)
    all_ids = {r.id for r in outbox(pg)}
    assert len(all_ids) == len(emails)

    # One worker with one sender claims all 40 in one batch and sends them slowly; it is killed a few
    # messages in. (With MAIL_SENDERS senders, as many messages can be in flight, one per sender.)
    settings = {"MAIL_BATCH_SIZE": "50", "MAIL_CLAIM_TIMEOUT": str(CLAIM_TIMEOUT), "MAIL_SENDERS": "1"}
    first = start_mail_worker(stack, tmp_path, "mail-worker-1", pg, smtp_port, **settings)
    wait_until(lambda: len(received(mailbox)) >= 4, timeout=20, what="the first worker sending", details=first.log)
    first.kill()
    at_kill = len(received(mailbox))

    rows = outbox(pg)
    stuck = [r for r in rows if r.sent_at is None]
    assert stuck, f"the first worker sent everything before it was killed:\n{rows}"
    assert all(r.claimed_by is not None and f":{first.pid}:" in r.claimed_by for r in stuck), (
        f"unsent rows not claimed by the killed worker {first.pid}:\n{stuck}"
    )
    assert len(rows) - len(stuck) <= at_kill + 1, rows
    claimed_at = max(r.claimed_at for r in stuck)

    # A second worker takes the dead worker's claims over once they are CLAIM_TIMEOUT old.
    second = start_mail_worker(stack, tmp_path, "mail-worker-2", pg, smtp_port, **settings)
    wait_until(
        lambda: all(r.sent_at is not None for r in outbox(pg)),
        timeout=45,
        what="the second worker sending everything left",
        details=lambda: f"{outbox(pg)}\n{first.log()}\n{second.log()}",
        every=0.2,
    )
    time.sleep(SLOW_SMTP + 0.5)  # anything still in flight lands

    messages = received(mailbox)
    delivered = Counter(outbox_id(m) for m in messages)
    assert set(delivered) == all_ids, f"never delivered: {sorted(all_ids - set(delivered))}"
    twice = {i: n for i, n in delivered.items() if n > 1}
    assert len(twice) <= 1 and all(n == 2 for n in twice.values()), (
        f"more than the message in flight was delivered again: {twice}\n{first.log()}\n{second.log()}"
    )
    rows = outbox(pg)
    assert all(r.sent_at is not None and r.claimed_by is None and r.failed_at is None for r in rows), rows
    taken_over = [r for r in rows if r.id in {s.id for s in stuck}]
    earliest = min(r.sent_at for r in taken_over)
    assert (earliest - claimed_at).total_seconds() >= CLAIM_TIMEOUT - 0.1, (
        f"a claim was taken over before it was {CLAIM_TIMEOUT} s old: claimed {claimed_at}, re-sent {earliest}"
    )
    assert second.alive(), second.log()
    assert "Traceback" not in second.log(), second.log()
    print(
        f"worker killed after {at_kill} of {len(all_ids)} messages ({len(stuck)} left claimed);"
        f" the second worker delivered the rest; delivered twice: {twice or 'none'}"
    )


# --- 3. a gunicorn worker killed during a burst of signing ---------------------------------------------


def test_no_acknowledged_signature_is_lost_when_a_gunicorn_worker_is_killed(
    pg: str, stack: contextlib.ExitStack, tmp_path: Path
) -> None:
    app = signing_app(stack, pg, tmp_path)
    slug = new_petition(app)
    server = start_gunicorn(stack, tmp_path, pg, workers=2, threads=8)
    before = children(server.proc.pid)

    burst = 4.0
    start = time.monotonic()
    stop_at = start + burst

    def signer(k: int) -> list[tuple[str, int | str, float]]:
        outcomes = []
        i = 0
        while time.monotonic() < stop_at:
            email = f"burst{k}-{i}@example.org"
            i += 1
            try:
                status: int | str = sign_over_http(server.url, slug, email)
            except requests.RequestException as exc:
                status = type(exc).__name__
            outcomes.append((email, status, time.monotonic()))
        return outcomes

    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(signer, k) for k in range(16)]
        time.sleep(burst / 2)
        victim = before[0]
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        outcomes = [o for f in futures for o in f.result(timeout=burst + 3 * HTTP_TIMEOUT)]

    # gunicorn replaced the worker, and the site answers.
    after = wait_until(
        lambda: (c := children(server.proc.pid)) and len(c) == 2 and victim not in c and c,
        timeout=15,
        what="gunicorn replacing the killed worker",
        details=server.proc.log,
    )
    assert server.proc.alive(), server.proc.log()
    with requests.get(f"{server.url}/healthz", timeout=HTTP_TIMEOUT) as r:
        assert r.status_code == 200

    acknowledged = [email for email, status, _ in outcomes if status == 303]
    errors = Counter(status for _, status, _ in outcomes if isinstance(status, str))
    answered_otherwise = [(email, status) for email, status, _ in outcomes if isinstance(status, int) and status != 303]
    stored = {r.email_normalized for r in sql(pg, "SELECT email_normalized FROM signatures")}
    lost = [email for email in acknowledged if email not in stored]
    assert not lost, f"{len(lost)} acknowledged signatures have no row, e.g. {lost[:5]}\n{server.proc.log()}"
    assert not answered_otherwise, f"answers other than 303: {answered_otherwise[:10]}\n{server.proc.log()}"
    assert len(acknowledged) >= 50, f"only {len(acknowledged)} signings went through\n{server.proc.log()}"
    assert any(status == 303 and t > killed_at + 0.5 for _, status, t in outcomes), "no signing after the kill"
    assert "Traceback" not in server.proc.log(), server.proc.log()
    unacknowledged_stored = sum(1 for email, status, _ in outcomes if status != 303 and email in stored)
    print(
        f"gunicorn worker {victim} killed; workers {before} -> {after}; {len(outcomes)} signings:"
        f" {len(acknowledged)} acknowledged (all stored), errors {dict(errors)},"
        f" {unacknowledged_stored} unacknowledged but stored"
    )


# --- 4. the database restarted under load ---------------------------------------------------------------


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


# --- 5. a pooled connection closed by the server -----------------------------------------------------


def test_a_pooled_connection_that_postgresql_closed_is_replaced_at_checkout_without_an_error(
    pg: str, tmp_path: Path
) -> None:
    """No pre-ping round trip: the socket of an idle pooled connection tells that the server hung up."""
    app = make_app(pg, None, tmp_path)
    client = app.test_client()
    try:
        assert client.get("/healthz").status_code == 200
        with app.app_context():
            pid = db.session.execute(db.text("SELECT pg_backend_pid()")).scalar()
            db.session.remove()  # back in the pool, idle
        with psycopg.connect(pg.replace("+psycopg", ""), autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
            deadline = time.monotonic() + 5
            while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0]:
                assert time.monotonic() < deadline, "the backend did not end"
                time.sleep(0.05)
        for _ in range(3):  # not one 503: the dead connection is dropped and a new one made
            response = client.get("/healthz")
            assert response.status_code == 200, response.text
        with app.app_context():
            assert db.session.execute(db.text("SELECT pg_backend_pid()")).scalar() != pid
    finally:
        with app.app_context():
            db.engine.dispose()


def test_pooled_connections_are_checked_while_the_process_holds_more_than_1024_files(pg: str, tmp_path: Path) -> None:
    """An event-stream process holds a thousand client sockets, so a database connection it makes
    then has a descriptor above 1023, which select() cannot watch: checking it out must still work
    (found by `make bench`: 1,000 streams, then every new connection failed its checkout)."""
    import resource

    from tests.helpers import make_petition, sign_form

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2000:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(2000, hard), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    app = make_app(pg, None, tmp_path)
    client = app.test_client()
    try:
        for _ in range(3):  # made, returned, checked out again (twice)
            response = client.get("/healthz")
            assert response.status_code == 200, response.text
        with app.app_context():
            assert db.session.connection().connection.dbapi_connection.pgconn.socket >= 1024
            slug = make_petition().slug
        for n in range(3):  # the autocommit pool's connection, made and checked out again
            assert sign_form(client, slug, email=f"many-files-{n}@example.org").status_code == 303
    finally:
        for fd in held:
            os.close(fd)
        with app.app_context():
            db.engine.dispose()


def test_signing_and_confirming_survive_postgresql_closing_their_one_statement_connections(
    pg: str, tmp_path: Path
) -> None:
    """The hot writes' own pool (autocommit, see database.AutocommitStatement) replaces dead connections too."""
    from petitions.models import OutboxMessage, Signature
    from petitions.signatures import signing
    from tests.helpers import csrf_from, make_petition, sign_form

    app = make_app(pg, None, tmp_path)
    client = app.test_client()
    try:
        with app.app_context():
            slug = make_petition().slug
        assert sign_form(client, slug, email="first@example.org").status_code == 303
        with psycopg.connect(pg.replace("+psycopg", ""), autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            deadline = time.monotonic() + 5
            while admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()[0]:
                assert time.monotonic() < deadline, "the backends did not end"
                time.sleep(0.05)
        assert sign_form(client, slug, email="second@example.org").status_code == 303
        with app.app_context():
            signatures = db.session.scalars(db.select(Signature).order_by(Signature.id)).all()
            assert [s.email for s in signatures] == ["first@example.org", "second@example.org"]
            assert db.session.scalar(db.select(db.func.count()).select_from(OutboxMessage)) == 2
            token = signing.confirmation_token(signatures[1])
        page = client.get(f"/verify/{token}").text
        assert client.post(f"/verify/{token}", data={"csrf_token": csrf_from(page)}).status_code == 303
        with app.app_context():
            assert db.session.scalar(db.text("SELECT signature_count FROM petitions")) == 1
            db.session.remove()
            db.engine.dispose()
            assert "engine" not in app.extensions["statement_engine"]  # disposed with the main engine
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_hot_write_answers_driver_errors_as_sqlalchemy_does(pg: str, tmp_path: Path) -> None:
    """AutocommitStatement skips SQLAlchemy's execution but not its error handling: an error of the
    statement comes as SQLAlchemy's exception with the connection kept; a connection the server
    ends mid-statement comes as OperationalError, is thrown away, and the next run gets a new one."""
    from sqlalchemy import exc, text

    from petitions.infra.database import AutocommitStatement

    app = make_app(pg, None, tmp_path)
    try:
        with app.app_context():
            divide = AutocommitStatement(text("SELECT pg_backend_pid() AS pid, 1 / :d AS q"))
            sleep = AutocommitStatement(text("SELECT pg_backend_pid() AS pid, pg_sleep(:seconds) AS slept"))
            with pytest.raises(exc.InvalidRequestError, match="'d'"):  # refused, as SQLAlchemy does, not sent as NULL
                divide.first({})
            pid = divide.first({"d": 1}).pid
            with pytest.raises(exc.DataError) as error:
                divide.first({"d": 0})
            assert not error.value.connection_invalidated
            assert divide.first({"d": 1}) == (pid, 1)  # the same connection, fine after the error

            def end_backend() -> None:
                with psycopg.connect(pg.replace("+psycopg", ""), autocommit=True) as admin:
                    deadline = time.monotonic() + 5
                    while not admin.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND query LIKE '%%pg_sleep%%'", (pid,)
                    ).fetchone()[0]:
                        assert time.monotonic() < deadline, "the statement did not start"
                        time.sleep(0.02)
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

            killer = threading.Thread(target=end_backend)
            killer.start()
            with pytest.raises(exc.OperationalError) as error:
                sleep.first({"seconds": 10.0})
            killer.join()
            assert error.value.connection_invalidated
            assert sleep.first({"seconds": 0.0}).pid != pid  # a new connection, without restarting anything
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_hot_write_sends_typed_values_and_constants_the_same_way_every_time(pg: str, tmp_path: Path) -> None:
    """Constants (a JSON literal) are made ready for the driver once and sent unchanged on every run;
    each run's values still go through their types (JSON, the UTC datetime type), as SQLAlchemy would."""
    from datetime import UTC, datetime

    from sqlalchemy import JSON, bindparam, literal, select

    from petitions.infra.database import AutocommitStatement
    from petitions.models.types import UTCDateTime

    app = make_app(pg, None, tmp_path)
    try:
        with app.app_context():
            statement = AutocommitStatement(
                select(
                    literal({"kind": "constant"}, JSON).label("fixed"),
                    bindparam("doc", type_=JSON).label("doc"),
                    bindparam("at", type_=UTCDateTime()).label("at"),
                )
            )
            moment = datetime(2026, 11, 27, 10, 30, tzinfo=UTC)
            for n in range(3):
                row = statement.first({"doc": {"n": n, "name": "Zoë"}, "at": moment})
                assert row.fixed == {"kind": "constant"}
                assert row.doc == {"n": n, "name": "Zoë"}
                assert row.at.replace(tzinfo=UTC) == moment
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_confirmation_while_the_database_is_unreachable_answers_503(tmp_path: Path) -> None:
    """The one-statement confirmation is often a process's first use of the database: a failed
    connect there is the database's unavailability (503, try again), not a crash (500)."""
    from petitions.infra import tokens
    from petitions.signatures import signing

    app = make_app("postgresql+psycopg://postgres@127.0.0.1:1/nowhere", None, tmp_path, WTF_CSRF_ENABLED=False)
    with app.app_context():
        token = signing._token(1, signing._email_digest("someone@example.org"), tokens.CONFIRM_SIGNATURE)
    response = app.test_client().post(f"/verify/{token}")
    assert response.status_code == 503, response.text
    assert "try again" in response.text


def test_a_dead_pooled_connection_is_seen_under_gevent(postgres_url: str) -> None:
    """The event-stream instance runs gevent, which replaces select.poll with its own: the check at
    checkout must still tell an idle connection from one the server ended."""
    script = f"""
from gevent import monkey
monkey.patch_all()
import psycopg, time
from petitions.infra.database import still_connected
conn = psycopg.connect({plain(postgres_url)!r}, autocommit=True)
print("idle", still_connected(conn))
with psycopg.connect({plain(postgres_url)!r}, autocommit=True) as admin:
    admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
time.sleep(0.3)
print("ended", still_connected(conn))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["idle", "True", "ended", "False"], out.stdout + out.stderr
