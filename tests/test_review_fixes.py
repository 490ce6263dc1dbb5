"""Regression tests for problems found in review: each one failed before its fix."""

from __future__ import annotations

from sqlalchemy import select

from petitions.campaigns import groups
from petitions.clock import utcnow
from petitions.counting import counts
from petitions.extensions import db
from petitions.infra import mail
from petitions.models import Invalidation, OutboxMessage, Petition, Signature, User
from petitions.moderation import abuse, invalidation
from petitions.signatures import signing
from tests.helpers import csrf_from, make_petition, sign_form


def test_a_line_break_in_a_title_cannot_stall_the_mail(app, ctx, mailbox) -> None:
    petition = make_petition(title="Save it\r\nBcc: everyone@example.org")
    for i in range(3):
        signing.sign(petition, signing.SignatureData("A", f"s{i}@example.org", "GB"), now=utcnow(), ip=None)
    db.session.commit()
    assert mail.drain() == (3, 0)
    assert all("\n" not in m["Subject"] and m["Bcc"] is None for m in mailbox.messages)


def test_overlapping_group_domains_count_by_one_rule(ctx) -> None:
    petition = make_petition()
    groups.save_group(petition, name="Everyone at example", domains=["example.org"], now=utcnow())
    groups.save_group(petition, name="The sub team", domains=["sub.example.org"], now=utcnow())
    db.session.commit()
    s = signing.sign(petition, signing.SignatureData("A", "a@sub.example.org", "GB"), now=utcnow(), ip=None)
    signing.confirm(s, now=utcnow())
    db.session.commit()
    assert counts.recount(db.session.get(Petition, petition.id), now=utcnow()) == []
    assert dict(counts.by_group(petition.id)) == {"Everyone at example": 1, "The sub team": 1}


def test_a_suspected_signing_never_joins_a_reversed_batch(ctx) -> None:
    petition = make_petition()
    now = utcnow()
    first = signing.sign(
        petition, signing.SignatureData("A", "a@example.org", "GB"), now=now, ip=None, suspected="fast"
    )
    abuse.assign_suspected(now=now)  # what the worker and the admin's batch pages do
    db.session.commit()
    batch = db.session.get(Invalidation, db.session.get(Signature, first.id).invalidation_id)
    admin = User(name="A", email="admin@example.org", created_at=now, is_admin=True, password_hash="x")
    db.session.add(admin)
    db.session.flush()
    invalidation.reverse(batch, admin, reason="fine", now=now)
    db.session.commit()
    second = signing.sign(
        petition, signing.SignatureData("B", "b@example.org", "GB"), now=now, ip=None, suspected="fast"
    )
    abuse.assign_suspected(now=now)
    db.session.commit()
    assert db.session.get(Signature, second.id).invalidation_id not in (batch.id, None)


def test_a_csrf_failure_on_the_sign_form_gives_a_form_that_works(app, client) -> None:
    with app.app_context():
        slug = make_petition().slug
    failed = client.post(f"/petitions/{slug}/sign", data={"name": "Al", "email": "al@example.org", "country": "GB"})
    assert failed.status_code == 400 and 'value="Al"' in failed.text
    retried = client.post(
        f"/petitions/{slug}/sign",
        data={
            "name": "Al",
            "email": "al@example.org",
            "country": "GB",
            "csrf_token": csrf_from(failed.text),
            "started": __import__("re").search(r'name="started" type="hidden" value="([^"]*)"', failed.text).group(1),
        },
    )
    assert retried.status_code == 303


def test_odd_page_numbers_and_urls_are_not_500s(client) -> None:
    assert client.get("/?page=99999999999999999999").status_code == 200
    assert client.get("/api/v1/petitions?page=99999999999999999999").status_code == 200
    assert client.get("/oembed?url=http://[::1").status_code == 404


def test_a_stale_claim_is_not_sent_by_its_old_worker(app, ctx, mailbox) -> None:
    now = utcnow()
    mail.queue_email(
        "r@example.org",
        "Hi",
        "already_signed",
        now=now,
        petition={"title": "T"},
        petition_url="http://localhost/p",
        withdraw_url="http://localhost/w",
    )
    db.session.commit()
    old = mail.claim("old-worker", now=now, limit=10)
    # the claim goes stale and another worker takes the message over
    db.session.execute(db.update(OutboxMessage).values(claimed_by="new-worker"))
    db.session.commit()
    assert mail.send_claimed(old, worker="old-worker") == (0, 0)
    assert mailbox.messages == []
    _ = (select, sign_form)


def test_blocks_match_every_spelling_of_a_domain(app, client) -> None:
    from petitions.moderation import blocks

    with app.app_context():
        slug = make_petition().slug
        admin = User(name="A", email="admin@example.org", created_at=utcnow(), is_admin=True, password_hash="x")
        db.session.add(admin)
        db.session.flush()
        blocks.block_domain("bücher.de", admin, reason="bots", now=utcnow())
        db.session.commit()
    assert sign_form(client, slug, email="x@BÜCHER.de").status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Signature.invalidated_at)) is not None
