"""A surge, end to end, on the production layout: people sign, their emails go out and are confirmed,
readers poll, streams stay open, all at once for BENCH_SURGE_SECONDS (60); then a bot flood.

What runs, on PostgreSQL and Redis (when it answers), each in processes of its own:
- the site under the shipped gunicorn.conf.py (gthread), and the event-stream instance
  (GUNICORN_WORKER_CLASS=gevent, WEB_CONCURRENCY=2, as the README's production section runs it);
- `flask mail-worker`, the whole time, sending to a real SMTP server (aiosmtpd, another process)
  that reports each message it accepts: its Message-ID, its recipient and its confirmation link;
- people: wrk -t2 -c32 POSTs the signing form with a fresh address and a valid form stamp each
  time (bench/signing.lua, the default SIGN_MIN_SECONDS); rate limits are off, since all the
  load comes from one address;
- confirmations: as each person's email arrives, a thread of this process presses its
  "Confirm my signature" button (POST /verify/<token>), so the count moves during the surge;
- readers: BENCH_SURGE_COUNT_READERS (64) polling the count JSON about once a second and
  BENCH_SURGE_PAGE_READERS (8) reloading the petition page about every 2 s (bench/reader.lua);
- BENCH_SURGE_STREAMS (300) event streams open on the gevent instance.
Then for BENCH_SURGE_FLOOD_SECONDS (20), bots (no form stamp: each signing is stored as
suspected) flood the form beside people, 16 connections each, readers and streams still on.

Figures: people's signing rate as a ratio of a bare Flask app's ceiling for the same POST
(bench/load.py's, under the same gunicorn settings, measured just before and just after in
this run, the machine otherwise the same); signing p99; every email queued by the end of the
flood counted at the SMTP server, and within 60 s of the end (none twice); count readers' p99;
bots' rate over people's; errors anywhere; the CPU each person's signing cost the machine, by
process. Targets (issue 22, a 2-core machine): people >= 0.12 of bare, every email within
60 s, bots >= 0.6 of people, zero errors. It exits 1 when a check of what was stored fails
(an email lost or sent twice, a person's signing kept as suspected, a bot's not), not when a
target is missed: those are printed as met or MISSED.

Run alone: .venv/bin/python bench/surge.py (PostgreSQL on 127.0.0.1:5432, Debian's wrk).
"""

from __future__ import annotations

import asyncio
import http.client
import os
import queue
import re
import resource
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import (  # noqa: E402
    create_database,
    drop_database,
    gunicorn_settings,
    migrate_with_owner,
    wrk_figures,
)
from bench.load import (  # noqa: E402
    TICK_US,
    machine_ticks,
    process_ticks,
    signing_session,
    start_bare,
    write_stamps,
)
from bench.press import free_port, open_stream, start, stop  # noqa: E402

SECONDS = int(os.environ.get("BENCH_SURGE_SECONDS", "60"))
FLOOD_SECONDS = int(os.environ.get("BENCH_SURGE_FLOOD_SECONDS", "20"))
BARE_SECONDS = int(os.environ.get("BENCH_SURGE_BARE_SECONDS", "10"))
WARM_UP_SECONDS = 5
COUNT_READERS = int(os.environ.get("BENCH_SURGE_COUNT_READERS", "64"))
PAGE_READERS = int(os.environ.get("BENCH_SURGE_PAGE_READERS", "8"))
STREAMS = int(os.environ.get("BENCH_SURGE_STREAMS", "300"))
CONFIRMERS = 2  # threads pressing the links as they arrive
# An answer slower than this is an error (wrk's own default, 2 s, would count a slow answer as
# one): gunicorn's timeout, about what a browser waits before giving up.
TIMEOUT = 30
MAIL_DEADLINE = 60  # seconds after the end by which every email must have arrived
# Form stamps per person's run: more than a run can use at this machine's rates (a stamp used
# twice is suspected, which the checks refuse).
STAMPS = int(os.environ.get("BENCH_SURGE_STAMPS", "1000")) * SECONDS
TARGETS = {"people": 0.12, "bots": 0.6}

# The SMTP server, in a process of its own: for each message it accepts, one line on stdout with its
# Message-ID, its recipient and the path of the confirmation link in it ("-" when none).
SINK = r"""
import re, sys
from email import message_from_bytes
from aiosmtpd.controller import Controller
LINK = re.compile(rb"/verify/[A-Za-z0-9_.~-]+")
ID = re.compile(rb"^Message-ID: *(<[^>]+>)", re.M | re.I)
class Sink:
    async def handle_DATA(self, server, session, envelope):
        to = envelope.rcpt_tos[0]
        path = b"-"
        if to.startswith("person-"):  # only people confirm: read their link as a mail program would
            for part in message_from_bytes(envelope.content).walk():
                if part.get_content_type() == "text/plain":
                    m = LINK.search(part.get_payload(decode=True))
                    path = m.group() if m else path
                    break
        sys.stdout.buffer.write(ID.search(envelope.content).group(1) + b" " + to.encode() + b" " + path + b"\n")
        sys.stdout.flush()
        return "250 Message accepted"
c = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]), enable_SMTPUTF8=True)
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
"""


@dataclass
class Inbox:
    """What the SMTP server accepted: arrival time by outbox id, and duplicates."""

    arrived: dict[int, float] = field(default_factory=dict)
    duplicates: int = 0
    links: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def read(self, stdout) -> None:
        """Follow the server's lines until it ends; queue each person's confirmation link."""
        for line in stdout:
            message_id, to, path = line.decode().split()
            outbox_id = int(re.match(r"<outbox-(\d+)\.", message_id).group(1))
            if outbox_id in self.arrived:
                self.duplicates += 1
            self.arrived.setdefault(outbox_id, time.monotonic())
            if path != "-":
                self.links.put(path)


@dataclass
class Confirmers:
    """People pressing "Confirm my signature" in the emails as they arrive, one keep-alive connection each."""

    port: int
    form: dict[str, str]
    links: queue.Queue[str | None]
    pressed: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        """Press links until a None comes off the queue."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        body = f"csrf_token={self.form['BENCH_CSRF']}"
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": self.form["BENCH_COOKIE"]}
        while (path := self.links.get()) is not None:
            for attempt in (1, 2):
                try:
                    conn.request("POST", path, body, headers)
                    answer = conn.getresponse()
                    answer.read()
                    ok, problem = answer.status == 303, f"{path}: {answer.status}"
                    break
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    ok, problem = False, f"{path}: {type(exc).__name__}: {exc}"
                    # The server closes a keep-alive connection idle for its keepalive (5 s), as between two
                    # emails after the surge: a browser then sends the request again, once, on a new one
                    # (http.client's RemoteDisconnected is a ConnectionResetError).
                    if attempt == 2 or not isinstance(exc, ConnectionResetError | BrokenPipeError):
                        break
            with self.lock:
                self.pressed += 1
                if not ok:
                    self.errors.append(problem)


class Streams:
    """STREAMS event streams held open in a thread of this process (bench/press.py's reader)."""

    def __init__(self, port: int, slug: str) -> None:
        """Open them in a loop of their own; ready() waits for each one's first count."""
        self.seen: dict[int, dict[int, float]] = {}
        self.loop = asyncio.new_event_loop()
        self.tasks: list[asyncio.Task] = []
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def open_all() -> None:
            ready = asyncio.Event()
            path = f"/petitions/{slug}/events"
            self.tasks = [
                asyncio.create_task(open_stream(port, path, self.seen, i, ready, 10**12)) for i in range(STREAMS)
            ]

        asyncio.run_coroutine_threadsafe(open_all(), self.loop).result(10)

    def ready(self, timeout: float) -> int:
        """Wait until every stream has had its first event; return how many have."""
        deadline = time.monotonic() + timeout
        while len(self.seen) < STREAMS and time.monotonic() < deadline:
            time.sleep(0.2)
        return len(self.seen)

    def close(self) -> tuple[int, int]:
        """(streams still open that saw a count, the most counts one saw); close them all."""
        held = sum(1 for i, task in enumerate(self.tasks) if not task.done() and i in self.seen)

        async def cancel() -> None:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(cancel(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        return held, max((len(v) for v in self.seen.values()), default=0)


@dataclass
class Load:
    """wrk runs started together; what each printed."""

    runs: dict[str, subprocess.Popen] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # what wrk said of its errors

    def start(self, name: str, seconds: int, url: str, script: str, env: dict, connections: int, threads: int = 2):
        """Start wrk with one of bench/*.lua."""
        self.runs[name] = subprocess.Popen(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", f"--timeout={TIMEOUT}s", "--latency"]
            + ["-s", str(ROOT / "bench" / script), url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )

    def results(self) -> dict[str, tuple[float, float, int, int]]:
        """Wait for every run: {name: (requests/s, p99 ms, requests, errors)}."""
        out = {}
        for name, proc in self.runs.items():
            stdout, stderr = proc.communicate(timeout=600)
            if proc.returncode:
                sys.exit(f"FAILED: wrk {name}: {stderr[-500:]}")
            out[name] = wrk_figures(stdout)
            if out[name][3]:
                said = re.findall(r"^\s*(Non-2xx.*|Socket errors.*)$", stdout, re.M)
                self.problems.append(f"{name}: {'; '.join(said)}")
        return out


class Meter:
    """The CPU the machine and each process spent between two readings."""

    def __init__(self, groups: dict[str, int]) -> None:
        """Read the clocks now."""
        self.groups = groups
        self.machine, self.processes = machine_ticks(), process_ticks(groups)
        self.children, self.me = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)

    def spent(self) -> tuple[dict[str, float], dict[str, float]]:
        """({who: CPU seconds}, {busy/idle/steal: % of the machine}) since the readings."""
        spent = [b - a for a, b in zip(self.machine, machine_ticks(), strict=True)]
        used = {k: (v - self.processes[k]) * TICK_US / 1e6 for k, v in process_ticks(self.groups).items()}
        children, me = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
        used["wrk"] = children.ru_utime + children.ru_stime - self.children.ru_utime - self.children.ru_stime
        used["this (streams, confirmations)"] = me.ru_utime + me.ru_stime - self.me.ru_utime - self.me.ru_stime
        user, nice, system, idle, iowait, irq, softirq, steal = spent
        busy = (user + nice + system + irq + softirq) * TICK_US / 1e6
        used["other"] = max(busy - sum(used.values()), 0.0)  # other engineers' work on a shared machine
        used["all"] = busy
        total = sum(spent)
        return used, {
            "busy": 100 * (busy * 1e6 / TICK_US) / total,
            "idle": 100 * (idle + iowait) / total,
            "steal": 100 * steal / total,
        }


def _outbox(plain_url: str) -> list[int]:
    with psycopg.connect(plain_url) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM outbox_messages")]


def main() -> None:
    name, url = create_database("petitions_surge")
    plain = url.replace("+psycopg", "")
    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=1).ping()
        redis_url = "redis://127.0.0.1:6379/0"
    except redis.RedisError:
        redis_url = ""
    smtp_port = free_port()
    sink = subprocess.Popen(
        [sys.executable, "-c", SINK, str(smtp_port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert sink.stdout is not None and sink.stdout.readline().strip() == b"ready"
    env = {
        "DATABASE_URL": url,
        "SECRET_KEY": secrets.token_hex(16),
        "RATELIMIT_ENABLED": "false",
        **gunicorn_settings(),
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_port),
        "MAIL_DEFAULT_SENDER": "Petitions <no-reply@petitions.example.org>",
        "REDIS_URL": redis_url,
    }
    procs: list[subprocess.Popen] = []
    work_dir = Path(tempfile.mkdtemp(prefix="petitions-surge-"))
    inbox = Inbox()
    threading.Thread(target=inbox.read, args=(sink.stdout,), daemon=True).start()
    try:
        from petitions import create_app
        from petitions.campaigns.lifecycle import PetitionData, create_petition
        from petitions.clock import utcnow
        from petitions.extensions import db

        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
        with app.app_context():
            owner = migrate_with_owner()
            slug = create_petition(
                owner, PetitionData("Surge petition", "T", "S", "B", 10**6), now=utcnow(), moderation="post"
            ).slug
            db.session.commit()
            db.engine.dispose()

        web_port, events_port, bare_port = free_port(), free_port(), free_port()
        web = start("app:app", web_port, env)
        procs.append(web)
        events = start("app:app", events_port, {**env, "GUNICORN_WORKER_CLASS": "gevent", "WEB_CONCURRENCY": "2"})
        procs.append(events)
        bare = start_bare(bare_port, env, work_dir)
        procs.append(bare)
        form, session_cookie = signing_session(web_port, slug)
        warm, surge, flood = write_stamps(
            app, env["SECRET_KEY"], slug, session_cookie, work_dir, [WARM_UP_SECONDS * 1000, STAMPS, STAMPS // 2]
        )
        (work_dir / "no-stamp.txt").write_text("none\n" * 2)  # bots: no stamp of the page (a line per wrk thread)
        worker = subprocess.Popen(
            [str(Path(sys.executable).parent / "flask"), "--app", "app", "mail-worker"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        procs.append(worker)
        confirmers = Confirmers(web_port, form, inbox.links)
        pressing = [threading.Thread(target=confirmers.run, daemon=True) for _ in range(CONFIRMERS)]
        for thread in pressing:
            thread.start()

        sign = f"http://127.0.0.1:{web_port}/petitions/{slug}/sign"
        bare_sign = f"http://127.0.0.1:{bare_port}/petitions/{slug}/sign"
        people = {**form, "BENCH_STAMPS": str(surge)}
        bots = {**form, "BENCH_STAMPS": str(work_dir / "no-stamp.txt"), "BENCH_RUN": "bot-"}

        def bare_run(seconds: int) -> tuple[float, float]:
            """The ceiling's (requests/s, CPU ms per request of its own: the machine's other work left out)."""
            meter, load = Meter({"bare": bare.pid}), Load()
            load.start("bare", seconds, bare_sign, "signing.lua", {**people, "BENCH_RUN": "bare-"}, 32)
            rps, _, requests, errors = load.results()["bare"]
            if errors:
                sys.exit(f"FAILED: the bare app answered with errors ({load.problems}): there is no ceiling")
            used, _ = meter.spent()
            return rps, 1000 * (used["all"] - used["other"]) / requests

        def readers(load: Load, seconds: int) -> None:
            load.start(
                "count",
                seconds,
                f"http://127.0.0.1:{web_port}/api/v1/petitions/{slug}/count",
                "reader.lua",
                {"BENCH_INTERVAL_MS": "1000"},
                COUNT_READERS,
                threads=1,
            )
            load.start(
                "page",
                seconds,
                f"http://127.0.0.1:{web_port}/petitions/{slug}",
                "reader.lua",
                {"BENCH_INTERVAL_MS": "2000"},
                PAGE_READERS,
                threads=1,
            )

        bare_run(WARM_UP_SECONDS)
        bare_before = bare_run(BARE_SECONDS)
        warm_up = Load()
        warm_up.start(
            "people",
            WARM_UP_SECONDS,
            sign,
            "signing.lua",
            {**form, "BENCH_STAMPS": str(warm), "BENCH_RUN": "person-w-"},
            32,
        )
        warm_up_errors = warm_up.results()["people"][3]
        problems = warm_up.problems
        streams = Streams(events_port, slug)
        opened = streams.ready(30)

        load_before = os.getloadavg()
        groups = {"web": web.pid, "events": events.pid, "worker": worker.pid, "smtp": sink.pid}
        meter = Meter(groups)
        load = Load()
        load.start("people", SECONDS, sign, "signing.lua", {**people, "BENCH_RUN": "person-s-"}, 32)
        readers(load, SECONDS)
        backlog = _Backlog(plain)
        surge_figures = load.results()
        problems += load.problems
        surge_backlog = backlog.stop()
        cpu, share = meter.spent()
        load_avg = os.getloadavg()

        load = Load()
        load.start(
            "people",
            FLOOD_SECONDS,
            sign,
            "signing.lua",
            {**form, "BENCH_STAMPS": str(flood), "BENCH_RUN": "person-f-"},
            16,
        )
        load.start("bots", FLOOD_SECONDS, sign, "signing.lua", bots, 16)
        readers(load, FLOOD_SECONDS)
        flood_figures = load.results()
        problems += load.problems
        end = time.monotonic()

        time.sleep(1)  # the answers in flight when wrk stopped
        queued = _outbox(plain)
        while not all(i in inbox.arrived for i in queued) and time.monotonic() - end < MAIL_DEADLINE:
            time.sleep(0.2)
        in_time = [i for i in queued if inbox.arrived.get(i, float("inf")) - end <= MAIL_DEADLINE]
        last = max((inbox.arrived[i] - end for i in in_time), default=0.0)
        time.sleep(1)
        for _ in pressing:
            inbox.links.put(None)
        for thread in pressing:
            thread.join(60)
        held, most = streams.close()
        bare_after = bare_run(BARE_SECONDS)

        with psycopg.connect(plain) as conn:
            people_suspected, people_rows, bots_rows, bots_suspected, confirmed, count = conn.execute(
                "SELECT count(*) FILTER (WHERE email LIKE 'person-%%' AND suspected IS NOT NULL),"
                " count(*) FILTER (WHERE email LIKE 'person-%%'),"
                " count(*) FILTER (WHERE email LIKE 'bot-%%'),"
                " count(*) FILTER (WHERE email LIKE 'bot-%%' AND suspected IS NOT NULL),"
                " count(*) FILTER (WHERE confirmed_at IS NOT NULL),"
                " (SELECT signature_count FROM petitions WHERE slug = %s) FROM signatures",
                (slug,),
            ).fetchone()
    finally:
        for p in procs:
            stop(p)
        assert sink.stdin is not None
        sink.stdin.close()
        sink.wait(10)
        for f in work_dir.iterdir():
            f.unlink()
        work_dir.rmdir()
        drop_database(name)

    ceiling = (bare_before[0] + bare_after[0]) / 2
    bare_cpu = (bare_before[1] + bare_after[1]) / 2
    people_rps, people_p99, people_n, people_errors = surge_figures["people"]
    surge_cpu = 1000 * (cpu["all"] - cpu["other"]) / people_n
    count_rps, count_p99, _, count_errors = surge_figures["count"]
    page_rps, page_p99, _, page_errors = surge_figures["page"]
    flood_people, flood_bots = flood_figures["people"], flood_figures["bots"]
    errors = {
        "people signing": people_errors + flood_people[3] + warm_up_errors,
        "bots": flood_bots[3],
        "count readers": count_errors + flood_figures["count"][3],
        "page readers": page_errors + flood_figures["page"][3],
        "confirmations": len(confirmers.errors),
        "streams not held": STREAMS - held,
    }
    ratio = people_rps / ceiling
    bots_ratio = flood_bots[0] / flood_people[0]
    all_mail = len(in_time) == len(queued)
    print(
        f"surge: {SECONDS} s of people signing (wrk -t2 -c32, fresh address and form stamp each), their emails sent by"
        f" `flask mail-worker` to an SMTP server and confirmed as they arrive, {COUNT_READERS} count readers (1/s),"
        f" {PAGE_READERS} page readers (1/2 s), {STREAMS} event streams (gevent instance); then {FLOOD_SECONDS} s of"
        f" bots (no stamp) beside people, 16 connections each. PostgreSQL, Redis {'on' if redis_url else 'off'},"
        f" gunicorn gthread {env['WEB_CONCURRENCY']} workers x {env['GUNICORN_THREADS']} threads, rate limits off"
    )
    print(
        f"  load average (1, 5, 15 min) at the start of the surge {load_before[0]:.1f} {load_before[1]:.1f}"
        f" {load_before[2]:.1f}, at its end {load_avg[0]:.1f} {load_avg[1]:.1f} {load_avg[2]:.1f}"
        f" on {os.cpu_count()} cores; machine during the surge: busy {share['busy']:.0f}%, idle {share['idle']:.0f}%,"
        f" steal {share['steal']:.0f}%"
    )
    print(f"{'measure':<58}{'figure':>22}  target")
    rows = [
        ("bare Flask POST, ceiling (before, after)", f"{bare_before[0]:.0f}, {bare_after[0]:.0f} /s", ""),
        ("people signing", f"{people_rps:.0f} /s", ""),
        ("people signing / bare", f"{ratio:.3f}", _target(ratio >= TARGETS["people"], f">= {TARGETS['people']}")),
        ("  the same by CPU: bare's ms per request / the surge's per signing", f"{bare_cpu / surge_cpu:.3f}", ""),
        ("people signing p99", f"{people_p99:.0f} ms", ""),
        ("confirmations pressed during and after (confirmed rows)", f"{confirmers.pressed} ({confirmed})", ""),
        (
            f"emails queued by the end, arrived within {MAIL_DEADLINE} s",
            f"{len(in_time)} of {len(queued)}",
            _target(all_mail, "all"),
        ),
        ("  the last one, after the end", f"{last:.1f} s", ""),
        ("  outbox backlog during the surge: most, at the end", f"{surge_backlog[0]}, {surge_backlog[1]}", ""),
        ("  emails sent twice", f"{inbox.duplicates}", ""),
        ("count readers p99 (req/s)", f"{count_p99:.0f} ms ({count_rps:.0f})", ""),
        ("page readers p99 (req/s)", f"{page_p99:.0f} ms ({page_rps:.0f})", ""),
        ("streams held to the end (opened, most counts one saw)", f"{held} ({opened}, {most})", ""),
        ("flood: people, bots", f"{flood_people[0]:.0f}, {flood_bots[0]:.0f} /s", ""),
        ("flood: bots / people", f"{bots_ratio:.2f}", _target(bots_ratio >= TARGETS["bots"], f">= {TARGETS['bots']}")),
        ("flood: p99 people, bots", f"{flood_people[1]:.0f}, {flood_bots[1]:.0f} ms", ""),
        (
            "errors"
            + (" (" + ", ".join(f"{k} {v}" for k, v in errors.items() if v) + ")" if any(errors.values()) else ""),
            f"{sum(errors.values())}",
            _target(not any(errors.values()), "0"),
        ),
    ]
    for label, figure, target in rows:
        print(f"{label:<58}{figure:>22}  {target}")
    print(
        f"CPU per person's signing in the surge, ms by process ({people_n} signings; other: the machine's other"
        f" work; bare POST: {bare_cpu:.2f} ms a request):"
    )
    print("  " + "  ".join(f"{k} {1000 * v / max(people_n, 1):.2f}" for k, v in cpu.items()))
    for problem in problems + confirmers.errors[:5]:
        print(f"  errors: {problem}")
    failures = []
    if people_suspected:
        failures.append(f"{people_suspected} of {people_rows} people's signings were kept as suspected")
    if bots_suspected != bots_rows:
        failures.append(f"{bots_rows - bots_suspected} bots' signings were not suspected")
    if inbox.duplicates:
        failures.append(f"{inbox.duplicates} emails sent twice")
    if count != confirmed:
        failures.append(f"the count says {count}, {confirmed} signatures are confirmed")
    if failures:
        sys.exit("FAILED: " + "; ".join(failures))


def _target(met: bool, target: str) -> str:
    return f"{target}: {'met' if met else 'MISSED'}"


class _Backlog:
    """Samples the outbox's unsent messages every 2 s in a thread: (the most seen, the last)."""

    def __init__(self, plain_url: str) -> None:
        """Start sampling."""
        self.samples: list[int] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, args=(plain_url,), daemon=True)
        self.thread.start()

    def run(self, plain_url: str) -> None:
        """Sample until stopped."""
        with psycopg.connect(plain_url, autocommit=True) as conn:
            while not self.done.wait(2):
                unsent = conn.execute("SELECT count(*) FROM outbox_messages WHERE sent_at IS NULL").fetchone()
                self.samples.append(unsent[0])

    def stop(self) -> tuple[int, int]:
        """Stop; return (the most, the last)."""
        self.done.set()
        self.thread.join()
        return max(self.samples, default=0), self.samples[-1] if self.samples else 0


if __name__ == "__main__":
    main()
