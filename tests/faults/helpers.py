"""What the fault tests share: real processes (gunicorn, the mail worker, an SMTP server), the
session's PostgreSQL database seen from outside the app, and signing in-process or over HTTP.

Every process is started in its own process group and stopped (SIGTERM, then SIGKILL) when its
test's exit stack closes, whatever happened. Logs go to files and are shown only when an
assertion fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
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
from psycopg.rows import namedtuple_row

from petitions.config import _ENV as CONFIG_ENV
from petitions.extensions import db
from tests.helpers import ROOT, TABLES, Mailbox, csrf_from, free_port, make_app, make_petition, started_from

VENV_BIN = ROOT / ".venv" / "bin"
HTTP_TIMEOUT = 10
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
    stack: contextlib.ExitStack,
    tmp_path: Path,
    database_url: str,
    *,
    workers: int = 2,
    threads: int = 8,
    name: str = "gunicorn",
    port: int | None = None,
    **settings: str,
) -> Server:
    """gunicorn app:app with the production config file, plus `settings`; stopped when the stack closes."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    defaults = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_hex(32),
        "BASE_URL": url,
        "RATELIMIT_ENABLED": "false",
        "SIGN_MIN_SECONDS": "0",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_ACCESS_LOG": "/dev/null",
        "GUNICORN_GRACEFUL_TIMEOUT": "5",
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_THREADS": str(threads),
    }
    env = child_env(tmp_path, **{**defaults, **settings})
    proc = Proc.start(
        name, [str(VENV_BIN / "gunicorn"), "app:app", "-c", "gunicorn.conf.py"], env, tmp_path / f"{name}.log"
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
    defaults = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "faults-secret",
        "BASE_URL": "http://localhost",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_port),
        "MAIL_RETRY_BASE_DELAY": str(RETRY_BASE_DELAY),
        "MAIL_RETRY_MAX_DELAY": str(RETRY_MAX_DELAY),
        "MAIL_POLL_INTERVAL": str(POLL_INTERVAL),
        "MAIL_TIMEOUT": "5",
    }
    env = child_env(tmp_path, **{**defaults, **settings})
    proc = Proc.start(name, [str(VENV_BIN / "flask"), "--app", "app", "mail-worker"], env, tmp_path / f"{name}.log")
    stack.callback(proc.stop)
    return proc


def start_smtp(stack: contextlib.ExitStack, handler: Mailbox, port: int) -> Controller:
    """An aiosmtpd server on 127.0.0.1:port; stopped when the stack closes."""
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    stack.callback(controller.stop)
    return controller


# --- the database ---------------------------------------------------------------------------------


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


# --- mail -----------------------------------------------------------------------------------------


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
