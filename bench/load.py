"""Signing under load on the real stack: gunicorn (production config), PostgreSQL, the mail worker, SMTP.

wrk POSTs the signing form (CSRF, validation, abuse checks, insert, outbox row) with a fresh
address each time, side by side with a bare Flask app answering the same redirect under the
same gunicorn settings. Afterwards the mail worker drains the outbox into a local SMTP server,
and every stored signature must have exactly one confirmation email: none lost, none twice.

Run with `make bench` (PostgreSQL on 127.0.0.1:5432 and Debian's wrk).
"""

from __future__ import annotations

import functools
import os
import re
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes
from pathlib import Path

import psycopg
import requests
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import (  # noqa: E402
    ADMIN,
    create_database,
    drop_database,
    gunicorn_settings,
    migrate_with_owner,
    wrk_figures,
)
from bench.press import free_port, start, stop  # noqa: E402

DURATION = int(os.environ.get("BENCH_WRK_SECONDS", "8"))
WARM_UP_SECONDS = int(os.environ.get("BENCH_WARM_UP_SECONDS", "8"))
PAIRS = int(os.environ.get("BENCH_PAIRS", "3"))
if PAIRS < 1:
    sys.exit("BENCH_PAIRS must be 1 or more")
BARE = """
from flask import Flask, redirect
app = Flask(__name__)

@app.post("/petitions/<slug>/sign")
def sign(slug):
    return redirect(f"/petitions/{slug}/signed", 303)

@app.post("/verify/<token>")
def verify(token):
    return redirect("/petitions/load-petition", 303)

@app.get("/healthz")
def healthz():
    return "ok"
"""
CONFIRMATIONS = int(os.environ.get("BENCH_CONFIRMATIONS", "60000"))
# Form stamps for each signing run: more than a run uses at the signing rates in docs/PERFORMANCE.md;
# raise it for a faster machine or a longer BENCH_WRK_SECONDS.
STAMPS = int(os.environ.get("BENCH_STAMPS", "30000"))
COUNTRIES = "ARRAY['GB','FR','DE','US','ES','IT','NL','SE']"


class Inbox:
    """Counts what the SMTP server receives, by Message-ID."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        msg = message_from_bytes(envelope.content)
        with self.lock:
            self.ids.append(msg["Message-ID"])

        return "250 OK"


@dataclass
class Round:
    """One wrk run, and what it cost the machine (from /proc, read before and after the run)."""

    side: str
    rps: float
    p99: float
    requests: int
    errors: int
    cpu_us: dict[str, float]  # CPU per answered request, by who spent it: server, postgres, wrk, other
    busy_us: float  # all the machine's busy CPU time per answered request, whoever spent it
    share: dict[str, float]  # the machine's time during the run: busy, idle (iowait included), steal
    repeats: int = 0  # confirm.lua: presses of a link this run had pressed before


TICK_US = 1e6 / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> list[int]:
    """/proc/stat's first line: user nice system idle iowait irq softirq steal (in ticks)."""
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:9]]


@functools.cache
def _postmaster() -> int:
    """The process id of the PostgreSQL server the benchmark uses (the parent of a backend of its)."""
    with psycopg.connect(ADMIN) as conn, open(f"/proc/{conn.info.backend_pid}/stat") as f:  # while the backend lives
        return int(f.read().rsplit(")", 1)[1].split()[1])


def process_ticks(groups: dict[str, int]) -> dict[str, int]:
    """CPU ticks used so far by each named process group (a server's master and workers, started
    in a session of its own) and by the benchmark's PostgreSQL server (the postmaster and its
    children, not other clusters'), as {name: ticks, "postgres": ticks}."""
    ticks = dict.fromkeys([*groups, "postgres"], 0)
    names = {group: name for name, group in groups.items()}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:  # ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        used = int(fields[11]) + int(fields[12])  # utime + stime
        if int(fields[2]) in names:
            ticks[names[int(fields[2])]] += used
        elif _postmaster() in (int(pid), int(fields[1])):
            ticks["postgres"] += used
    return ticks


def wrk(side: str, seconds: int, url: str, env: dict, server: subprocess.Popen, script: str = "signing.lua") -> Round:
    """A wrk run with one of bench/*.lua: throughput, p99, errors, and the CPU each request cost, by process."""
    machine, processes, children = (
        machine_ticks(),
        process_ticks({"server": server.pid}),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", "-s", str(ROOT / "bench" / script), url],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the only child waited for meanwhile
    spent = [b - a for a, b in zip(machine, machine_ticks(), strict=True)]
    used = {k: (v - processes[k]) * TICK_US for k, v in process_ticks({"server": server.pid}).items()}
    rps, p99, total, errors = wrk_figures(out)
    user, nice, system, idle, iowait, irq, softirq, steal = spent
    busy = (user + nice + system + irq + softirq) * TICK_US
    used["wrk"] = (after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime) * 1e6
    # Processes' times and the machine's are accounted differently (run time against ticks), so
    # in some runs, above all under steal, the processes add up to a little more than the
    # machine's busy time: "other" then reads 0, and "all" (busy_us) is the machine's.
    used["other"] = max(busy - sum(used.values()), 0.0)
    return Round(
        side,
        rps,
        p99,
        total,
        errors,
        {k: v / max(total, 1) for k, v in used.items()},
        busy / max(total, 1),
        {
            "busy": 100 * busy / TICK_US / sum(spent),
            "idle": 100 * (idle + iowait) / sum(spent),
            "steal": 100 * steal / sum(spent),
        },
        int(m.group(1)) if (m := re.search(r"^links pressed again: (\d+)$", out, re.M)) else 0,
    )


def alternated(ceiling, measure) -> tuple[Round, list[tuple[Round, Round]]]:
    """A warm-up run of each side, then PAIRS pairs of runs: ceiling, measure(0), ceiling, measure(1), ...

    A shared machine's speed drifts from one minute to the next by more than the differences
    being measured, so each measured run is compared with the ceiling run just before it, and
    the figure is the median of those pairs' ratios. The warm-up (connections, prepared
    statements, the first rows) is not in the figures; its measured run is returned for the
    checks of what was stored.
    """
    bare_warm_up, warm_up = ceiling(WARM_UP_SECONDS), measure(PAIRS, WARM_UP_SECONDS)
    pairs = [(ceiling(DURATION), measure(n, DURATION)) for n in range(PAIRS)]
    if bare_warm_up.errors or any(b.errors for b, _ in pairs):
        sys.exit("FAILED: the bare app answered with errors, so there is no ceiling to compare with")
    if warm_up.errors:
        sys.exit("FAILED: errors in the warm-up run")
    return warm_up, pairs


def report(pairs: list[tuple[Round, Round]], bare_label: str, label: str) -> int:
    """Print the medians and every run; return the measured side's errors.

    req/s is the CPU time the machine spent per second over the CPU time per request, so the
    ratio of a pair is (bare's CPU per request / the measure's) x (the CPU time per second the
    machine spent on the measure / on bare): the first factor is the work a request takes, the
    second what the machine gave each run (it drops with idle waits and time stolen by the
    hypervisor). The second is computed as req/s x CPU per request, so the product is exact.
    The best runs of each side, wherever they fell, give the other ratio printed at the end.
    """
    ratios = [m.rps / b.rps for b, m in pairs]
    bare, measured = (statistics.median(r.rps for r in side) for side in zip(*pairs, strict=True))
    p99s = [statistics.median(r.p99 for r in side) for side in zip(*pairs, strict=True)]
    errors = sum(m.errors for _, m in pairs)
    n = len(pairs)
    print(f"{'endpoint':<34}{'req/s':>9}{'p99 ms':>9}{'errors':>8}{'ratio':>8}")
    print(f"{f'{bare_label} (median of {n})':<34}{bare:>9.0f}{p99s[0]:>9.1f}{0:>8}{1:>8.2f}")
    print(
        f"{f'{label} (median of {n})':<34}{measured:>9.0f}{p99s[1]:>9.1f}{errors:>8}{statistics.median(ratios):>8.3f}"
        "  (the pairs' median ratio)"
    )
    print(
        f"  {'run':<9}{'req/s':>7}  {'CPU us per request: server':>26}{'postgres':>9}{'wrk':>6}{'other':>7}{'all':>7}"
        f"  {'machine %: busy':>15}{'idle':>6}{'steal':>6}  ratio = CPU per request x CPU given"
    )
    for b, m in pairs:
        work, given = b.busy_us / m.busy_us, (m.rps * m.busy_us) / (b.rps * b.busy_us)
        for r, end in ((b, ""), (m, f"  {m.rps / b.rps:.3f} = {work:.3f} x {given:.3f}")):
            c, share = r.cpu_us, r.share
            print(
                f"  {r.side:<9}{r.rps:>7.0f}  {c['server']:>26.0f}{c['postgres']:>9.0f}"
                f"{c['wrk']:>6.0f}{c['other']:>7.0f}"
                f"{r.busy_us:>7.0f}  {share['busy']:>15.0f}{share['idle']:>6.0f}{share['steal']:>6.0f}{end}"
            )
    best = max(m.rps for _, m in pairs) / max(b.rps for b, _ in pairs)
    print(f"  the best run of each side, wherever it fell: ratio {best:.3f}")
    return errors


def main() -> None:
    name, url = create_database("petitions_load")
    smtp_port = free_port()
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    env = {
        "DATABASE_URL": url,
        "SECRET_KEY": secrets.token_hex(16),
        "RATELIMIT_ENABLED": "false",
        "SIGN_MIN_SECONDS": "0",
        **gunicorn_settings(),  # the production config's processes and threads, for both sides
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_port),
    }
    procs = []
    bare_dir = Path(tempfile.mkdtemp(prefix="petitions-bare-"))
    try:
        from petitions import create_app
        from petitions.campaigns.lifecycle import PetitionData, create_petition
        from petitions.clock import utcnow
        from petitions.extensions import db

        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
        with app.app_context():
            owner = migrate_with_owner()
            now = utcnow()
            slug = create_petition(
                owner, PetitionData("Load petition", "T", "S", "B", 100), now=now, moderation="post"
            ).slug
            db.session.commit()

        app_port, bare_port = free_port(), free_port()
        procs.append(start("app:app", app_port, env))
        procs.append(start_bare(bare_port, env, bare_dir))
        wrk_env, session_cookie = signing_session(app_port, slug)
        stamps = write_stamps(app, env["SECRET_KEY"], slug, session_cookie, bare_dir)
        warm_up, pairs = alternated(
            lambda seconds: wrk(
                "bare",
                seconds,
                f"http://127.0.0.1:{bare_port}/petitions/{slug}/sign",
                {**wrk_env, "BENCH_STAMPS": str(stamps[0])},
                procs[1],
            ),
            lambda n, seconds: wrk(
                "signing",
                seconds,
                f"http://127.0.0.1:{app_port}/petitions/{slug}/sign",
                {**wrk_env, "BENCH_RUN": f"r{n}-", "BENCH_STAMPS": str(stamps[n])},
                procs[0],
            ),
        )
        print(
            f"signing: gunicorn gthread {env['WEB_CONCURRENCY']} workers x {env['GUNICORN_THREADS']} threads,"
            f" wrk -t2 -c32 -d{DURATION}s, PostgreSQL, rate limits off"
        )
        errors = report(pairs, "bare Flask POST", "POST .../sign")
        # answered 303, warm-up too
        acknowledged = sum(r.requests - r.errors for r in [warm_up, *(m for _, m in pairs)])

        for p in procs:  # a graceful stop lets the requests still in flight when wrk stopped finish
            stop(p)
        procs.clear()
        with psycopg.connect(url.replace("+psycopg", "")) as conn:
            rows = conn.execute("SELECT count(*) FROM signatures").fetchone()[0]
            suspected = conn.execute("SELECT count(*) FROM signatures WHERE suspected IS NOT NULL").fetchone()[0]
        if suspected:
            sys.exit(
                f"FAILED: {suspected} signings were kept as suspected (a form stamp used twice: raise BENCH_STAMPS)"
            )
        t0 = time.monotonic()
        workers = [
            subprocess.Popen(
                [str(Path(sys.executable).parent / "flask"), "--app", "app", "mail-worker", "--once"],
                cwd=ROOT,
                env={**os.environ, **env, "MAIL_SENDERS": "4"},
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(2)
        ]
        for w in workers:
            w.communicate(timeout=600)
        seconds = time.monotonic() - t0
        ids = list(inbox.ids)
        print()
        print(
            "mail: two `mail-worker --once` processes (MAIL_SENDERS=4 connections each, the default on PostgreSQL)"
            " drain the confirmations into a local SMTP server"
        )
        print(f"{'acknowledged':>13}{'rows':>8}{'emails':>8}{'duplicates':>12}{'seconds':>9}{'emails/s':>10}")
        print(
            f"{acknowledged:>13}{rows:>8}{len(ids):>8}{len(ids) - len(set(ids)):>12}"
            f"{seconds:>9.1f}{len(ids) / seconds:>10.0f}"
        )
        if rows != len(set(ids)) or len(ids) != len(set(ids)) or rows < acknowledged or errors:
            sys.exit("FAILED: a signing answered with an error, or a signature lost, or an email lost or sent twice")
        # Confirmations: CONFIRMATIONS pending signatures on the same petition, each link pressed once.
        procs.append(start("app:app", app_port, env))
        procs.append(start_bare(bare_port, env, bare_dir))
        confirm_stage(app, env["SECRET_KEY"], url, slug, procs, app_port, bare_port, bare_dir)
        with app.app_context():
            db.engine.dispose()
    finally:
        for p in procs:
            stop(p)
        controller.stop()
        if bare_dir.exists():
            for f in bare_dir.iterdir():
                f.unlink()
            bare_dir.rmdir()
        drop_database(name)


def start_bare(port: int, env: dict, work_dir: Path) -> subprocess.Popen:
    """The ceiling: a bare Flask app answering the signing POST (and confirmations) with the same
    redirect, under the same gunicorn settings, its module written in `work_dir`."""
    (work_dir / "bare_sign.py").write_text(BARE)
    return start("bare_sign:app", port, {**env, "PYTHONPATH": str(work_dir)})


def signing_session(port: int, slug: str) -> tuple[dict[str, str], str | None]:
    """Open the petition's page as a person would: the signing form's CSRF token and the session
    cookie as signing.lua sends them (BENCH_CSRF, BENCH_COOKIE, with BENCH_THREADS for wrk -t2),
    and the session cookie's value (what write_stamps binds the form stamps to)."""
    with requests.Session() as session:
        page = session.get(f"http://127.0.0.1:{port}/petitions/{slug}", timeout=10).text
        wrk_env = {
            "BENCH_THREADS": "2",
            "BENCH_CSRF": re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1),
            "BENCH_COOKIE": "; ".join(f"{c.name}={c.value}" for c in session.cookies),
        }
        return wrk_env, session.cookies.get("session")


def write_stamps(
    app, secret_key: str, slug: str, session_cookie: str | None, work_dir: Path, sizes: list[int] | None = None
) -> list[Path]:
    """A file of fresh form stamps for each run (by default PAIRS + 1 files of STAMPS: the warm-up's
    too; else one file per size given), bound to the benchmark's session, as the petition page gives
    each person who opens it: a stamp used twice would be suspected."""
    from petitions.extensions import db
    from petitions.models import Petition
    from petitions.moderation import abuse

    with app.app_context():
        app.config["SECRET_KEY"] = secret_key  # stamps and the session are the served app's
        csrf_secret = app.session_interface.get_signing_serializer(app).loads(session_cookie)["csrf_token"]
        petition_id = db.session.scalar(db.select(Petition.id).where(Petition.slug == slug))
        files = []
        for n, size in enumerate(sizes or [STAMPS] * (PAIRS + 1)):
            path = work_dir / f"stamps-{n}.txt"
            path.write_text("".join(abuse.form_started_token(petition_id, csrf_secret) + "\n" for _ in range(size)))
            files.append(path)
    return files


def confirm_stage(
    app,
    secret_key: str,
    url: str,
    slug: str,
    servers: list[subprocess.Popen],
    app_port: int,
    bare_port: int,
    work_dir: Path,
) -> None:
    """wrk presses the confirmation button of a different pending signature each time; the count must be exact."""
    from petitions.extensions import db
    from petitions.infra import tokens
    from petitions.signatures import links

    plain = url.replace("+psycopg", "")
    with psycopg.connect(plain) as conn:
        petition_id = conn.execute("SELECT id FROM petitions WHERE slug = %s", (slug,)).fetchone()[0]
        rows = conn.execute(
            "INSERT INTO signatures (petition_id, name, email, email_normalized, email_domain, country, show_name,"
            " updates, created_at, resend_count) "
            "SELECT %s, 'Signer', 'c' || g || '@confirm.example.org', 'c' || g || '@confirm.example.org',"
            " 'confirm.example.org',"
            f" ({COUNTRIES})[1 + g %% 8], false, false, now() at time zone 'utc', 0 FROM generate_series(1, %s) g"
            " RETURNING id, email_normalized",
            (petition_id, CONFIRMATIONS),
        ).fetchall()
        before = conn.execute("SELECT signature_count FROM petitions WHERE id = %s", (petition_id,)).fetchone()[0]
    with app.app_context():
        app.config["SECRET_KEY"] = secret_key  # the links must be signed with the served app's key
        paths = [
            f"/verify/{links.token_for(sid, links.email_digest(normalized), tokens.CONFIRM_SIGNATURE)}"
            for sid, normalized in rows
        ]
    share = len(paths) // (PAIRS + 1)  # each run (the warm-up's too) presses its own links
    for n in range(PAIRS + 1):
        (work_dir / f"tokens-{n}.txt").write_text("\n".join(paths[n * share : (n + 1) * share]) + "\n")
    session = requests.Session()
    page = session.get(f"http://127.0.0.1:{app_port}{paths[0]}", timeout=10).text
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    if csrf is None:
        title = re.search(r"<title>(.*?)</title>", page, re.S)
        sys.exit(f"FAILED: the confirmation page has no form: {title[1].strip() if title else page[:300]!r}")
    wrk_env = {
        "BENCH_THREADS": "2",
        "BENCH_CSRF": csrf[1],
        "BENCH_COOKIE": "; ".join(f"{c.name}={c.value}" for c in session.cookies),
    }
    session.close()
    warm_up, pairs = alternated(
        lambda seconds: wrk(
            "bare",
            seconds,
            f"http://127.0.0.1:{bare_port}/",
            {**wrk_env, "BENCH_TOKENS": str(work_dir / "tokens-0.txt")},
            servers[1],
            "confirm.lua",
        ),
        lambda n, seconds: wrk(
            "confirm",
            seconds,
            f"http://127.0.0.1:{app_port}/",
            {**wrk_env, "BENCH_TOKENS": str(work_dir / f"tokens-{n}.txt")},
            servers[0],
            "confirm.lua",
        ),
    )
    time.sleep(1)  # the requests in flight when wrk stopped
    with psycopg.connect(plain) as conn:
        count = conn.execute("SELECT signature_count FROM petitions WHERE id = %s", (petition_id,)).fetchone()[0]
        confirmed = conn.execute(
            "SELECT count(*) FROM signatures"
            " WHERE petition_id = %s AND confirmed_at IS NOT NULL AND invalidated_at IS NULL",
            (petition_id,),
        ).fetchone()[0]
        by_country = conn.execute(
            "SELECT coalesce(sum(count), 0) FROM petition_country_counts WHERE petition_id = %s", (petition_id,)
        ).fetchone()[0]
        by_hour = conn.execute(
            "SELECT coalesce(sum(count), 0) FROM petition_hourly_counts WHERE petition_id = %s", (petition_id,)
        ).fetchone()[0]
    with app.app_context():
        db.engine.dispose()
    print()
    print(
        f"confirmations: {CONFIRMATIONS:,} pending signatures on ONE petition,"
        " each link pressed once, same gunicorn and wrk"
    )
    errors = report(pairs, "bare Flask POST", "POST /verify/<token>")
    runs = [warm_up, *(m for _, m in pairs)]
    # Each run presses the links of its own file, once each until a thread's share runs out (then again).
    pressed = sum(r.requests - r.errors - r.repeats for r in runs)
    print(
        f"{'count before':>14}{'confirmed now':>15}{'count now':>11}"
        f"{'by country':>12}{'by hour':>9}{'acknowledged':>14}"
    )
    print(f"{before:>14}{confirmed:>15}{count:>11}{by_country:>12}{by_hour:>9}{pressed:>14}")
    if any(r.repeats for r in runs):
        print(
            f"note: a run pressed links a second time (BENCH_CONFIRMATIONS={CONFIRMATIONS} is too small for this speed)"
        )
    if not (count == confirmed == by_country == by_hour) or confirmed < pressed or errors:
        sys.exit("FAILED: the count is not exact, or a confirmation answered 303 was lost")


if __name__ == "__main__":
    main()
