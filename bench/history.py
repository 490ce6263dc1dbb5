"""The history endpoint's cost grows with the hours that had signatures, never with the signatures.

Two petitions on PostgreSQL with signatures over the same 720 hours (30 days): one with
BENCH_HISTORY_BIG (1,000,000) confirmed signatures, one with one per hour. Their hourly counters
are built from the rows by recount, as the site keeps them. The JSON and the CSV of each are
requested in turn (in-process); a ratio near 1 is the O(hours) the issue asks for.

Run with `make bench`, or alone: .venv/bin/python bench/history.py (needs PostgreSQL like the tests).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import create_database, drop_database, migrate_with_owner  # noqa: E402
from bench.run import timed_in_turn  # noqa: E402
from petitions import create_app  # noqa: E402
from petitions.campaigns.lifecycle import PetitionData, create_petition  # noqa: E402
from petitions.clock import utcnow  # noqa: E402
from petitions.counting.counts import recount  # noqa: E402
from petitions.extensions import db  # noqa: E402

BIG = int(os.environ.get("BENCH_HISTORY_BIG", "1000000"))
HOURS = 720
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "300"))


def main() -> None:
    name, url = create_database("petitions_history")
    try:
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False})
        app.logger.setLevel("WARNING")
        with app.app_context():
            owner = migrate_with_owner()
            now = utcnow()
            slugs = []
            for title, n in (("Big petition", BIG), ("Small petition", HOURS)):
                petition = create_petition(
                    owner, PetitionData(title, "Target", "Summary", "Body", 10**7), now=now, moderation="post"
                )
                db.session.commit()
                db.session.execute(
                    db.text(
                        "INSERT INTO signatures (petition_id, name, email, email_normalized, email_domain, country,"
                        " show_name, updates, created_at, confirmed_at, resend_count)"
                        " SELECT :pid, 'Signer', 's' || g || '@example.org', 's' || g || '@example.org',"
                        " 'example.org', 'GB', false, false, t, t, 0 FROM generate_series(1, :n) g,"
                        " LATERAL (SELECT (now() at time zone 'utc') - make_interval(hours => g % :hours)) AS x(t)"
                    ),
                    {"pid": petition.id, "n": n, "hours": HOURS},
                )
                recount(petition, now=utcnow())
                db.session.commit()
                slugs.append(petition.slug)
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()
        client = app.test_client()
        big, small = slugs
        print(
            f"history: {BIG:,} confirmed signatures vs {HOURS}, both over {HOURS} hours, PostgreSQL,"
            f" median of {ROUNDS} requests each, in turn (in-process)"
        )
        print(f"{'request':<40}{'small (ms)':>12}{'big (ms)':>10}{'ratio':>8}")
        for label, path in [
            ("GET /api/v1/petitions/<slug>/history", "/api/v1/petitions/{}/history"),
            ("GET /petitions/<slug>/history.csv", "/petitions/{}/history.csv"),
        ]:
            for slug in slugs:
                response = client.get(path.format(slug))
                assert response.status_code == 200, (path, response.status_code)
            t_small, t_big = timed_in_turn(
                [lambda p=path: client.get(p.format(small)), lambda p=path: client.get(p.format(big))], ROUNDS
            )
            print(f"{label:<40}{t_small * 1000:>12.2f}{t_big * 1000:>10.2f}{t_big / t_small:>8.2f}")
        total = client.get(f"/api/v1/petitions/{big}/history").json
        assert sum(h["signatures"] for h in total["hourly"]) == BIG, "the big petition's hours do not add up"
        print("target: ratio near 1 (the cost follows the hours, not the signatures)")
    finally:
        drop_database(name)


if __name__ == "__main__":
    main()
