"""Running a campaign: closing and reopening, locked text, updates to signers, groups, withdrawal, retention."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from petitions import worker
from petitions.campaigns import groups, lifecycle, updates
from petitions.clock import utcnow
from petitions.counting import counts
from petitions.extensions import db
from petitions.models import OutboxMessage, Petition, Signature, UpdateDelivery
from petitions.signatures import confirming, signing
from tests.helpers import csrf_from, deliver, link_in, login, make_petition, make_user, post_form

PETITION_FORM = {
    "title": "Stop selling Rekognition to governments",
    "target": "Amazon's board of directors",
    "summary": "Face recognition in the hands of governments threatens civil liberties.",
    "body": "We ask Amazon to stop.",
    "goal": "100",
}


def signed(petition, email, *, country="GB", confirm=True, updates=False, ip=None, now=None) -> Signature:
    now = now or utcnow()
    s = signing.sign(petition, signing.SignatureData("Sam", email, country, updates=updates), now=now, ip=ip)
    if confirm:
        confirming.confirm(s, now=now)
    db.session.commit()
    return s


def total(slug: str) -> int:
    db.session.expire_all()
    return db.session.scalar(select(Petition.signature_count).where(Petition.slug == slug))


# --- closing, reopening, locked text ---------------------------------------------------------


def test_owner_closes_early_and_reopens(app, client) -> None:
    with app.app_context():
        slug = make_petition(make_user()).slug
    login(client)
    page = client.get(f"/petitions/{slug}")
    client.post(f"/petitions/{slug}/close", data={"csrf_token": csrf_from(page.text)})
    assert client.get(f"/api/v1/petitions/{slug}/count").json["status"] == "closed"
    assert "Signing is closed" in client.get(f"/petitions/{slug}").text

    page = client.get(f"/petitions/{slug}")
    client.post(f"/petitions/{slug}/reopen", data={"csrf_token": csrf_from(page.text)})
    assert client.get(f"/api/v1/petitions/{slug}/count").json["status"] == "open"


def test_others_cannot_close(app, client) -> None:
    with app.app_context():
        slug = make_petition(make_user()).slug
        make_user("other@example.org")
    login(client, "other@example.org")
    page = client.get("/account")
    assert client.post(f"/petitions/{slug}/close", data={"csrf_token": csrf_from(page.text)}).status_code == 403
    assert client.get(f"/api/v1/petitions/{slug}/count").json["status"] == "open"


def test_reopening_after_the_closing_date_is_refused(ctx) -> None:
    now = utcnow()
    petition = make_petition(closes_at=now + timedelta(days=1))
    lifecycle.close_petition(petition, now=now)
    with pytest.raises(lifecycle.CannotChangeStatus):
        lifecycle.reopen_petition(petition, now=now + timedelta(days=2))
    lifecycle.reopen_petition(petition, now=now)
    assert petition.status == "open"


def test_petitions_close_by_themselves_at_their_closing_date(ctx) -> None:
    now = utcnow()
    petition = make_petition(closes_at=now + timedelta(hours=1))
    assert petition.is_open(now)
    assert not petition.is_open(now + timedelta(hours=2))  # the public sees it closed at once
    assert worker.housekeeping(now=now + timedelta(hours=2))["closed"] == 1
    db.session.refresh(petition)
    assert petition.status == "closed" and petition.closed_at == petition.closes_at


def test_title_and_target_lock_once_signed(app, client) -> None:
    with app.app_context():
        petition = make_petition(make_user(), title=PETITION_FORM["title"])
        slug = petition.slug
    login(client)
    assert post_form(client, f"/petitions/{slug}/edit", {**PETITION_FORM, "title": "A new title"}).status_code == 303
    with app.app_context():
        petition = db.session.scalar(select(Petition))
        signed(petition, "sam@example.org", confirm=False)  # even a pending signature locks them
    edit = client.get(f"/petitions/{slug}/edit")
    assert "can no longer change" in edit.text
    response = post_form(client, f"/petitions/{slug}/edit", {**PETITION_FORM, "title": "Something else entirely"})
    assert response.status_code == 422
    assert "people have signed the petition as it is" in response.text
    ok = post_form(client, f"/petitions/{slug}/edit", {**PETITION_FORM, "title": "A new title", "summary": "Changed."})
    assert ok.status_code == 303
    with app.app_context():
        petition = db.session.scalar(select(Petition))
        assert (petition.title, petition.summary) == ("A new title", "Changed.")


# --- updates to signers ----------------------------------------------------------------------


def test_an_update_reaches_each_opted_in_signer_once_with_an_unsubscribe_link(app, client, mailbox) -> None:
    app.config["UPDATE_BATCH_SIZE"] = 2  # several batches
    with app.app_context():
        petition = make_petition(make_user())
        slug = petition.slug
        for i in range(5):
            signed(petition, f"fan{i}@example.org", updates=True)
        signed(petition, "quiet@example.org", updates=False)
        signed(petition, "pending@example.org", updates=True, confirm=False)
    deliver(app)
    mailbox.clear()

    login(client)
    page = client.get(f"/account/petitions/{slug}/updates")
    assert "5 confirmed signers have asked for updates" in page.text
    assert "@example.org" not in page.text  # campaigners never see signer addresses
    response = client.post(
        f"/account/petitions/{slug}/updates",
        data={"subject": "We delivered it!", "body": "Thank you **all**.", "csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 303

    deliver(app)
    deliver(app)  # running the worker again sends nothing twice
    received = sorted(m["To"] for m in mailbox.messages)
    assert received == [f"fan{i}@example.org" for i in range(5)]
    message = mailbox.to("fan0@example.org")[0]
    unsubscribe = link_in(message, "/unsubscribe/")
    assert message["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(UpdateDelivery)) == 5

    # One click from the mail client (RFC 8058): no CSRF token, the signed link is enough.
    path = unsubscribe.removeprefix("http://localhost")
    assert app.test_client().post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    # From the page: a button with a CSRF token.
    other = link_in(mailbox.to("fan1@example.org")[0], "/unsubscribe/").removeprefix("http://localhost")
    visitor = app.test_client()
    assert visitor.post(other, data={}).status_code == 400  # a forged cross-site POST
    page = visitor.get(other)
    assert visitor.post(other, data={"csrf_token": csrf_from(page.text)}).status_code == 200
    with app.app_context():
        assert sorted(db.session.scalars(select(Signature.email).where(Signature.updates.is_(True)))) == [
            "fan2@example.org",
            "fan3@example.org",
            "fan4@example.org",
            "pending@example.org",
        ]


def test_update_batches_never_queue_a_signer_twice(ctx) -> None:
    petition = make_petition()
    for i in range(7):
        signed(petition, f"fan{i}@example.org", updates=True)
    update = updates.create_update(petition, petition.owner, subject="News", body="Hi", now=utcnow())
    db.session.commit()
    seen = []
    while (n := updates.queue_batch(now=utcnow(), limit=3)) is not None:
        db.session.commit()
        seen.append(n)
    assert seen == [3, 3, 1]
    assert db.session.get(type(update), update.id).recipient_count == 7
    assert (
        db.session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.subject == "News")) == 7
    )


# --- supporter groups ------------------------------------------------------------------------


def test_a_group_counts_confirmed_addresses_at_its_domains(app, client) -> None:
    app.config["GROUP_MIN_COUNT"] = (
        1  # exact public group counts here; tests/security/test_groups_privacy.py tests the threshold
    )
    with app.app_context():
        petition = make_petition(make_user())
        slug = petition.slug
        signed(petition, "a@amazon.com")
        signed(petition, "b@aws.amazon.com")  # subdomains count
        signed(petition, "c@amazon.com", confirm=False)  # not confirmed: not counted
        signed(petition, "d@notamazon.com")
    login(client)
    response = post_form(
        client, f"/account/petitions/{slug}/groups", {"name": "Amazon employees", "domains": "@Amazon.com, example.net"}
    )
    assert response.status_code == 303
    assert "2 confirmed Amazon employees" in client.get(f"/petitions/{slug}").text.replace("<strong>", "").replace(
        "</strong>", ""
    )

    with app.app_context():
        petition = db.session.scalar(select(Petition))
        pending = db.session.scalar(select(Signature).where(Signature.email == "c@amazon.com"))
        confirming.confirm(pending, now=utcnow())  # confirming later moves the group too
        signed(petition, "e@EXAMPLE.net")
        assert counts.recount(petition, now=utcnow()) == []
    doc = client.get(f"/api/v1/petitions/{slug}").json
    assert doc["supporter_groups"] == [{"name": "Amazon employees", "signature_count": 4}]
    assert doc["signature_count"] == 5


def test_group_domains_are_checked(ctx) -> None:
    with pytest.raises(groups.GroupError):
        groups.parse_domains("not a domain!")
    with pytest.raises(groups.GroupError):
        groups.parse_domains("  ")
    assert groups.parse_domains("@Amazon.COM\namazon.com, aws.amazon.com") == ["amazon.com", "aws.amazon.com"]
    petition = make_petition()
    groups.save_group(petition, name="A", domains=["amazon.com"], now=utcnow())
    with pytest.raises(groups.GroupError, match="already belongs"):
        groups.save_group(petition, name="B", domains=["amazon.com"], now=utcnow())


def test_overlapping_group_domains_count_toward_each_group_and_recount_agrees(ctx) -> None:
    petition = make_petition()
    groups.save_group(petition, name="Everyone at example", domains=["example.org"], now=utcnow())
    groups.save_group(petition, name="The sub team", domains=["sub.example.org"], now=utcnow())
    db.session.commit()
    s = signing.sign(petition, signing.SignatureData("A", "a@sub.example.org", "GB"), now=utcnow(), ip=None)
    confirming.confirm(s, now=utcnow())
    db.session.commit()
    assert counts.recount(db.session.get(Petition, petition.id), now=utcnow()) == []
    assert dict(counts.by_group(petition.id)) == {"Everyone at example": 1, "The sub team": 1}


# --- withdrawal and retention ----------------------------------------------------------------


def test_a_signer_withdraws_from_the_email_link_and_the_count_drops(app, client, mailbox) -> None:
    app.config["GROUP_MIN_COUNT"] = (
        1  # exact public group counts here; tests/security/test_groups_privacy.py tests the threshold
    )
    with app.app_context():
        petition = make_petition()
        slug = petition.slug
        groups.save_group(petition, name="Amazon employees", domains=["amazon.com"], now=utcnow())
        db.session.commit()
        signed(petition, "keep@example.org")
        signed(petition, "leave@amazon.com", country="FR")
    deliver(app)
    link = link_in(mailbox.to("leave@amazon.com")[0], "/withdraw/").removeprefix("http://localhost")
    page = client.get(link)
    assert page.status_code == 200 and "Withdraw my signature" in page.text
    assert client.get(f"/api/v1/petitions/{slug}/count").json["signature_count"] == 2  # a GET changes nothing
    done = client.post(link, data={"csrf_token": csrf_from(page.text)})
    assert done.status_code == 200 and "withdrawn" in done.text
    doc = client.get(f"/api/v1/petitions/{slug}").json
    assert doc["signature_count"] == 1
    assert doc["signatures_by_country"] == {"GB": 1}
    assert doc["supporter_groups"][0]["signature_count"] == 0
    assert client.get(link).status_code == 404  # the link is spent
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Signature)) == 1
        assert counts.recount(db.session.scalar(select(Petition)), now=utcnow()) == []


def test_ip_addresses_are_dropped_after_the_retention_period(app, runner) -> None:
    with app.app_context():
        petition = make_petition()
        old = utcnow() - timedelta(days=app.config["IP_RETENTION_DAYS"] + 1)
        signed(petition, "old@example.org", ip="203.0.113.5", now=old)
        signed(petition, "new@example.org", ip="2001:db8::1")
    result = runner.invoke(args=["purge-ips"])
    assert result.exit_code == 0 and "1 signature" in result.output
    with app.app_context():
        rows = dict(db.session.execute(select(Signature.email, Signature.ip_address)).all())
        assert rows == {"old@example.org": None, "new@example.org": "2001:db8::1"}
        assert db.session.scalar(select(Signature.ip_key).where(Signature.email == "old@example.org")) is None
