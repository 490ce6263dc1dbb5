"""Many people sign and confirm at once, on PostgreSQL, through gunicorn: the count stays exact.

A real server (gunicorn, 2 workers x 8 threads) takes 200 signings and 20 repeated ones from
32 threads at once; two mail workers run side by side to send the confirmations; then every
signer confirms, 50 of them pressing the button twice at the same moment. The count, the
count by country, the rows and `recount` must all agree on exactly 200.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import requests
from flask import Flask

from petitions.extensions import db
from petitions.signatures.mailboxes import normalize_email
from tests.helpers import (
    ROOT,
    TABLES,
    Mailbox,
    SMTPServer,
    csrf_from,
    free_port,
    link_in,
    make_app,
    make_petition,
    started_from,
)

pytestmark = pytest.mark.slow

SIGNERS = 200
DUPLICATE_OF = range(0, SIGNERS, 10)  # these signers' mailboxes also sign under another spelling
DOUBLE_PRESSERS = set(range(3, SIGNERS, 4))  # 50 signers press "confirm" twice at the same moment
COUNTRIES = ("GB", "FR", "DE", "US", "NL", "IE")
THREADS = 32
HTTP_TIMEOUT = 30
START_TIMEOUT = 20
VENV_BIN = ROOT / ".venv" / "bin"


def email_of(i: int) -> str:
    """The address signer i types."""
    return f"signer{i}@example.org"


def other_spelling(i: int) -> str:
    """The same mailbox as email_of(i), spelt differently: case, or a +tag."""
    return f"Signer{i}@Example.ORG" if (i // 10) % 2 == 0 else f"signer{i}+again@example.org"


def country_of(i: int) -> str:
    """Signer i's country; the six codes get unequal shares."""
    return COUNTRIES[(i * i) % len(COUNTRIES)]


def plain(url: str) -> str:
    """A SQLAlchemy URL as psycopg wants it."""
    return url.replace("+psycopg", "", 1)


def sql(url: str, query: str, *params) -> list[tuple]:
    """Run one query on its own connection; the rows."""
    with psycopg.connect(plain(url), autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


# --- the server -------------------------------------------------------------------------------


@dataclass
class Server:
    """A gunicorn serving the app, and where its output goes."""

    url: str
    proc: subprocess.Popen
    log_path: Path
    env: dict[str, str]

    def log(self) -> str:
        """Everything the server wrote so far (its stdout and stderr)."""
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def pg_app(postgres_url: str, smtp_server: SMTPServer, mailbox: Mailbox, tmp_path: Path) -> Iterator[Flask]:
    """An in-process app on the session's PostgreSQL database, emptied afterwards for the next tests."""
    app = make_app(postgres_url, smtp_server, tmp_path)
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        with psycopg.connect(plain(postgres_url), autocommit=True) as conn:
            conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")


@pytest.fixture
def slug(pg_app: Flask) -> str:
    """An open petition in the database the server uses."""
    with pg_app.app_context():
        petition = make_petition()
        slug = petition.slug
        db.session.remove()
    return slug


@pytest.fixture
def server(pg_app: Flask, postgres_url: str, smtp_server: SMTPServer, tmp_path: Path) -> Iterator[Server]:
    """gunicorn app:app with the production config file; stopped (SIGTERM, then SIGKILL) afterwards.

    Depends on pg_app so that it stops before the tables are emptied.
    """
    port = free_port()
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_")}
    env.pop("XDG_RUNTIME_DIR", None)  # gunicorn's default control socket would go there ...
    env.update(
        HOME=str(home),  # ... or under $HOME/.gunicorn: a private HOME shows whether one was made
        DATABASE_URL=postgres_url,
        SECRET_KEY=secrets.token_hex(32),
        BASE_URL=f"http://127.0.0.1:{port}",
        MAIL_SERVER=smtp_server.host,
        MAIL_PORT=str(smtp_server.port),
        RATELIMIT_ENABLED="false",  # 220 signings from one address are the point here
        SIGN_MIN_SECONDS="0",  # and they come faster than people type
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_ACCESS_LOG="/dev/null",
        GUNICORN_GRACEFUL_TIMEOUT="5",
        WEB_CONCURRENCY="2",
        GUNICORN_THREADS="8",
    )
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "app:app", "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    srv = Server(f"http://127.0.0.1:{port}", proc, log_path, env)
    try:
        _wait_healthy(srv)
        # gunicorn.conf.py turns gunicorn 27's shared control socket off unless asked for.
        assert not (home / ".gunicorn").exists(), "gunicorn opened its default control socket"
        assert "Control socket listening" not in srv.log()
        yield srv
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_healthy(srv: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if srv.proc.poll() is not None:
            pytest.fail(f"gunicorn exited with {srv.proc.returncode}:\n{srv.log()}")
        try:
            if requests.get(f"{srv.url}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"gunicorn did not answer /healthz with 200 within {START_TIMEOUT} s:\n{srv.log()}")
        time.sleep(0.1)


# --- what one browser does ---------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One HTTP answer that mattered, kept for the assertions in the main thread."""

    who: str
    status: int
    location: str
    body: str = ""


def _answer(who: str, response: requests.Response) -> Outcome:
    location = urlsplit(response.headers.get("Location", "")).path
    return Outcome(who, response.status_code, location, "" if response.status_code < 400 else response.text[:3000])


def sign(base: str, slug: str, *, name: str, email: str, country: str) -> Outcome:
    """Open the petition page in a fresh browser, then submit the signing form."""
    with requests.Session() as s:
        page = s.get(f"{base}/petitions/{slug}", timeout=HTTP_TIMEOUT)
        if page.status_code != 200:
            return _answer(email, page)
        form = {
            "csrf_token": csrf_from(page.text),
            "started": started_from(page.text),
            "name": name,
            "email": email,
            "country": country,
        }
        return _answer(
            email, s.post(f"{base}/petitions/{slug}/sign", data=form, allow_redirects=False, timeout=HTTP_TIMEOUT)
        )


def _open_link(s: requests.Session, link: str) -> str:
    page = s.get(link, timeout=HTTP_TIMEOUT)
    assert page.status_code == 200, f"GET {link}: {page.status_code}\n{page.text[:3000]}"
    return csrf_from(page.text)


def _press(who: str, s: requests.Session, link: str, token: str) -> tuple[Outcome, str]:
    """Press the confirm button; then follow the redirect in the same browser to read what it says."""
    answer = _answer(who, s.post(link, data={"csrf_token": token}, allow_redirects=False, timeout=HTTP_TIMEOUT))
    if answer.status != 303:
        return answer, ""
    base = link.split("/verify/", 1)[0]
    page = s.get(base + answer.location, timeout=HTTP_TIMEOUT)
    if "your signature is confirmed and counted" in page.text:
        return answer, "counted"
    if "Your signature was already confirmed" in page.text:
        return answer, "already"
    return answer, f"neither message on {answer.location} ({page.status_code})"


def confirm(who: str, link: str, *, twice: bool) -> list[tuple[Outcome, str]]:
    """Open the link and press confirm; with twice, two browsers open it, then both press at once."""
    if not twice:
        with requests.Session() as s:
            return [_press(who, s, link, _open_link(s, link))]
    with requests.Session() as a, requests.Session() as b:
        # Both pages first: once confirmed, the page no longer shows the button.
        tokens = [_open_link(a, link), _open_link(b, link)]
        with ThreadPoolExecutor(2) as pair:
            presses = [pair.submit(_press, who, s, link, t) for s, t in zip((a, b), tokens, strict=True)]
            return [p.result() for p in presses]


def run_mail_workers(env: dict[str, str], tmp_path: Path, n: int = 2) -> list[tuple[int, int]]:
    """Run n `flask mail-worker --once` processes side by side; each one's (sent, failed)."""
    procs = []
    for k in range(n):
        with open(tmp_path / f"worker{k}.out", "wb") as out, open(tmp_path / f"worker{k}.err", "wb") as err:
            procs.append(
                subprocess.Popen(
                    [str(VENV_BIN / "flask"), "--app", "app", "mail-worker", "--once"],
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=err,
                )
            )
    try:
        for proc in procs:
            proc.wait(timeout=60)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    results = []
    for k, proc in enumerate(procs):
        out = (tmp_path / f"worker{k}.out").read_text()
        err = (tmp_path / f"worker{k}.err").read_text(errors="replace")
        match = re.search(r"Sent (\d+), failed (\d+)\.", out)
        assert proc.returncode == 0 and match, f"mail worker {k} exited {proc.returncode}:\n{out}\n{err}"
        results.append((int(match.group(1)), int(match.group(2))))
    return results


# --- the test ------------------------------------------------------------------------------------


def test_the_count_is_exact_when_many_sign_and_confirm_at_once(
    server: Server, slug: str, pg_app: Flask, postgres_url: str, mailbox: Mailbox, tmp_path: Path
) -> None:
    base = server.url
    (petition_id,) = sql(postgres_url, "SELECT id FROM petitions WHERE slug = %s", slug)[0]

    # 1. 200 people sign at once; 20 of them sign again under another spelling, right alongside.
    jobs = []
    for i in range(SIGNERS):
        jobs.append({"name": f"Signer {i}", "email": email_of(i), "country": country_of(i)})
        if i in DUPLICATE_OF:
            jobs.append({"name": f"Signer {i}", "email": other_spelling(i), "country": country_of(i)})
    with ThreadPoolExecutor(THREADS) as pool:
        signed = list(pool.map(lambda job: sign(base, slug, **job), jobs))
    wrong = [o for o in signed if (o.status, o.location) != (303, f"/petitions/{slug}/signed")]
    assert not wrong, (
        f"{len(wrong)} signings not redirected to /signed, e.g. {wrong[:3]}\n--- server log:\n{server.log()}"
    )

    rows = sql(
        postgres_url, "SELECT email_normalized, confirmed_at FROM signatures WHERE petition_id = %s", petition_id
    )
    assert sorted(r[0] for r in rows) == sorted(email_of(i) for i in range(SIGNERS))  # no row for a repeat
    assert all(confirmed is None for _, confirmed in rows)
    assert sql(postgres_url, "SELECT signature_count FROM petitions WHERE id = %s", petition_id) == [(0,)]

    # 2. Two mail workers at once send everything, and no message twice.
    expected_mail = SIGNERS + len(DUPLICATE_OF)  # each repeat re-sends the link once (SIGNATURE_MAX_RESENDS)
    results = run_mail_workers(server.env, tmp_path)
    assert sum(sent for sent, _ in results) == expected_mail, results
    assert sum(failed for _, failed in results) == 0, results
    assert sql(
        postgres_url, "SELECT count(*) FROM outbox_messages WHERE sent_at IS NULL OR claimed_by IS NOT NULL"
    ) == [(0,)]

    message_ids = [m["Message-ID"] for m in mailbox.messages]
    assert len(mailbox.messages) == expected_mail
    assert len(set(message_ids)) == len(message_ids), "a message was delivered twice"
    by_mailbox = defaultdict(list)
    for msg in mailbox.messages:
        by_mailbox[normalize_email(msg["To"])].append(msg)
    assert set(by_mailbox) == {email_of(i) for i in range(SIGNERS)}
    for i in range(SIGNERS):
        got = by_mailbox[email_of(i)]
        assert len(got) == (2 if i in DUPLICATE_OF else 1), f"{email_of(i)} got {[m['Subject'].strip() for m in got]}"
        # strip(): Python's email folds a "Subject: ..." line over 78 characters right after the colon,
        # and reads it back with the folding space in front.
        subjects = [m["Subject"].strip() for m in got]
        assert all(s.startswith("Please confirm your signature") for s in subjects), subjects

    # 3. Everyone confirms at once; 50 press twice simultaneously from two browsers.
    links = {i: link_in(by_mailbox[email_of(i)][0], "/verify/") for i in range(SIGNERS)}
    assert all(link.startswith(f"{base}/verify/") for link in links.values())
    with ThreadPoolExecutor(THREADS) as pool:
        pressed = list(
            pool.map(lambda i: (i, confirm(email_of(i), links[i], twice=i in DOUBLE_PRESSERS)), range(SIGNERS))
        )
    wrong = [o for _, presses in pressed for o, _ in presses if (o.status, o.location) != (303, f"/petitions/{slug}")]
    assert not wrong, (
        f"{len(wrong)} confirmations not redirected to the petition, e.g. {wrong[:3]}\n--- server log:\n{server.log()}"
    )
    for i, presses in pressed:
        said = sorted(message for _, message in presses)
        assert said == (["already", "counted"] if i in DOUBLE_PRESSERS else ["counted"]), f"{email_of(i)}: {said}"

    # 4. The count, the count by country, the rows and recount agree: exactly 200.
    expected_by_country = dict(Counter(country_of(i) for i in range(SIGNERS)))
    deadline = time.monotonic() + pg_app.config["COUNT_MAX_AGE"] + 2  # the count may lag by COUNT_MAX_AGE
    while True:
        count = requests.get(f"{base}/api/v1/petitions/{slug}/count", timeout=HTTP_TIMEOUT)
        assert count.status_code == 200
        assert count.json()["signature_count"] <= SIGNERS
        if count.json()["signature_count"] == SIGNERS or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert count.json()["signature_count"] == SIGNERS

    assert sql(
        postgres_url,
        "SELECT count(*), count(confirmed_at), count(DISTINCT email_normalized) FROM signatures WHERE petition_id = %s",
        petition_id,
    ) == [(SIGNERS, SIGNERS, SIGNERS)]
    from_rows = dict(
        sql(
            postgres_url,
            "SELECT country, count(*) FROM signatures"
            " WHERE petition_id = %s AND confirmed_at IS NOT NULL AND invalidated_at IS NULL GROUP BY country",
            petition_id,
        )
    )
    doc = requests.get(f"{base}/api/v1/petitions/{slug}", timeout=HTTP_TIMEOUT)
    assert doc.status_code == 200
    assert doc.json()["signature_count"] == SIGNERS
    assert doc.json()["signatures_by_country"] == from_rows == expected_by_country

    result = pg_app.test_cli_runner().invoke(args=["recount", slug])
    assert result.exit_code == 0, result.output
    assert "Checked 1 petition(s): 0 difference(s)." in result.output

    log = server.log()
    assert "Traceback" not in log and " ERROR " not in log, log


# --- the listening sockets -----------------------------------------------------------------------


def _workers(master: int) -> list[int]:
    """The ids of gunicorn's worker processes (the master's children)."""
    return sorted(int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split())


def _socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets a process holds open."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):  # closed meanwhile
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    return inodes


def _tcp_states(port: int) -> dict[int, str]:
    """Socket inode -> state ("listen", "established", or the kernel's code) of the IPv4 sockets on local `port`."""
    states = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port:
            states[int(fields[9])] = {"0A": "listen", "01": "established"}.get(fields[3], fields[3])
    return states


def _held(pid: int, port: int, state: str) -> int:
    """How many sockets on `port` in `state` the process holds."""
    states = _tcp_states(port)
    return sum(1 for inode in _socket_inodes(pid) if states.get(inode) == state)


def test_each_worker_listens_for_itself_and_connections_are_spread_over_the_workers(server: Server) -> None:
    """A burst of keep-alive connections (a load balancer's, a benchmark's) does not all land on one worker.

    With one listening socket shared by the workers, whichever worker is awake takes a whole
    burst, and keep-alive holds it there: one core busy, the other idle (docs/SCALING.md).
    """
    port = urlsplit(server.url).port
    deadline = time.monotonic() + START_TIMEOUT
    while True:  # /healthz answers as soon as one worker is up; wait for both
        workers = _workers(server.proc.pid)
        listening = [_held(w, port, "listen") for w in workers]
        if listening == [1, 1] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert listening == [1, 1], f"workers {workers} listening on sockets of their own: {listening}\n{server.log()}"
    assert _held(server.proc.pid, port, "listen") == 0, "the master listens itself"

    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT) for _ in range(32)]
    try:
        for c in connections:
            c.connect()
        for c in connections:  # each answered, and kept open
            c.request("GET", "/healthz")
            response = c.getresponse()
            assert (response.status, response.read()) == (200, b'{"status":"ok"}\n')
        held = [_held(w, port, "established") for w in workers]
    finally:
        for c in connections:
            c.close()
    # The kernel hashes each connection to one of the two sockets: all 32 on one has a chance of 2 in 2^32.
    assert sum(held) == 32 and min(held) > 0, f"connections per worker: {held}"


def test_a_second_server_on_the_same_address_refuses_to_start(server: Server) -> None:
    """Sockets per worker (SO_REUSEPORT) must not let a second instance quietly take half the traffic."""
    second = subprocess.run(
        [str(VENV_BIN / "gunicorn"), "app:app", "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode != 0
    assert f"{urlsplit(server.url).netloc} is already in use" in second.stderr, second.stderr
    assert requests.get(f"{server.url}/healthz", timeout=HTTP_TIMEOUT).status_code == 200


def test_a_unix_socket_is_one_socket_shared_by_the_workers(server: Server, tmp_path: Path) -> None:
    """A socket per worker is for TCP ports only: workers each binding one path would take it from each other.

    gunicorn's own --bind counts, not only GUNICORN_BIND: the socket per worker is decided on
    the addresses gunicorn really listens on.
    """
    path = tmp_path / "web.sock"
    proc = subprocess.Popen(
        [str(VENV_BIN / "gunicorn"), "app:app", "-c", "gunicorn.conf.py", "--bind", f"unix:{path}"],
        cwd=ROOT,
        env=server.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while len(_workers(proc.pid)) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # the workers' own start, had they sockets to open
        assert proc.poll() is None, proc.communicate()[0]
        listening = [line for line in Path("/proc/net/unix").read_text().splitlines()[1:] if line.endswith(f" {path}")]
        assert len(listening) == 1, listening
        conn = http.client.HTTPConnection("localhost", timeout=HTTP_TIMEOUT)
        conn.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.sock.connect(str(path))
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=15)[0]
    assert "SO_REUSEPORT" not in output, output
