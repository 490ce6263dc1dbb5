"""The signing history: its periods add up to the count, under concurrent changes, on both databases."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import func, select

from petitions.campaigns import history
from petitions.counting import counts
from petitions.counting.rules import counted
from petitions.extensions import db
from petitions.models import Petition, Signature, User
from petitions.moderation import invalidation
from petitions.signatures import confirming, links, signing, withdrawing
from petitions.signatures.signing import SignatureData
from tests.helpers import make_petition, make_user

T0 = datetime(2025, 3, 1, 9, 15, tzinfo=UTC)


def sign(petition: Petition, email: str, *, at: datetime, confirm_at: datetime | None = None) -> Signature:
    """A signature through signing.sign, confirmed when confirm_at is given; flushed."""
    s = signing.sign(petition, SignatureData("Sam", email, "GB"), now=at, ip=None)
    if confirm_at is not None:
        assert confirming.confirm(s, now=confirm_at)
    db.session.flush()
    return s


def rows_by_hour(petition_id: int) -> Counter[datetime]:
    """What the rows say: counted signatures by the hour they were confirmed."""
    found: Counter[datetime] = Counter()
    for (at,) in db.session.execute(
        select(Signature.confirmed_at).where(Signature.petition_id == petition_id, *counted())
    ):
        found[counts.hour_of(at)] += 1
    return found


def test_hours_and_days_hold_the_confirmations_and_lose_what_stops_counting(ctx) -> None:
    petition = make_petition()
    kept = sign(petition, "a@example.org", at=T0, confirm_at=T0)
    sign(petition, "b@example.org", at=T0, confirm_at=T0 + timedelta(minutes=50))  # 10:05, the next hour
    gone = sign(petition, "c@example.org", at=T0, confirm_at=T0 + timedelta(days=1))
    sign(petition, "pending@example.org", at=T0)
    withdrawing.withdraw(gone, now=T0 + timedelta(days=2))
    db.session.commit()

    found = history.history(petition.id)
    assert found.hourly == ((datetime(2025, 3, 1, 9, tzinfo=UTC), 1), (datetime(2025, 3, 1, 10, tzinfo=UTC), 1))
    assert [(d.isoformat(), n) for d, n in found.daily] == [("2025-03-01", 2)]
    assert found.total == db.session.get(Petition, petition.id).signature_count == 2

    doc = history.as_json(petition.slug, found)
    assert doc["hourly"][0] == {"hour": "2025-03-01T09:00:00Z", "signatures": 1}
    assert doc["daily"] == [{"day": "2025-03-01", "signatures": 2}]
    assert history.as_csv(found).splitlines() == ["hour,signatures", "2025-03-01T09:00:00Z,1", "2025-03-01T10:00:00Z,1"]
    assert history.as_csv(found, by_day=True).splitlines() == ["day,signatures", "2025-03-01,2"]
    assert kept.confirmed_at is not None


def test_an_invalidation_and_its_reversal_move_the_hours_they_were_confirmed_in(ctx) -> None:
    admin = make_user("admin@example.org", admin=True)
    petition = make_petition()
    sign(petition, "x@spam-farm.net", at=T0, confirm_at=T0)
    sign(petition, "y@spam-farm.net", at=T0, confirm_at=T0 + timedelta(hours=5))
    sign(petition, "ok@example.org", at=T0, confirm_at=T0 + timedelta(hours=5))
    db.session.commit()
    batch = invalidation.invalidate(
        invalidation.criteria(domain="spam-farm.net"), admin, reason="farm", now=T0 + timedelta(days=3)
    )
    db.session.commit()
    assert history.history(petition.id).hourly == ((datetime(2025, 3, 1, 14, tzinfo=UTC), 1),)
    invalidation.reverse(batch, admin, reason="not a farm", now=T0 + timedelta(days=4))
    db.session.commit()
    found = history.history(petition.id)
    assert dict(found.hourly) == rows_by_hour(petition.id)
    assert found.total == 3


def test_the_periods_add_up_to_the_count_after_concurrent_confirmations_withdrawals_and_invalidations(
    app: Flask,
) -> None:
    """60 confirmations over several hours, 15 withdrawals and an invalidation, all at once."""
    with app.app_context():
        admin_id = make_user("admin@example.org", admin=True).id
        petition = make_petition(goal=1000)
        pid, slug = petition.id, petition.slug
        early = [
            sign(petition, f"early{i}@example.org", at=T0, confirm_at=T0 + timedelta(minutes=7 * i)).id
            for i in range(15)
        ]
        for i in range(10):
            sign(petition, f"f{i}@farm.example.com", at=T0, confirm_at=T0 + timedelta(minutes=11 * i))
        pending = [sign(petition, f"late{i}@example.org", at=T0) for i in range(60)]
        tokens = [links.confirmation_token(s) for s in pending]
        db.session.commit()

    start = threading.Barrier(3)

    def confirm_all() -> None:
        with app.app_context():
            start.wait()
            for i, token in enumerate(tokens):
                confirming.confirm_link(token, now=T0 + timedelta(hours=2, minutes=13 * i))
                db.session.commit()

    def withdraw_all() -> None:
        with app.app_context():
            start.wait()
            for sid in early:
                withdrawing.withdraw(db.session.get_one(Signature, sid), now=T0 + timedelta(days=1))
                db.session.commit()

    def invalidate_farm() -> None:
        with app.app_context():
            start.wait()
            admin = db.session.get_one(User, admin_id)
            invalidation.invalidate(
                invalidation.criteria(slug=slug, domain="farm.example.com"),
                admin,
                reason="farm",
                now=T0 + timedelta(days=1),
            )
            db.session.commit()

    with ThreadPoolExecutor(3) as pool:
        for job in [pool.submit(confirm_all), pool.submit(withdraw_all), pool.submit(invalidate_farm)]:
            job.result()

    with app.app_context():
        found = history.history(pid)
        count = db.session.get_one(Petition, pid).signature_count
        assert count == 60
        assert found.total == count == sum(n for _, n in found.daily)
        assert dict(found.hourly) == rows_by_hour(pid)
        assert len(found.hourly) > 10  # spread over many hours, not one
        assert (
            db.session.scalar(
                select(func.count()).select_from(Signature).where(Signature.petition_id == pid, *counted())
            )
            == 60
        )
