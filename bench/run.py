"""Benchmarks, printed as ratios measured side by side in one run.

count_o1: the count JSON, the petition JSON and the petition page of a petition with
BIG confirmed signatures against one with 10, on PostgreSQL: reading a count must cost
the same whatever the number of signatures (ratio near 1).

signing: signing (CSRF, validation, insert, outbox row, commit) against a bare Flask view
returning the same redirect, in the same process, on the same database.

forgot_password: a reset asked for an address with an account against one without: the
answers must take as long (ratio near 1), or the timing tells which addresses have accounts.

Run with `make bench` (needs PostgreSQL on 127.0.0.1:5432, like the tests).
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from flask import Flask, redirect  # noqa: E402

from bench.common import create_database, drop_database, migrate_with_owner  # noqa: E402
from petitions import create_app  # noqa: E402
from petitions.campaigns.lifecycle import PetitionData, create_petition  # noqa: E402
from petitions.clock import utcnow  # noqa: E402
from petitions.counting.counts import recount  # noqa: E402
from petitions.extensions import db  # noqa: E402
from petitions.models import Petition, Signature, User  # noqa: E402
from petitions.moderation import abuse  # noqa: E402

BIG = int(os.environ.get("BENCH_BIG", "200000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "400"))


def timed_in_turn(fns, n: int) -> list[float]:
    """Median seconds per call of each function, called in turn n times each after a warm-up.

    In turn, not one after the other: this machine's speed drifts from one second to the next,
    and a drift would otherwise fall on one side of a comparison only.
    """
    for _ in range(20):
        for fn in fns:
            fn()
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(n):
        for fn, times in zip(fns, samples, strict=True):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    return [statistics.median(times) for times in samples]


def setup(url: str) -> tuple[Flask, str, str]:
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False, "SIGN_MIN_SECONDS": 0})
    app.logger.setLevel("WARNING")
    with app.app_context():
        owner = migrate_with_owner()
        now = utcnow()
        data = PetitionData("Big petition", "Target", "Summary", "Body", 1_000_000)
        big = create_petition(owner, data, now=now, moderation="post")
        small = create_petition(
            owner, PetitionData("Small petition", "Target", "Summary", "Body", 100), now=now, moderation="post"
        )
        db.session.commit()
        countries = "ARRAY['GB','FR','DE','US','ES','IT','NL','SE']"
        for petition, n in ((big, BIG), (small, 10)):
            db.session.execute(
                db.text(
                    "INSERT INTO signatures (petition_id, name, email, email_normalized, email_domain, country,"
                    " show_name, updates, created_at, confirmed_at, resend_count) "
                    "SELECT :pid, 'Signer', 's' || g || '@example.org', 's' || g || '@example.org', 'example.org',"
                    f" ({countries})[1 + g % 8],"
                    " false, false, now() at time zone 'utc', now() at time zone 'utc', 0 FROM generate_series(1, :n) g"
                ),
                {"pid": petition.id, "n": n},
            )
            recount(petition, now=utcnow())
        db.session.commit()
        db.session.execute(db.text("ANALYZE"))
        db.session.commit()
        return app, big.slug, small.slug


def main() -> None:
    name, url = create_database("petitions_bench")
    try:
        app, big, small = setup(url)
        client = app.test_client()
        print(
            f"count_o1: PostgreSQL, {BIG:,} confirmed signatures vs 10,"
            f" median of {ROUNDS} requests each, in turn (in-process)"
        )
        print(f"{'request':<34}{'10 sigs (ms)':>14}{'big (ms)':>12}{'ratio':>8}")
        for label, path in [
            ("GET /api/v1/petitions/<slug>/count", "/api/v1/petitions/{}/count"),
            ("GET /api/v1/petitions/<slug>", "/api/v1/petitions/{}"),
            ("GET /petitions/<slug>", "/petitions/{}"),
        ]:
            t_small, t_big = timed_in_turn(
                [lambda p=path: client.get(p.format(small)), lambda p=path: client.get(p.format(big))], ROUNDS
            )
            print(f"{label:<34}{t_small * 1000:>14.2f}{t_big * 1000:>12.2f}{t_big / t_small:>8.2f}")

        bare = Flask("bare")
        bare.add_url_rule("/sign", "sign", lambda: redirect("/petitions/x/signed", 303), methods=["POST"])
        bare_client = bare.test_client()
        page = client.get(f"/petitions/{small}").text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        with client.session_transaction() as browser_session:
            csrf_secret = browser_session["csrf_token"]
        with app.app_context():
            small_id = db.session.scalar(db.select(Petition.id).where(Petition.slug == small))
            # A fresh stamp for each signing, as each person gets from the page they open (a
            # stamp used twice makes the second signing suspected): made before the timing.
            stamps = iter([abuse.form_started_token(small_id, csrf_secret) for _ in range(20 + ROUNDS)])
        counter = iter(range(10**9))

        def sign() -> None:
            i = next(counter)
            r = client.post(
                f"/petitions/{small}/sign",
                data={
                    "csrf_token": token,
                    "started": next(stamps),
                    "name": "Bench",
                    "email": f"bench{i}@example.org",
                    "country": "GB",
                },
            )
            assert r.status_code == 303, r.status_code

        t_bare, t_sign = timed_in_turn([lambda: bare_client.post("/sign"), sign], ROUNDS)
        print()
        print("signing: full signing POST vs a bare Flask POST returning the same redirect (in-process)")
        print(f"{'bare (ms)':>12}{'signing (ms)':>14}{'signing/s':>11}{'ratio to bare':>15}")
        print(f"{t_bare * 1000:>12.3f}{t_sign * 1000:>14.2f}{1 / t_sign:>11.0f}{t_bare / t_sign:>15.3f}")
        with app.app_context():
            if db.session.scalar(
                db.select(db.func.count()).select_from(Signature).where(Signature.suspected.is_not(None))
            ):
                sys.exit("FAILED: a benchmark signing was kept as suspected")

        with app.app_context():
            known = User(
                name="Known",
                email="known@example.org",
                password_hash="x",
                created_at=utcnow(),
                email_confirmed_at=utcnow(),
            )
            db.session.add(known)
            db.session.commit()
        reset_client = app.test_client()
        reset_token = re.search(
            r'name="csrf_token" type="hidden" value="([^"]+)"', reset_client.get("/forgot-password").text
        ).group(1)

        def forgot(email: str) -> None:
            r = reset_client.post("/forgot-password", data={"csrf_token": reset_token, "email": email})
            assert r.status_code == 303, r.status_code

        t_known, t_unknown = timed_in_turn(
            [lambda: forgot("known@example.org"), lambda: forgot("nobody@example.org")], ROUNDS
        )
        print()
        print("forgot_password: POST /forgot-password, an address with an account vs one without (in-process)")
        print(f"{'known (ms)':>12}{'unknown (ms)':>14}{'ratio':>8}")
        print(f"{t_known * 1000:>12.3f}{t_unknown * 1000:>14.3f}{t_unknown / t_known:>8.2f}")
        with app.app_context():
            db.engine.dispose()
    finally:
        drop_database(name)


if __name__ == "__main__":
    main()
