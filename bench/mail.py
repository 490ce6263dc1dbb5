"""Benchmark: the mail worker's CPU per confirmation email, from the queue claim to SMTP accepted.

BENCH_MAIL_N (2,000) signings are recorded on PostgreSQL as the signing view records them,
each queuing its confirmation email. Then the worker's sending path (mail.drain with one
sender: claim, read, render with signed links, build, send, record) runs in this process
against a local aiosmtpd server in another process, so time.process_time() counts the worker
alone. Printed: the CPU per email of the shipped path, and of the same path with its prepared
rendering and bytes building turned off (the email package and Jinja for every message, as
before), side by side, alternated over BENCH_MAIL_ROUNDS (3) rounds; then the shipped path's
cProfile top entries and its CPU by stage. Every email must arrive exactly once per round.

Run: .venv/bin/python bench/mail.py
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import socket
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import create_database, drop_database, migrate_with_owner  # noqa: E402
from petitions import create_app  # noqa: E402
from petitions.campaigns.lifecycle import PetitionData, create_petition  # noqa: E402
from petitions.clock import utcnow  # noqa: E402
from petitions.extensions import db  # noqa: E402
from petitions.infra import mail  # noqa: E402
from petitions.infra.mail import prepared  # noqa: E402
from petitions.signatures import signing  # noqa: E402

N = int(os.environ.get("BENCH_MAIL_N", "2000"))
ROUNDS = int(os.environ.get("BENCH_MAIL_ROUNDS", "3"))

# The SMTP server, in a process of its own: it counts what it accepts and prints the count when stdin closes.
SERVER = """
import sys, threading
from aiosmtpd.controller import Controller
class Count:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        Count.n += 1
        return "250 Message accepted"
c = Controller(Count(), hostname="127.0.0.1", port=int(sys.argv[1]), enable_SMTPUTF8=True)
c.start()
print("ready", flush=True)
for line in sys.stdin:
    print(Count.n, flush=True)
c.stop()
"""

# Where the worker's CPU goes: (stage, functions whose cumulative time it is).
STAGES = [
    ("claim (one UPDATE ... RETURNING per batch)", ["claim"]),
    ("renew the claims and read the rows (one per batch)", ["_renew"]),
    ("the prepared message, its name and links filled", ["message_bytes"]),
    ("  of which signing the links", ["token_for"]),
    ("a message built the plain way (none expected)", ["build_message"]),
    ("SMTP: send and read the replies", ["send", "send_bytes"]),
    ("mark it sent (one statement, committed alone)", ["first", "_record_failure"]),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _requeue() -> None:
    """Make every confirmation due again, as if just queued."""
    db.session.execute(
        db.text(
            "UPDATE outbox_messages SET sent_at = NULL, claimed_by = NULL, claimed_at = NULL, attempts = 0,"
            " next_attempt_at = created_at"
        )
    )
    db.session.commit()


def _round(server: subprocess.Popen[str], plain: bool, profile: cProfile.Profile | None = None) -> float:
    """Drain every queued email once; return the worker's CPU ms per email."""
    _requeue()
    prepared.ENABLED = not plain
    before = _accepted(server)
    start = time.process_time()
    if profile is not None:
        profile.enable()
    sent, failed = mail.drain(senders=1)
    if profile is not None:
        profile.disable()
    cpu = time.process_time() - start
    prepared.ENABLED = True
    got = _accepted(server) - before
    assert (sent, failed, got) == (N, 0, N), f"sent {sent}, failed {failed}, the server accepted {got} of {N}"
    return cpu * 1000 / N


def _accepted(server: subprocess.Popen[str]) -> int:
    assert server.stdin is not None and server.stdout is not None
    server.stdin.write("\n")
    server.stdin.flush()
    return int(server.stdout.readline())


def _stage_ms(stats: pstats.Stats, names: list[str]) -> float:
    total = 0.0
    for (filename, _, name), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        if name in names and "petitions" in filename:
            total += cumulative
    return total * 1000 / N


def main() -> int:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    name, url = create_database("petitions_bench_mail")
    try:
        app = create_app(
            {
                "DATABASE_URL": url,
                "SECRET_KEY": "bench",
                "BASE_URL": "https://petitions.example.org",
                "MAIL_SERVER": "127.0.0.1",
                "MAIL_PORT": port,
                "MAIL_DEFAULT_SENDER": "Petitions <no-reply@petitions.example.org>",
            }
        )
        app.logger.setLevel("WARNING")
        with app.app_context():
            owner = migrate_with_owner()
            petition = create_petition(
                owner,
                PetitionData("Save the river", "Council", "Summary", "Body", 10**6),
                now=utcnow(),
                moderation="post",
            )
            db.session.commit()
            now = utcnow()
            for i in range(N):
                data = signing.SignatureData(
                    name=f"Signer {i}", email=f"signer{i}@example.org", country="GB", updates=i % 2 == 0
                )
                signing.record(petition, data, now=now, ip="192.0.2.1")
            db.session.commit()
            mail.drain(senders=1)  # warm-up: connections, compiled statements, templates
            plain_ms, shipped_ms = [], []
            for _ in range(ROUNDS):
                plain_ms.append(_round(server, plain=True))
                shipped_ms.append(_round(server, plain=False))
            profile = cProfile.Profile(time.process_time)  # CPU, not wall time
            _round(server, plain=False, profile=profile)
            stats = pstats.Stats(profile)
        load = os.getloadavg()[0]
        print(
            f"mail: the worker's CPU per confirmation email, claim to SMTP accepted, {N:,} emails per round,"
            f" one sender, PostgreSQL, aiosmtpd in another process (median of {ROUNDS} alternated rounds)"
        )
        print(f"{'path':<52}{'CPU ms/email':>13}{'emails/CPU s':>14}")
        before, after = median(plain_ms), median(shipped_ms)
        print(f"{'every message through Jinja and the email package':<52}{before:>13.3f}{1000 / before:>14,.0f}")
        print(f"{'shipped: prepared bodies, messages built as bytes':<52}{after:>13.3f}{1000 / after:>14,.0f}")
        print(f"ratio (shipped CPU / plain CPU): {after / before:.2f}; target: shipped <= 1 ms per email")
        print(f"  load average at the end {load:.1f} on {os.cpu_count()} cores")
        print("where the shipped path's CPU goes (cProfile on CPU time, with its own overhead), ms per email:")
        for stage, names in STAGES:
            print(f"  {stage:<50}{_stage_ms(stats, names):>8.3f}")
        out = io.StringIO()
        pstats.Stats(profile, stream=out).strip_dirs().sort_stats("tottime").print_stats(12)  # no paths of this machine
        lines = [line for line in out.getvalue().splitlines() if line.strip()]
        start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
        print("  top entries by own time:")
        for line in lines[start : start + 13]:
            print("  " + line[:150])
        with app.app_context():
            db.engine.dispose()
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(10)
        drop_database(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
