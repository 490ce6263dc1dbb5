"""Benchmark: the worker appending 100,000 changes to a petition's public log, on PostgreSQL.

A petition whose log already holds BENCH_SEQ_LOGGED (20,000) signatures gets BENCH_SEQ_CHANGES
(100,000) changes at once, in the shares a busy day brings: 80% new confirmed signatures (adds,
each with its receipt email queued), 10% invalidated (removes), 10% withdrawn, their rows
deleted and their removals owed (tombstones). Then one `sequence_all()` appends them all, with
the shipped settings (sequencer.BATCH changes per transaction, each its own signed checkpoint),
as the worker would after falling behind: printed are the time and the entries per second.
The log is then replayed from the database (`audit.check`, what `flask recount` runs) and
must count exactly what the rows do.

Run: .venv/bin/python bench/sequence.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import create_database, drop_database, migrate_with_owner  # noqa: E402
from petitions import create_app  # noqa: E402
from petitions.campaigns.lifecycle import PetitionData, create_petition  # noqa: E402
from petitions.clock import utcnow  # noqa: E402
from petitions.counting.counts import recount  # noqa: E402
from petitions.extensions import db  # noqa: E402
from petitions.models import OutboxMessage, Petition  # noqa: E402
from petitions.transparency import audit, sequencer  # noqa: E402

LOGGED = int(os.environ.get("BENCH_SEQ_LOGGED", "20000"))
CHANGES = int(os.environ.get("BENCH_SEQ_CHANGES", "100000"))

# Confirmed signatures as the signing INSERT leaves them (a nonce each), numbered from :first.
INSERT = """
INSERT INTO signatures (petition_id, name, email, email_normalized, email_domain, country, show_name, updates,
                        created_at, confirmed_at, resend_count, log_nonce)
SELECT :pid, 'Signer', 's' || g || '@example.org', 's' || g || '@example.org',
       CASE WHEN g % 3 = 0 THEN 'uni.example.ac.uk' ELSE 'example.org' END,
       (ARRAY['GB','FR','DE','US','ES','IT','NL','SE'])[1 + g % 8], false, false,
       now() at time zone 'utc', now() at time zone 'utc', 0, md5(g::text)
FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) g
"""


def main() -> int:
    name, url = create_database("petitions_bench_seq")
    try:
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "BASE_URL": "https://petitions.example.org"})
        app.logger.setLevel("WARNING")
        with app.app_context():
            owner = migrate_with_owner()
            petition = create_petition(
                owner, PetitionData("Big petition", "Target", "Summary", "Body", 10**6), now=utcnow(), moderation="post"
            )
            db.session.commit()
            pid = petition.id
            db.session.execute(
                db.text("INSERT INTO group_domains (group_id, petition_id, domain) VALUES (:g, :p, 'uni.example.ac.uk')"),
                {"g": _group(pid), "p": pid},
            )
            db.session.execute(db.text(INSERT), {"pid": pid, "first": 1, "last": LOGGED})
            recount(db.session.get(Petition, pid), now=utcnow())
            db.session.commit()
            sequencer.sequence_all()  # the log as it stood: not timed
            db.session.execute(db.text("DELETE FROM outbox_messages"))
            removes = CHANGES // 10
            withdrawn = CHANGES // 10
            adds = CHANGES - removes - withdrawn
            assert removes + withdrawn <= LOGGED
            # Invalidated: their adds become removes. Withdrawn: deleted, a tombstone each (as withdraw() writes).
            db.session.execute(
                db.text(
                    "UPDATE signatures SET invalidated_at = now() at time zone 'utc'"
                    " WHERE petition_id = :pid AND id <= :n"
                ),
                {"pid": pid, "n": removes},
            )
            gone = "petition_id = :pid AND id > :a AND id <= :b"
            span = {"pid": pid, "a": removes, "b": removes + withdrawn}
            db.session.execute(
                db.text(
                    "INSERT INTO log_removals (petition_id, entry, reason)"
                    f" SELECT petition_id, log_entry, 'withdrawn' FROM signatures WHERE {gone}"
                ),
                span,
            )
            db.session.execute(db.text(f"DELETE FROM signatures WHERE {gone}"), span)
            db.session.execute(db.text(INSERT), {"pid": pid, "first": LOGGED + 1, "last": LOGGED + adds})
            recount(db.session.get(Petition, pid), now=utcnow())
            db.session.commit()
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()

            started = time.perf_counter()
            runs = sequencer.sequence_all()
            seconds = time.perf_counter() - started

            appended = sum(r.appended for r in runs)
            receipts = db.session.scalar(db.select(db.func.count()).select_from(OutboxMessage))
            petition = db.session.get(Petition, pid)
            check = audit.check(petition)
            db.session.rollback()
            assert appended == CHANGES, (appended, CHANGES)
            assert receipts == adds, (receipts, adds)
            assert check.ok and check.log_count == petition.signature_count, check
            print(
                f"Sequencing: {CHANGES:,} changes ({adds:,} adds, {removes:,} invalidated, {withdrawn:,} withdrawn)"
                f" onto a log of {LOGGED:,}, PostgreSQL, batches of {sequencer.BATCH:,}"
            )
            print(
                f"  {seconds:.1f} s, {appended / seconds:,.0f} entries/s, {len(runs)} transactions and checkpoints,"
                f" {receipts:,} receipts queued; the log replays to {check.log_count:,} = signature_count"
            )
            print(f"  load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            db.engine.dispose()
    finally:
        drop_database(name)
    return 0


def _group(petition_id: int) -> int:
    """A supporter group of the petition (its id), so that a third of the adds carry its domain."""
    return db.session.execute(
        db.text(
            "INSERT INTO supporter_groups (petition_id, name, signature_count, created_at)"
            " VALUES (:p, 'University staff', 0, now() at time zone 'utc') RETURNING id"
        ),
        {"p": petition_id},
    ).scalar_one()


if __name__ == "__main__":
    sys.exit(main())
