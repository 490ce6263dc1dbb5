"""Invalidating signatures in bulk: the preview changes nothing, the counters move exactly, reversal puts them back."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from petitions.counting import counts
from petitions.exceptions import SignatureInvalidated
from petitions.extensions import db
from petitions.models import (
    AuditEntry,
    GroupDomain,
    HourlyCount,
    Invalidation,
    Petition,
    Signature,
    SupporterGroup,
    User,
)
from petitions.moderation import invalidation
from petitions.signatures import confirming, signing
from petitions.signatures.signing import SignatureData
from tests.helpers import csrf_from, login, make_petition, make_user

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(days=30)


def add_signature(
    petition: Petition,
    email: str,
    *,
    country: str = "GB",
    ip: str | None = None,
    at: datetime = T0,
    confirm_at: datetime | None = None,
) -> Signature:
    """A signature made through signing.sign, confirmed through confirming.confirm when confirm_at is given."""
    signature = signing.sign(petition, SignatureData(name="Sam Signer", email=email, country=country), now=at, ip=ip)
    if confirm_at is not None:
        assert confirming.confirm(signature, now=confirm_at)
    db.session.flush()
    return signature


def add_group(petition: Petition, name: str, *domains: str) -> SupporterGroup:
    """A supporter group with its domains, made directly."""
    group = SupporterGroup(petition_id=petition.id, name=name, signature_count=0, created_at=T0)
    db.session.add(group)
    db.session.flush()
    for domain in domains:
        db.session.add(GroupDomain(group_id=group.id, petition_id=petition.id, domain=domain))
    db.session.flush()
    return group


@dataclass
class Scene:
    petition: Petition
    other: Petition
    admin: User
    sigs: dict[str, Signature]


def build_scene() -> Scene:
    """A petition with a farm of signatures at spam-farm.net and honest ones, groups, countries and hours.

    Counted before: a1 a2 a3 b1 g1 g2 (6); a4 is pending. The other petition has one farm signature.
    """
    admin = make_user("admin@example.org", admin=True)
    petition = make_petition(title="Save the local library")
    other = make_petition(title="Plant more trees in the park")
    add_group(petition, "Farm", "spam-farm.net")
    add_group(petition, "Good people", "good.org")
    h = timedelta(hours=1)
    m = timedelta(minutes=1)
    sigs = {
        "a1": add_signature(petition, "a1@spam-farm.net", ip="203.0.113.10", at=T0, confirm_at=T0 + 5 * m),
        "a2": add_signature(
            petition, "a2@spam-farm.net", country="FR", ip="203.0.113.11", at=T0 + h, confirm_at=T0 + h + m
        ),
        "a3": add_signature(petition, "a3@mail.spam-farm.net", ip="203.0.113.12", at=T0 + h, confirm_at=T0 + h + 2 * m),
        "a4": add_signature(petition, "a4@spam-farm.net", ip="203.0.113.13", at=T0 + h + 3 * m),
        "b1": add_signature(petition, "b1@notspam-farm.net", ip="198.51.100.7", at=T0, confirm_at=T0 + 10 * m),
        "g1": add_signature(petition, "g1@good.org", country="DE", ip="2001:db8::1", at=T0, confirm_at=T0 + 20 * m),
        "g2": add_signature(petition, "g2@good.org", at=T0 + 2 * h, confirm_at=T0 + 2 * h + m),
        "o1": add_signature(other, "o1@spam-farm.net", ip="203.0.113.10", at=T0, confirm_at=T0 + m),
    }
    db.session.commit()
    return Scene(petition, other, admin, sigs)


def hours(petition: Petition) -> dict[int, int]:
    """The kept counts by hour of day (the scene spans one day), zeros left out."""
    rows = db.session.execute(
        select(HourlyCount.hour, HourlyCount.count).where(HourlyCount.petition_id == petition.id, HourlyCount.count > 0)
    )
    return {hour.hour: n for hour, n in rows}


def assert_consistent(*petitions: Petition) -> None:
    """Every kept counter equals what the rows say."""
    for petition in petitions:
        db.session.refresh(petition)
        assert counts.recount(petition, now=LATER) == []


def state(scene: Scene) -> tuple:
    """All the counters of the scene's petition."""
    p = scene.petition
    db.session.refresh(p)
    return p.signature_count, counts.by_country(p.id), counts.by_group(p.id), hours(p)


BEFORE = (6, {"GB": 4, "DE": 1, "FR": 1}, [("Farm", 3), ("Good people", 2)], {12: 3, 13: 2, 14: 1})


# --- criteria and preview -------------------------------------------------------------------


def test_the_scene_starts_consistent(ctx) -> None:
    scene = build_scene()
    assert state(scene) == BEFORE
    assert_consistent(scene.petition, scene.other)


def test_a_domain_matches_itself_and_its_subdomains_only_and_the_preview_changes_nothing(ctx) -> None:
    scene = build_scene()
    crit = invalidation.criteria(slug=scene.petition.slug, domain="Spam-Farm.net")
    found = invalidation.preview(crit)
    # a1 a2 a3 (confirmed) and a4 (pending); not b1 at notspam-farm.net, not the other petition's o1
    assert (found.total, found.confirmed, found.pending, found.invalid) == (4, 3, 1, 0)
    assert [(p.id, n) for p, n in found.by_petition] == [(scene.petition.id, 4)]
    assert state(scene) == BEFORE
    assert (
        db.session.scalar(select(func.count()).select_from(Signature).where(Signature.invalidated_at.is_not(None))) == 0
    )
    assert db.session.scalar(select(func.count()).select_from(Invalidation)) == 0

    everywhere = invalidation.preview(invalidation.criteria(domain="spam-farm.net"))
    assert (everywhere.total, everywhere.confirmed) == (5, 4)
    assert sorted(n for _, n in everywhere.by_petition) == [1, 4]


def test_networks_and_time_windows_match_by_range(ctx) -> None:
    scene = build_scene()
    slug = scene.petition.slug

    def total(**kw) -> int:
        return invalidation.preview(invalidation.criteria(slug=slug, **kw)).total

    assert total(network="203.0.113.0/24") == 4
    assert total(network="203.0.113.12") == 1
    assert total(network="203.0.113.8/30") == 2  # .8 to .11
    assert total(network="2001:db8::/32") == 1
    assert total(network="198.51.100.0/24") == 1
    assert total(network="::/0") == 7 - 1  # every IPv6 and mapped IPv4 address; g2 has none
    h = timedelta(hours=1)
    assert total(created_from=T0 + h) == 4  # a2 a3 a4 g2
    assert total(created_before=T0 + h) == 3  # a1 b1 g1
    assert total(created_from=T0 + h, created_before=T0 + 2 * h) == 3  # a2 a3 a4
    # every criterion must hold
    assert total(domain="spam-farm.net", created_before=T0 + h) == 1
    assert total(domain="good.org", network="203.0.113.0/24") == 0


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"slug": "no-such-petition"}, "petition"),
        ({"network": "203.0.113.0/33"}, "network"),
        ({"network": "not a network"}, "network"),
        ({"domain": "spam farm.net"}, "domain"),
        ({"domain": "%"}, "domain"),
        ({"domain": "a..b"}, "domain"),
        ({"created_from": T0, "created_before": T0}, "created_before"),
        ({"created_from": datetime(2024, 5, 1, 12, 0)}, "created_from"),  # naive: ambiguous
        ({}, None),
        ({"slug": "  ", "domain": " ", "network": ""}, None),
    ],
)
def test_bad_or_empty_criteria_are_refused_with_the_field_named(ctx, kw, field) -> None:
    with pytest.raises(invalidation.InvalidCriteria) as refused:
        invalidation.criteria(**kw)
    assert refused.value.field == field
    assert str(refused.value)


def test_criteria_are_normalised(ctx) -> None:
    crit = invalidation.criteria(domain=" @Mail.Spam-Farm.NET. ", network="203.0.113.77/24")
    assert (crit.domain, crit.network) == ("mail.spam-farm.net", "203.0.113.0/24")
    assert invalidation.criteria(domain="bücher.example").domain == "xn--bcher-kva.example"
    assert invalidation.criteria(domain="someone@spam-farm.net").domain == "spam-farm.net"
    assert invalidation.criteria(domain="*.spam-farm.net").domain == "spam-farm.net"


# --- invalidating ---------------------------------------------------------------------------


def test_invalidating_moves_every_counter_exactly_and_only_for_confirmed_signatures(ctx) -> None:
    scene = build_scene()
    crit = invalidation.criteria(slug=scene.petition.slug, domain="spam-farm.net")
    batch = invalidation.invalidate(crit, scene.admin, reason="A bot farm", now=LATER, expected=4)
    db.session.commit()

    assert batch.signature_count == 4
    assert (batch.petition_id, batch.actor_id, batch.reason) == (scene.petition.id, scene.admin.id, "A bot farm")
    assert batch.criteria == {"petition": scene.petition.slug, "domain": "spam-farm.net"}
    # a1 a2 a3 leave the counts; a4 was pending and counted nowhere; b1, g1, g2 stay
    assert state(scene) == (3, {"GB": 2, "DE": 1}, [("Farm", 0), ("Good people", 2)], {12: 2, 14: 1})
    assert_consistent(scene.petition, scene.other)
    db.session.refresh(scene.other)
    assert scene.other.signature_count == 1  # criteria hold on the petition

    for key in ("a1", "a2", "a3", "a4"):
        sig = db.session.get(Signature, scene.sigs[key].id)
        assert (sig.invalidated_at, sig.invalidation_id) == (LATER, batch.id)
    for key in ("b1", "g1", "g2", "o1"):
        assert db.session.get(Signature, scene.sigs[key].id).invalidated_at is None

    # the pending one can no longer be confirmed, so it can never slip back into the count
    with pytest.raises(SignatureInvalidated):
        confirming.confirm(db.session.get(Signature, scene.sigs["a4"].id), now=LATER)
    db.session.rollback()

    (entry,) = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "signatures.invalidate"))
    assert (entry.actor_id, entry.actor_email, entry.target_type, entry.target_id, entry.reason) == (
        scene.admin.id,
        "admin@example.org",
        "invalidation",
        batch.id,
        "A bot farm",
    )
    assert entry.details["signatures"] == 4 and entry.details["confirmed"] == 3
    assert entry.created_at == LATER


def test_invalid_signatures_are_left_alone_and_a_second_batch_takes_only_new_ones(ctx) -> None:
    scene = build_scene()
    first = invalidation.invalidate(
        invalidation.criteria(slug=scene.petition.slug, network="203.0.113.8/30"), scene.admin, reason="r1", now=LATER
    )
    assert first.signature_count == 2  # a1 a2
    assert state(scene)[0] == 4
    crit = invalidation.criteria(slug=scene.petition.slug, domain="spam-farm.net")
    found = invalidation.preview(crit)
    assert (found.total, found.confirmed, found.pending, found.invalid, found.valid) == (4, 1, 1, 2, 2)
    second = invalidation.invalidate(crit, scene.admin, reason="r2", now=LATER + timedelta(minutes=1))
    assert second.signature_count == 2  # a3 a4
    assert db.session.get(Signature, scene.sigs["a1"].id).invalidation_id == first.id
    assert state(scene)[0] == 3
    with pytest.raises(invalidation.NothingToInvalidate):
        invalidation.invalidate(crit, scene.admin, reason="r3", now=LATER)
    db.session.rollback()
    assert_consistent(scene.petition)


def test_a_changed_preview_or_a_missing_reason_changes_nothing(ctx) -> None:
    scene = build_scene()
    crit = invalidation.criteria(slug=scene.petition.slug, domain="spam-farm.net")
    with pytest.raises(invalidation.PreviewOutdated) as outdated:
        invalidation.invalidate(crit, scene.admin, reason="bots", now=LATER, expected=3)
    assert (outdated.value.expected, outdated.value.actual) == (3, 4)
    db.session.rollback()
    with pytest.raises(invalidation.ReasonRequired):
        invalidation.invalidate(crit, scene.admin, reason="   ", now=LATER)
    db.session.rollback()
    assert state(scene) == BEFORE
    assert db.session.scalar(select(func.count()).select_from(Invalidation)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_across_petitions_every_petition_is_counted_exactly(ctx) -> None:
    scene = build_scene()
    batch = invalidation.invalidate(
        invalidation.criteria(domain="spam-farm.net"), scene.admin, reason="farm", now=LATER
    )
    assert (batch.petition_id, batch.signature_count) == (None, 5)
    assert state(scene)[0] == 3
    db.session.refresh(scene.other)
    assert scene.other.signature_count == 0
    assert_consistent(scene.petition, scene.other)


# --- reversing ------------------------------------------------------------------------------


def test_reversing_puts_every_counter_back_and_only_once(ctx) -> None:
    scene = build_scene()
    batch = invalidation.invalidate(
        invalidation.criteria(slug=scene.petition.slug, domain="spam-farm.net"), scene.admin, reason="bots", now=LATER
    )
    db.session.commit()
    assert state(scene)[0] == 3

    assert invalidation.reverse(batch, scene.admin, reason="They were real people", now=LATER + timedelta(hours=1)) == 4
    db.session.commit()
    assert state(scene) == BEFORE
    assert_consistent(scene.petition, scene.other)
    db.session.refresh(batch)
    assert batch.reversed_at == LATER + timedelta(hours=1) and batch.reversed_by_id == scene.admin.id
    assert (
        db.session.scalar(select(func.count()).select_from(Signature).where(Signature.invalidated_at.is_not(None))) == 0
    )
    (entry,) = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "signatures.reverse"))
    assert (entry.target_id, entry.reason, entry.details["confirmed"]) == (batch.id, "They were real people", 3)

    with pytest.raises(invalidation.AlreadyReversed):
        invalidation.reverse(batch, scene.admin, reason="again", now=LATER)
    db.session.rollback()
    with pytest.raises(invalidation.ReasonRequired):
        invalidation.reverse(batch, scene.admin, reason="", now=LATER)
    db.session.rollback()

    # the pending signature can be confirmed again, and counts once
    a4 = db.session.get(Signature, scene.sigs["a4"].id)
    assert confirming.confirm(a4, now=LATER + timedelta(hours=2))
    db.session.commit()
    assert state(scene)[0] == 7
    assert_consistent(scene.petition)


# --- concurrency: a confirmation racing an invalidation ---------------------------------------


def _in_thread(app, target, results: dict, key: str) -> threading.Thread:
    def run() -> None:
        with app.app_context():
            try:
                results[key] = target()
            except Exception as exc:  # handed to the test, which fails on it
                results[key] = exc
                db.session.rollback()
            finally:
                db.session.remove()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_confirmation_committing_during_an_invalidation_is_taken_off_the_count(app, ctx) -> None:
    """The confirmation holds its row; the invalidation waits for it, then sees it confirmed and subtracts it."""
    scene = build_scene()
    a4_id, slug, admin_id = scene.sigs["a4"].id, scene.petition.slug, scene.admin.id
    db.session.commit()
    confirmed, release = threading.Event(), threading.Event()
    results: dict = {}

    def confirm() -> bool:
        newly = confirming.confirm(db.session.get(Signature, a4_id), now=LATER)
        db.session.flush()
        confirmed.set()
        release.wait(10)
        db.session.commit()
        return newly

    def invalidate() -> int:
        crit = invalidation.criteria(slug=slug, domain="spam-farm.net")
        batch = invalidation.invalidate(crit, db.session.get(User, admin_id), reason="race", now=LATER)
        db.session.commit()
        return batch.signature_count

    first = _in_thread(app, confirm, results, "confirm")
    assert confirmed.wait(10)
    second = _in_thread(app, invalidate, results, "invalidate")
    time.sleep(0.5)  # the invalidation is now waiting for the confirmation's lock
    assert "invalidate" not in results
    release.set()
    first.join(20)
    second.join(20)
    assert results == {"confirm": True, "invalidate": 4}
    db.session.expire_all()
    assert state(scene)[0] == 3
    assert_consistent(scene.petition)


def test_a_confirmation_after_an_invalidation_confirms_nothing(app, ctx) -> None:
    """The invalidation holds the rows; the confirmation waits, then finds its row invalid."""
    scene = build_scene()
    a4_id, slug, admin_id = scene.sigs["a4"].id, scene.petition.slug, scene.admin.id
    db.session.commit()
    done, release = threading.Event(), threading.Event()
    results: dict = {}

    def invalidate() -> int:
        crit = invalidation.criteria(slug=slug, domain="spam-farm.net")
        batch = invalidation.invalidate(crit, db.session.get(User, admin_id), reason="race", now=LATER)
        done.set()
        release.wait(10)
        db.session.commit()
        return batch.signature_count

    def confirm() -> bool:
        return confirming.confirm(db.session.get(Signature, a4_id), now=LATER)

    first = _in_thread(app, invalidate, results, "invalidate")
    assert done.wait(10)
    second = _in_thread(app, confirm, results, "confirm")
    time.sleep(0.5)
    release.set()
    first.join(20)
    second.join(20)
    assert results["invalidate"] == 4
    assert isinstance(results["confirm"], SignatureInvalidated)
    db.session.expire_all()
    assert state(scene)[0] == 3
    assert_consistent(scene.petition)


# --- over HTTP ------------------------------------------------------------------------------
# Requests run in their own app context (own session, own g); the checks open another.


@dataclass
class Site:
    client: object
    app: object
    slug: str
    petition_id: int

    def state(self) -> tuple:
        """The counters of the scene's petition, read fresh."""
        with self.app.app_context():
            petition = db.session.get(Petition, self.petition_id)
            return (
                petition.signature_count,
                counts.by_country(petition.id),
                counts.by_group(petition.id),
                hours(petition),
            )

    def consistent(self) -> None:
        """recount finds nothing to correct."""
        with self.app.app_context():
            assert counts.recount(db.session.get(Petition, self.petition_id), now=LATER) == []
            db.session.rollback()

    def scalar(self, stmt):
        with self.app.app_context():
            return db.session.scalar(stmt)


@pytest.fixture
def site(app, client) -> Site:
    """The scene built, and a client signed in as its administrator."""
    with app.app_context():
        scene = build_scene()
        site = Site(client, app, scene.petition.slug, scene.petition.id)
    assert login(client, "admin@example.org").status_code == 303
    return site


def test_the_signatures_page_previews_then_invalidates_with_a_reason(site) -> None:
    client, slug = site.client, site.slug
    assert client.get("/admin/signatures").status_code == 200

    page = client.get(f"/admin/signatures?petition={slug}&domain=spam-farm.net")
    assert page.status_code == 200
    assert 'id="match-total">4<' in page.text and 'id="match-confirmed">3<' in page.text
    assert "Invalidate 4 signatures" in page.text
    assert site.state() == BEFORE  # a preview changes nothing

    form = {"petition": slug, "domain": "spam-farm.net", "expected": "4", "csrf_token": csrf_from(page.text)}
    refused = client.post("/admin/signatures", data={**form, "reason": ""})
    assert refused.status_code == 422
    assert 'id="reason-error"' in refused.text and "Please give a reason." in refused.text
    assert site.state() == BEFORE

    outdated = client.post("/admin/signatures", data={**form, "expected": "3", "reason": "bots"})
    assert outdated.status_code == 409
    assert "4 signatures match now, not 3" in outdated.text and "Invalidate 4 signatures" in outdated.text
    assert site.state() == BEFORE

    done = client.post("/admin/signatures", data={**form, "reason": "A bot farm"})
    assert done.status_code == 303
    batch_id = site.scalar(select(Invalidation.id))
    assert done.headers["Location"] == f"/admin/invalidations/{batch_id}"
    assert "4 signature(s) invalidated" in client.get(done.headers["Location"]).text
    assert site.state()[0] == 3
    site.consistent()
    assert 'data-count="3"' in client.get(f"/petitions/{slug}").text

    listing = client.get("/admin/invalidations")
    assert listing.status_code == 200 and f"Batch {batch_id}" in listing.text and "A bot farm" in listing.text

    detail = client.get(f"/admin/invalidations/{batch_id}")
    token = csrf_from(detail.text)
    assert client.post(f"/admin/invalidations/{batch_id}/reverse", data={"csrf_token": token}).status_code == 422
    assert site.state()[0] == 3
    reversed_ = client.post(
        f"/admin/invalidations/{batch_id}/reverse", data={"reason": "real people", "csrf_token": token}
    )
    assert reversed_.status_code == 303
    assert site.state() == BEFORE
    again = client.post(f"/admin/invalidations/{batch_id}/reverse", data={"reason": "again", "csrf_token": token})
    assert again.status_code == 409 and "already reversed" in again.text
    assert site.state() == BEFORE
    site.consistent()


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("network=203.0.113.0/99", "network", "is not an IP address or network"),
        ("petition=no-such-petition", "petition", "No petition has the address"),
        ("domain=not%20a%20domain", "domain", "is not a domain"),
        ("created_from=yesterday", "created_from", "Please enter a date and time"),
        ("created_from=2024-05-02T10:00&created_before=2024-05-01T10:00", "created_before", "must be after its start"),
        ("domain=&network=&petition=", None, "refusing to match every signature"),
    ],
)
def test_bad_criteria_over_http_are_422_with_the_error_next_to_the_field(site, query, field, message) -> None:
    page = site.client.get(f"/admin/signatures?{query}")
    assert page.status_code == 422
    assert message in page.text
    if field:
        assert f'id="{field}-error"' in page.text
    assert 'id="match-total"' not in page.text and 'id="invalidate-button"' not in page.text


def test_a_post_with_bad_or_no_criteria_changes_nothing(site) -> None:
    token = csrf_from(site.client.get("/admin/signatures").text)
    for data in ({}, {"network": "nonsense"}, {"petition": "nope"}):
        response = site.client.post("/admin/signatures", data={**data, "reason": "bots", "csrf_token": token})
        assert response.status_code == 422
    assert site.scalar(select(func.count()).select_from(Invalidation)) == 0
    assert site.state() == BEFORE
    nothing = site.client.post(
        "/admin/signatures", data={"domain": "nobody.example.com", "reason": "x", "csrf_token": token}
    )
    assert nothing.status_code == 409 and "nothing was invalidated" in nothing.text


def test_a_time_window_from_the_form_is_read_as_utc(site) -> None:
    window = {"petition": site.slug, "created_from": "2024-05-01T13:00", "created_before": "2024-05-01T14:00"}
    page = site.client.get("/admin/signatures", query_string=window)
    assert page.status_code == 200 and 'id="match-total">3<' in page.text
    done = site.client.post(
        "/admin/signatures", data={**window, "expected": "3", "reason": "burst", "csrf_token": csrf_from(page.text)}
    )
    assert done.status_code == 303
    criteria = site.scalar(select(Invalidation.criteria))
    assert criteria["created_from"] == "2024-05-01T13:00:00+00:00"
    assert site.state()[0] == 4  # a2 a3 leave; a4 was pending
    site.consistent()
