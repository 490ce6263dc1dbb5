"""The target's response and the victory: posted by the campaigner or an admin, shown at the top of the
page, mailed to the signers who asked for updates in their language, announced by a webhook event."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from petitions.campaigns import responses
from petitions.clock import utcnow
from petitions.extensions import db
from petitions.models import (
    AuditEntry,
    Petition,
    PetitionResponse,
    PetitionUpdate,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from petitions.signatures import confirming, signing
from petitions.webhooks import endpoints
from tests.helpers import body_of, csrf_from, deliver, login, make_petition, make_user

TITLE = "Stop selling Rekognition to governments"
RESPONSE = "We have **paused** sales to police forces.\n\n- until 2027\n- [statement](https://example.org/statement)"


@pytest.fixture
def campaign(app: Flask) -> str:
    """A public petition of campaigner@example.org; signers in Spanish and English who asked for updates,
    one who did not: its slug."""
    with app.app_context():
        petition = make_petition(make_user(), title=TITLE)
        now = utcnow()
        for email, locale, wants in (
            ("ana@example.org", "es", True),
            ("sam@example.org", "en", True),
            ("quiet@example.org", "en", False),
        ):
            data = signing.SignatureData("Sam", email, "GB", updates=wants, locale=locale)
            confirming.confirm(signing.sign(petition, data, now=now, ip=None), now=now)
        endpoint = WebhookEndpoint(
            petition_id=petition.id,
            url="https://hooks.example.org/in",
            secret=endpoints.new_secret(),
            events="petition.responded",
            enabled=True,
            failures=0,
            created_at=now,
        )
        db.session.add(endpoint)
        db.session.commit()
        slug = petition.slug
    deliver(app)  # the confirmations: not what this is about
    return slug


def news(mailbox, address: str) -> list:
    """The messages to `address` but those about their own signature (its confirmation, its receipt from the log)."""
    return [m for m in mailbox.to(address) if "signature" not in m["Subject"] and "firma" not in m["Subject"]]


def post_response(client, slug: str, **fields: str):
    page = client.get(f"/account/petitions/{slug}/response")
    data = {"text": RESPONSE, "responded_on": "2026-12-01", "csrf_token": csrf_from(page.text), **fields}
    return client.post(f"/account/petitions/{slug}/response", data=data)


def nothing_stored(app: Flask) -> bool:
    with app.app_context():
        return (
            db.session.scalar(select(func.count()).select_from(PetitionResponse)) == 0
            and db.session.scalar(select(func.count()).select_from(PetitionUpdate)) == 0
            and db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
            and db.session.scalar(select(Petition.outcome)) is None
        )


def test_the_campaigner_posts_the_response_and_victory_signers_get_it_in_their_language(
    app, client, mailbox, campaign
) -> None:
    slug = campaign
    login(client)
    response = post_response(client, slug, won="y")
    assert response.status_code == 303
    page = client.get(f"/petitions/{slug}").text
    top = page.index('id="response"')
    assert top < page.index('class="tally"')  # at the top, above the count
    assert "Victory! This petition has won." in page
    assert "<strong>paused</strong>" in page
    assert '<time datetime="2026-12-01">December 1, 2026</time>' in page

    count = client.get(f"/api/v1/petitions/{slug}/count").get_json()
    assert (count["status"], count["outcome"]) == ("open", "won")  # won, and still taking signatures
    assert client.get(f"/api/v1/petitions/{slug}").get_json()["outcome"] == "won"

    with app.app_context():
        event = db.session.scalar(select(WebhookEvent))
        assert event.type == "petition.responded"
        assert event.payload["data"]["response"] == {"text": RESPONSE, "responded_at": "2026-12-01", "won": True}
        assert event.payload["data"]["petition"]["outcome"] == "won"
        (delivery,) = db.session.scalars(select(WebhookDelivery))  # for the petition's endpoint
        assert delivery.event_id == event.id

    deliver(app)
    assert news(mailbox, "quiet@example.org") == []
    (ana,) = news(mailbox, "ana@example.org")
    assert ana["Subject"] == f"Victoria: {TITLE}"
    body = body_of(ana)
    assert "respondió a la petición el 1 de diciembre de 2026" in body
    assert "We have **paused** sales" in body  # the target's words as they were
    (sam,) = news(mailbox, "sam@example.org")
    assert sam["Subject"] == f"Victory: {TITLE}"
    assert f'Victory! The petition "{TITLE}" has won.' in body_of(sam)
    assert "Amazon's board of directors responded to the petition on December 1, 2026:" in body_of(sam)
    assert sam["List-Unsubscribe"]


def test_a_response_without_victory_and_taking_the_victory_back(app, client, mailbox, campaign) -> None:
    slug = campaign
    login(client)
    assert post_response(client, slug).status_code == 303
    page = client.get(f"/petitions/{slug}").text
    assert "The response of Amazon&#39;s board of directors" in page
    assert "Victory!" not in page
    assert client.get(f"/api/v1/petitions/{slug}/count").get_json()["outcome"] is None
    deliver(app)
    (sam,) = news(mailbox, "sam@example.org")
    assert sam["Subject"] == f"The target responded: {TITLE}"

    form = client.get(f"/account/petitions/{slug}/response").text
    assert (
        client.post(
            f"/account/petitions/{slug}/outcome", data={"outcome": "won", "csrf_token": csrf_from(form)}
        ).status_code
        == 303
    )
    assert client.get(f"/api/v1/petitions/{slug}/count").get_json()["outcome"] == "won"
    assert (
        client.post(
            f"/account/petitions/{slug}/outcome", data={"outcome": "", "csrf_token": csrf_from(form)}
        ).status_code
        == 303
    )
    assert client.get(f"/api/v1/petitions/{slug}/count").get_json()["outcome"] is None
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == 0  # the owner's own acts


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"text": "Thanks <script>alert(1)</script>"}, "Please remove: &lt;script&gt;"),
        ({"text": "[read it](javascript:alert(1))"}, "Please remove: javascript:"),
        ({"text": '<img src=x onerror="alert(1)">'}, "Please remove: &lt;img&gt;"),
        ({"text": ""}, "Please write the response."),
        ({"text": "x" * 20001}, "under 20,000 characters"),
        ({"responded_on": ""}, "Please give the date of the response."),
        ({"responded_on": "yesterday"}, "Please give the date of the response."),
        ({"responded_on": (utcnow().date() + timedelta(days=2)).isoformat()}, "cannot be in the future"),
    ],
)
def test_bad_input_gets_a_clear_error_and_nothing_is_stored(app, client, campaign, fields, message) -> None:
    login(client)
    response = post_response(client, campaign, won="y", **fields)
    assert response.status_code == 422
    assert message in response.text
    assert nothing_stored(app)


def test_another_campaigner_and_anonymous_visitors_are_kept_out_an_admin_may_post(app, client, campaign) -> None:
    slug = campaign
    with app.app_context():
        make_user("other@example.org")
        make_user("admin@example.org", admin=True)
    anonymous = app.test_client()
    for url in (f"/account/petitions/{slug}/response",):
        response = anonymous.get(url)
        assert response.status_code in (302, 303) and "/login" in response.headers["Location"]
    assert anonymous.post(f"/account/petitions/{slug}/outcome", data={"outcome": "won"}).status_code in (302, 303, 400)
    other = app.test_client()
    login(other, "other@example.org")
    assert other.get(f"/account/petitions/{slug}/response").status_code == 403
    token = csrf_from(other.get("/account").text)
    posted = other.post(
        f"/account/petitions/{slug}/response", data={"text": "Fake", "responded_on": "2026-12-01", "csrf_token": token}
    )
    assert posted.status_code == 403
    assert (
        other.post(f"/account/petitions/{slug}/outcome", data={"outcome": "won", "csrf_token": token}).status_code
        == 403
    )
    assert nothing_stored(app)

    admin = app.test_client()
    login(admin, "admin@example.org")
    assert post_response(admin, slug, won="y").status_code == 303
    with app.app_context():
        entry = db.session.scalar(select(AuditEntry))
        assert (entry.action, entry.actor_email, entry.details["won"]) == (
            "petition.respond",
            "admin@example.org",
            True,
        )
        assert db.session.scalar(select(Petition.outcome)) == "won"


def test_the_event_is_written_in_the_responses_transaction(ctx) -> None:
    """Rolled back with the response: no event, no update, no victory without the response."""
    owner = make_user()
    petition = make_petition(owner)
    responses.post_response(petition, owner, responses.ResponseData("Yes.", date(2026, 12, 1), won=True), now=utcnow())
    assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 1
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
    assert db.session.scalar(select(func.count()).select_from(PetitionUpdate)) == 0
    assert db.session.get_one(Petition, petition.id).outcome is None


def test_each_response_is_its_own_event(ctx) -> None:
    owner = make_user()
    petition = make_petition(owner)
    for text in ("We will look at it.", "We agree."):
        responses.post_response(petition, owner, responses.ResponseData(text, date(2026, 12, 1)), now=utcnow())
    db.session.commit()
    texts = [
        e.payload["data"]["response"]["text"]
        for e in db.session.scalars(select(WebhookEvent).order_by(WebhookEvent.id))
    ]
    assert texts == ["We will look at it.", "We agree."]
    assert [r.text for r in db.session.get_one(Petition, petition.id).responses] == ["We agree.", "We will look at it."]
