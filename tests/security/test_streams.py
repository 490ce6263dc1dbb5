"""Live-count streams cannot take the site down: each process holds only so many, the rest are told to poll.

Under gunicorn's threaded workers an open event stream holds a thread; ten readers used to take
every thread of the shipped configuration, and /healthz stopped answering. Now a process holds
at most SSE_MAX_STREAMS streams (by default half its threads), answers every reader beyond that
at once with the count and a `busy` event, and the widget polls the cached count instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import runpy
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from unittest import mock

import pytest
import requests
from flask import Flask
from playwright.sync_api import Browser, expect

from petitions import create_app
from petitions.clock import utcnow
from petitions.config import ConfigError
from petitions.extensions import db
from petitions.models import Petition
from petitions.signatures import confirming, signing
from tests.counting.test_concurrency import _held, _workers
from tests.helpers import ROOT, LiveServer, free_port, make_app, make_petition

READERS = 200
T = TypeVar("T")


def confirm_one(app: Flask, email: str) -> None:
    """A confirmed signature on the app's one petition, committed."""
    with app.app_context():
        petition = db.session.scalar(db.select(Petition))
        s = signing.sign(petition, signing.SignatureData("A", email, "GB"), now=utcnow(), ip=None)
        confirming.confirm(s, now=utcnow())
        db.session.commit()


def first_events(response, n: int) -> list[str]:
    """The first n chunks a streamed test-client response sends."""
    chunks = iter(response.response)
    return [chunk.decode() if isinstance(chunk, bytes) else chunk for _, chunk in zip(range(n), chunks, strict=False)]


def events_in(text: str) -> list[tuple[str, dict]]:
    """(name, data) of each event in an SSE body."""
    return [(m.group(1), json.loads(m.group(2))) for m in re.finditer(r"event: (\w+)\ndata: (.*)\n\n", text)]


# --- the limit, in one process ------------------------------------------------------------------


def test_a_process_holds_its_limit_of_streams_and_answers_the_next_reader_at_once(app: Flask, client) -> None:
    app.config["SSE_MAX_STREAMS"] = 2
    with app.app_context():
        slug = make_petition().slug
    url = f"/petitions/{slug}/events"
    held = [client.get(url), client.get(url)]
    try:
        for response in held:
            assert response.status_code == 200 and "Retry-After" not in response.headers
            assert first_events(response, 2)[1].startswith("event: count")

        started = time.monotonic()
        refused = client.get(url)
        assert time.monotonic() - started < 2
        assert refused.status_code == 200 and refused.mimetype == "text/event-stream"
        assert 15 <= int(refused.headers["Retry-After"]) <= 45
        assert refused.headers["Access-Control-Allow-Origin"] == "*"
        body = refused.get_data(as_text=True)  # the whole answer: it ends at once
        assert re.match(r"retry: (\d+)\n\n", body).group(1) == str(int(refused.headers["Retry-After"]) * 1000)
        (count, doc), (busy, hint) = events_in(body)
        assert (count, busy) == ("count", "busy")
        assert doc["slug"] == slug and doc["signature_count"] == 0
        assert hint == {"retry_after": int(refused.headers["Retry-After"])}
    finally:
        held[0].close()

    # A closed stream gives its place back, whether it had sent anything or not.
    again = client.get(url)
    assert "Retry-After" not in again.headers
    again.close()  # never read
    held[1].close()
    for _ in range(2):
        reopened = client.get(url)
        assert "Retry-After" not in reopened.headers
        reopened.close()
    assert app.extensions["count_hub"].streams == 0


def test_no_streams_at_all_when_the_limit_is_zero(app: Flask, client) -> None:
    app.config["SSE_MAX_STREAMS"] = 0
    with app.app_context():
        slug = make_petition().slug
    response = client.get(f"/petitions/{slug}/events")
    assert "Retry-After" in response.headers
    assert [name for name, _ in events_in(response.get_data(as_text=True))] == ["count", "busy"]
    assert client.get("/petitions/nope/events").status_code == 404


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, 1),  # gunicorn.conf.py's 2 threads: one for a stream, one for pages
        ({"GUNICORN_THREADS": "8"}, 4),
        ({"GUNICORN_THREADS": "1"}, 0),  # a stream would take the process's only thread
        ({"GUNICORN_WORKER_CLASS": "gevent"}, None),  # greenlets: no limit
        ({"SSE_MAX_STREAMS": "50"}, 50),
        ({"SSE_MAX_STREAMS": "0", "GUNICORN_WORKER_CLASS": "gevent"}, 0),
    ],
)
def test_the_default_limit_follows_the_workers(monkeypatch, tmp_path: Path, environ: dict, expected) -> None:
    for name in ("GUNICORN_THREADS", "GUNICORN_WORKER_CLASS", "SSE_MAX_STREAMS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite"})
    assert app.config["SSE_MAX_STREAMS"] == expected


def test_a_negative_limit_is_refused_at_start(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SSE_MAX_STREAMS", "-1")
    with pytest.raises(ConfigError, match="SSE_MAX_STREAMS must be 0 or more"):
        create_app({"SECRET_KEY": "x", "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite"})


# --- the shipped gunicorn under hundreds of readers ---------------------------------------------


@dataclass
class Site:
    """gunicorn app:app with the shipped gunicorn.conf.py and nothing else but its address."""

    url: str
    port: int
    proc: subprocess.Popen
    log_path: Path
    app: Flask  # the same database, in this process, to change the count
    slug: str

    def workers(self) -> list[int]:
        """The worker processes' ids."""
        return _workers(self.proc.pid)

    def all_listening(self, expected: int) -> bool:
        """True once the expected number of workers each listen on the port (with SO_REUSEPORT, a
        worker not yet listening gets no connection)."""
        workers = self.workers()
        return len(workers) == expected and all(_held(pid, self.port, "listen") for pid in workers)


@contextlib.contextmanager
def serve(database_url: str, tmp_path: Path, **settings: str) -> Iterator[Site]:
    """`gunicorn app:app` with the shipped gunicorn.conf.py, its own address and `settings` the only
    environment it is given; stopped afterwards."""
    app = make_app(database_url, None, tmp_path)
    with app.app_context():
        slug = make_petition().slug
        db.session.remove()
    port = free_port()
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "SSE_")) and k != "WEB_CONCURRENCY"}
    env.pop("XDG_RUNTIME_DIR", None)
    env.update(
        HOME=str(home),
        DATABASE_URL=database_url,
        SECRET_KEY=secrets.token_hex(32),
        BASE_URL=f"http://127.0.0.1:{port}",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_ACCESS_LOG="",
        **settings,
    )
    with mock.patch.dict(os.environ, env, clear=True):
        workers = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["workers"]  # as many as the shipped file starts
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "app:app", "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    site = Site(f"http://127.0.0.1:{port}", port, proc, log_path, app, slug)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"gunicorn exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
            try:
                if requests.get(f"{site.url}/healthz", timeout=1).status_code == 200 and site.all_listening(workers):
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.1)
        yield site
    finally:
        if proc.poll() is None:
            # A quick shutdown: with streams still open, SIGTERM's graceful one waits out graceful_timeout
            # (20 s) for nothing the tests look at.
            proc.send_signal(signal.SIGQUIT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    """The site as a bare `gunicorn app:app` serves it: the shipped workers and threads.

    But for the time a stopping worker is given: its threads stay blocked on the streams still open
    until the master kills it, and the shipped 20 s would only make each test wait that long.
    """
    with serve(database_url, tmp_path, GUNICORN_GRACEFUL_TIMEOUT="2") as site:
        yield site


@pytest.fixture
def gevent_site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    """The event-stream instance of the README: gevent workers."""
    with serve(database_url, tmp_path, GUNICORN_WORKER_CLASS="gevent", WEB_CONCURRENCY="2") as site:
        yield site


@dataclass
class Reader:
    """One reader's connection to /events and what it was answered."""

    kind: str  # "stream" (held open), "busy" (answered and ended), "none" (no answer in time)
    seconds: float
    body: str
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None


async def open_reader(port: int, path: str) -> Reader:
    """Connect as an EventSource does and wait for the first answer: a held stream or a whole busy answer."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    try:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
    except asyncio.CancelledError:  # no answer in time: hang up
        writer.close()
        raise
    assert head.startswith("http/1.1 200"), head
    length = re.search(r"\ncontent-length: (\d+)", head)
    if length:  # answered in full
        body = (await reader.readexactly(int(length.group(1)))).decode()
        writer.close()
        return Reader("busy", time.monotonic() - started, body)
    body = ""
    while not re.search(r"event: count\ndata: .*\n\n", body):  # within the chunked framing
        body += (await reader.read(4096)).decode(errors="replace")
    return Reader("stream", time.monotonic() - started, body, reader, writer)


async def until_count(r: Reader, n: int) -> None:
    """Read a held stream until it sends signature_count n."""
    while f'"signature_count": {n},' not in r.body:
        chunk = await r.reader.read(4096)
        if not chunk:
            raise AssertionError(f"the stream ended: {r.body!r}")
        r.body += chunk.decode(errors="replace")


def timed_get(url: str) -> tuple[int | str, float]:
    """(status or the error, seconds) of one GET with a 5-second limit."""
    started = time.monotonic()
    try:
        status: int | str = requests.get(url, timeout=5).status_code
    except requests.RequestException as exc:
        status = type(exc).__name__
    return status, time.monotonic() - started


async def with_readers(site: Site, n: int) -> tuple[list[Reader], list[tuple[str, int | str, float]]]:
    """Connect n readers to the petition's stream at once; with them connected, time a few pages,
    then confirm a signature and wait until every held stream has carried it."""
    path = f"/petitions/{site.slug}/events"

    async def one() -> Reader:
        started = time.monotonic()
        try:
            return await asyncio.wait_for(open_reader(site.port, path), 20)
        except TimeoutError:
            return Reader("none", time.monotonic() - started, "")

    readers = await asyncio.gather(*(one() for _ in range(n)))
    try:
        checks = []
        for url in ["/healthz"] * 10 + [f"/petitions/{site.slug}", f"/api/v1/petitions/{site.slug}/count"] * 3:
            status, seconds = await asyncio.to_thread(timed_get, site.url + url)
            checks.append((url, status, seconds))
        await asyncio.to_thread(confirm_one, site.app, "reader@example.org")
        held = [r for r in readers if r.kind == "stream"]
        await asyncio.wait_for(asyncio.gather(*(until_count(r, 1) for r in held)), 10)
    finally:
        for r in readers:
            if r.writer is not None:
                r.writer.close()
    return readers, checks


def run_async(coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to its end on a thread of its own: Playwright's sync API, once a browser
    test has started it, keeps an event loop running in the main thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(coroutine())).result()


@pytest.mark.slow
def test_hundreds_of_readers_leave_the_shipped_gunicorn_answering(site: Site) -> None:
    readers, checks = run_async(lambda: with_readers(site, READERS))

    kinds = [r.kind for r in readers]
    workers = site.workers()
    assert kinds.count("none") == 0, f"{kinds.count('none')} readers got no answer within 20 s"
    # One stream per worker (gunicorn.conf.py's 2 threads each): the other thread stays for pages.
    assert kinds.count("stream") == len(workers), (kinds.count("stream"), workers)
    assert kinds.count("busy") == READERS - len(workers)
    for r in readers:
        if r.kind == "busy":
            assert [name for name, _ in events_in(r.body)] == ["count", "busy"], r.body
    slow = [c for c in checks if c[1] != 200 or c[2] > 3]
    assert not slow, f"the site did not answer in time while {READERS} readers were connected: {slow}"

    # The readers turned away poll the count instead: all of them at once are answered.
    with ThreadPoolExecutor(32) as pool:
        polled = list(
            pool.map(timed_get, [f"{site.url}/api/v1/petitions/{site.slug}/count"] * (READERS - len(workers)))
        )
    assert all(status == 200 for status, _ in polled), polled


@pytest.mark.slow
def test_the_gevent_instance_holds_every_reader(gevent_site: Site) -> None:
    readers, checks = run_async(lambda: with_readers(gevent_site, READERS))

    assert [r.kind for r in readers] == ["stream"] * READERS  # every one held, and every one saw the new count
    slow = [c for c in checks if c[1] != 200 or c[2] > 3]
    assert not slow, slow


# --- the widget falls back to polling -----------------------------------------------------------


@pytest.mark.browser
def test_the_widget_polls_the_count_when_the_server_turns_its_stream_away(live: LiveServer, browser: Browser) -> None:
    live.app.config["SSE_MAX_STREAMS"] = 0
    with live.app.app_context():
        slug = make_petition().slug
    context = browser.new_context()
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        page.clock.install()
        asked: list[str] = []
        page.on("request", lambda request: asked.append(request.url.removeprefix(live.url)))
        with page.expect_response(lambda r: r.url.endswith("/events")) as refused:
            page.goto(f"{live.url}/embed/{slug}")
        assert "Retry-After" in refused.value.headers or "retry-after" in refused.value.headers
        count = page.locator("#count")
        expect(count).to_have_text("0")

        confirm_one(live.app, "reader@example.org")
        page.clock.run_for(11_000)  # the widget's polling interval, and a little more
        expect(count).to_have_text("1")
        page.clock.run_for(60_000)  # long past the stream's retry hint
        assert asked.count(f"/petitions/{slug}/events") == 1, asked  # it never tried the stream again ...
        assert asked.count(f"/api/v1/petitions/{slug}/count") >= 2, asked  # ... it polls
    finally:
        context.close()
