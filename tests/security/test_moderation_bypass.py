"""Edits after approval: an approved petition cannot be turned into spam behind the moderators' backs.

Under MODERATION=pre the owner of an approved petition changed its title and body to spam
and a phishing link, and it stayed public. Now the new text waits as a proposal while the
public keeps reading the approved one; approving applies it, rejecting discards it with a
reason the owner sees. Under post the change applies and the petition is flagged for review.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from petitions.clock import utcnow
from petitions.extensions import db
from petitions.models import AuditEntry, Petition, PetitionRevision
from petitions.signatures import signing
from tests.helpers import assert_accessible, body_of, deliver, login, make_petition, make_user, post_form

OWNER = "owner@example.org"
ADMIN = "admin@example.org"
APPROVED = {
    "title": "Stop selling Rekognition to governments",
    "target": "Amazon's board of directors",
    "summary": "Face recognition in the hands of governments threatens civil liberties.",
    "body": "We ask Amazon to **stop selling** Rekognition to government agencies.",
    "goal": "100",
}
SPAM = {
    **APPROVED,
    "title": "Cheap pills: claim your prize now",
    "summary": "You have won. Log in to claim.",
    "body": "Log in at [your bank](https://phish.example.net/login) to claim your prize.",
}


@pytest.fixture
def slug(app) -> str:
    """An approved, open petition (nobody has signed yet) and an administrator."""
    with app.app_context():
        make_user(ADMIN, admin=True)
        return make_petition(make_user(OWNER)).slug


@pytest.fixture
def owner(app):
    client = app.test_client()
    assert login(client, OWNER).status_code == 303
    return client


@pytest.fixture
def admin(app):
    client = app.test_client()
    assert login(client, ADMIN).status_code == 303
    return client


def edit(client, slug: str, fields: dict):
    return post_form(client, f"/petitions/{slug}/edit", fields)


def petition_row(app, slug: str) -> Petition:
    with app.app_context():
        petition = db.session.scalar(select(Petition).where(Petition.slug == slug))
        db.session.expunge(petition)
        return petition


def revisions(app, slug: str) -> list[tuple[str, str]]:
    """(status, title) of the petition's proposals, oldest first."""
    with app.app_context():
        return [
            (r.status, r.title)
            for r in db.session.scalars(
                select(PetitionRevision).join(Petition).where(Petition.slug == slug).order_by(PetitionRevision.id)
            )
        ]


def public_texts(app, slug: str) -> str:
    """Everything the public reads of the petition: its page, the list, the JSON, oEmbed, the widget."""
    client = app.test_client()
    pages = [
        client.get(f"/petitions/{slug}"),
        client.get("/"),
        client.get(f"/api/v1/petitions/{slug}"),
        client.get("/api/v1/petitions"),
        client.get(f"/oembed?url=http://localhost/petitions/{slug}&format=json"),
        client.get(f"/embed/{slug}"),
    ]
    assert all(p.status_code == 200 for p in pages)
    return "\n".join(p.get_data(as_text=True) for p in pages)


def revision_id(admin, slug: str, action: str = "approve") -> str:
    page = admin.get(f"/admin/petitions/{slug}")
    return re.search(rf"/admin/revisions/(\d+)/{action}", page.text).group(1)


# --- MODERATION=pre ---------------------------------------------------------------------------


def test_under_pre_the_new_text_waits_and_the_public_keeps_the_approved_one(app, slug, owner, admin) -> None:
    app.config["MODERATION"] = "pre"
    response = edit(owner, slug, {**SPAM, "goal": "500"})
    assert response.status_code == 303
    assert "waits for a moderator" in owner.get(response.headers["Location"]).text

    public = public_texts(app, slug)
    assert "Cheap pills" not in public and "phish.example.net" not in public and "You have won" not in public
    assert APPROVED["title"] in public
    petition = petition_row(app, slug)
    assert (petition.title, petition.summary, petition.body) == (
        APPROVED["title"],
        APPROVED["summary"],
        APPROVED["body"],
    )
    assert petition.goal == 500  # the goal is not what people read as the petition: it applies at once
    assert revisions(app, slug) == [("pending", SPAM["title"])]

    # The owner sees their proposal and that it waits; the moderators see it in the queue.
    form = owner.get(f"/petitions/{slug}/edit").text
    assert 'id="edit-pending"' in form and "phish.example.net" in form
    queue = admin.get("/admin/queue").text
    assert SPAM["title"] in queue and "1 change waits for review" in queue
    assert re.search(r'id="pending-changes-count">1<', admin.get("/admin/").text)
    page = admin.get(f"/admin/petitions/{slug}").text
    assert "A change waits for review" in page and "https://phish.example.net/login" in page


def test_approving_applies_the_proposed_text(app, slug, owner, admin, mailbox) -> None:
    app.config["MODERATION"] = "pre"
    edit(owner, slug, {**APPROVED, "summary": "A sharper summary.", "body": "A **better** text."})
    rid = revision_id(admin, slug)
    response = post_form(admin, f"/admin/revisions/{rid}/approve", {}, page_url=f"/admin/petitions/{slug}")
    assert response.status_code == 303
    public = public_texts(app, slug)
    assert "A sharper summary." in public and "A <strong>better</strong> text." in public
    assert revisions(app, slug) == [("approved", APPROVED["title"])]
    with app.app_context():
        assert (
            db.session.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc()).limit(1))
            == "petition.edit_approve"
        )
    deliver(app)
    assert [m["Subject"] for m in mailbox.to(OWNER)] == [f"Your changes are approved: {APPROVED['title']}"]
    assert 'id="edit-pending"' not in owner.get(f"/petitions/{slug}/edit").text


def test_rejecting_discards_the_text_with_a_reason_the_owner_sees(app, slug, owner, admin, mailbox) -> None:
    app.config["MODERATION"] = "pre"
    edit(owner, slug, SPAM)
    rid = revision_id(admin, slug, "reject")
    refused = post_form(admin, f"/admin/revisions/{rid}/reject", {"reason": ""}, page_url=f"/admin/petitions/{slug}")
    assert refused.status_code == 422 and "Please give a reason." in refused.text
    response = post_form(
        admin,
        f"/admin/revisions/{rid}/reject",
        {"reason": "Spam with a phishing link."},
        page_url=f"/admin/petitions/{slug}",
    )
    assert response.status_code == 303
    assert "Cheap pills" not in public_texts(app, slug)
    assert petition_row(app, slug).title == APPROVED["title"]
    assert revisions(app, slug) == [("rejected", SPAM["title"])]
    form = owner.get(f"/petitions/{slug}/edit").text
    assert 'id="edit-rejected"' in form and "Spam with a phishing link." in form
    assert APPROVED["title"] in form and "Cheap pills" not in form  # the form holds the approved text again
    deliver(app)
    (message,) = mailbox.to(OWNER)
    assert message["Subject"].startswith("Your changes were not approved") and "Spam with a phishing link." in body_of(
        message
    )
    # It is gone from the queue.
    assert "No change waits for review." in admin.get("/admin/queue").text


def test_a_new_proposal_replaces_the_waiting_one_and_the_old_one_cannot_be_approved(app, slug, owner, admin) -> None:
    app.config["MODERATION"] = "pre"
    edit(owner, slug, {**APPROVED, "summary": "Harmless change."})
    seen = revision_id(admin, slug)  # a moderator opens this one ...
    edit(owner, slug, SPAM)  # ... and the owner swaps in spam meanwhile
    response = post_form(admin, f"/admin/revisions/{seen}/approve", {}, page_url=f"/admin/petitions/{slug}")
    assert response.status_code == 409 and "no longer waits for review" in response.text
    assert "Cheap pills" not in public_texts(app, slug) and "Harmless change." not in public_texts(app, slug)
    assert revisions(app, slug) == [("superseded", APPROVED["title"]), ("pending", SPAM["title"])]


def test_going_back_to_the_approved_text_withdraws_the_proposal(app, slug, owner, admin) -> None:
    app.config["MODERATION"] = "pre"
    edit(owner, slug, SPAM)
    assert edit(owner, slug, APPROVED).status_code == 303
    assert revisions(app, slug) == [("withdrawn", SPAM["title"])]
    assert "No change waits for review." in admin.get("/admin/queue").text


def test_a_new_title_cannot_be_approved_once_people_have_signed(app, slug, owner, admin) -> None:
    app.config["MODERATION"] = "pre"
    edit(owner, slug, {**APPROVED, "title": "A quite different request"})
    with app.app_context():
        petition = db.session.scalar(select(Petition).where(Petition.slug == slug))
        signing.sign(petition, signing.SignatureData("Sam", "sam@example.org", "GB"), now=utcnow(), ip=None)
        db.session.commit()
    rid = revision_id(admin, slug)
    response = post_form(admin, f"/admin/revisions/{rid}/approve", {}, page_url=f"/admin/petitions/{slug}")
    assert response.status_code == 409 and "the title can no longer change" in response.text
    assert petition_row(app, slug).title == APPROVED["title"]
    assert revisions(app, slug) == [("pending", "A quite different request")]


def test_petitions_never_public_and_administrators_edit_directly(app, slug, owner, admin) -> None:
    app.config["MODERATION"] = "pre"
    created = post_form(owner, "/petitions/new", {**APPROVED, "title": "A new petition waiting for approval"})
    waiting = created.headers["Location"].rsplit("/", 1)[1]
    assert petition_row(app, waiting).status == "pending"
    assert edit(owner, waiting, SPAM).status_code == 303  # still in the approval queue: its text is reviewed there
    assert petition_row(app, waiting).title == SPAM["title"] and revisions(app, waiting) == []
    # The approved one, edited by an administrator: they are the reviewers.
    assert edit(admin, slug, {**APPROVED, "summary": "Fixed by a moderator."}).status_code == 303
    assert petition_row(app, slug).summary == "Fixed by a moderator."
    assert revisions(app, slug) == []


def test_the_database_holds_one_waiting_proposal_per_petition(app, slug) -> None:
    with app.app_context():
        petition = db.session.scalar(select(Petition).where(Petition.slug == slug))
        fields = {k: v for k, v in APPROVED.items() if k != "goal"}
        row = {"petition_id": petition.id, "body_html": "", "created_at": utcnow(), **fields}
        db.session.add(PetitionRevision(status="pending", **row))
        db.session.add(PetitionRevision(status="rejected", **row))
        db.session.commit()
        db.session.add(PetitionRevision(status="pending", **row))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(PetitionRevision)) == 2


# --- MODERATION=post --------------------------------------------------------------------------


def test_under_post_an_edited_petition_is_flagged_until_reviewed(app, slug, owner, admin) -> None:
    assert app.config["MODERATION"] == "post"
    edit(owner, slug, {**APPROVED, "goal": "900"})  # the goal only: nothing to review
    assert petition_row(app, slug).edited_since_review_at is None

    assert edit(owner, slug, SPAM).status_code == 303
    assert SPAM["title"] in public_texts(app, slug)  # post-moderation: public at once ...
    assert petition_row(app, slug).edited_since_review_at is not None  # ... and flagged

    index = admin.get("/admin/").text
    assert re.search(r'id="edited-count">1<', index) and "edited since review" in index
    flagged = admin.get("/admin/?edited=y").text
    assert SPAM["title"] in flagged and re.search(r'id="petition-total">1 petition match', flagged)
    page = admin.get(f"/admin/petitions/{slug}").text
    assert "Edited since review" in page

    response = post_form(admin, f"/admin/petitions/{slug}/reviewed", {}, page_url=f"/admin/petitions/{slug}")
    assert response.status_code == 303
    assert petition_row(app, slug).edited_since_review_at is None
    assert "Edited since review" not in admin.get(f"/admin/petitions/{slug}").text
    assert re.search(r'id="edited-count">0<', admin.get("/admin/").text)
    with app.app_context():
        assert db.session.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc()).limit(1)) == "petition.review"
    again = post_form(admin, f"/admin/petitions/{slug}/reviewed", {}, page_url=f"/admin/petitions/{slug}")
    assert again.status_code == 409


def test_hiding_an_edited_petition_clears_its_flag(app, slug, owner, admin) -> None:
    edit(owner, slug, SPAM)
    response = post_form(
        admin, f"/admin/petitions/{slug}/hide", {"reason": "Spam."}, page_url=f"/admin/petitions/{slug}"
    )
    assert response.status_code == 303
    petition = petition_row(app, slug)
    assert petition.status == "hidden" and petition.edited_since_review_at is None


# --- in a browser -----------------------------------------------------------------------------


@pytest.mark.browser
def test_an_owner_proposes_and_a_moderator_approves_in_a_browser(live, browser) -> None:
    live.app.config["MODERATION"] = "pre"
    with live.app.app_context():
        make_user(ADMIN, admin=True)
        slug = make_petition(make_user(OWNER)).slug
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)  # bypass_csp: for axe only
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()

        def sign_in(email: str) -> None:
            page.goto(f"{live.url}/login")
            page.get_by_label("Email address").fill(email)
            page.get_by_label("Password").fill("correct horse battery")
            with page.expect_navigation():
                page.get_by_role("button", name="Sign in").click()

        sign_in(OWNER)
        page.goto(f"{live.url}/petitions/{slug}/edit")
        assert_accessible(page, "the edit page of an approved petition under pre-moderation")
        page.get_by_label("Summary").fill("A sharper summary, for review.")
        with page.expect_navigation():
            page.get_by_role("button", name="Save changes").click()
        assert "waits for a moderator" in page.content()
        assert "A sharper summary" not in page.locator("main").inner_text()
        page.goto(f"{live.url}/petitions/{slug}/edit")
        assert page.locator("#edit-pending").is_visible()
        assert_accessible(page, "the edit page with a change waiting")
        context.clear_cookies()

        sign_in(ADMIN)
        page.goto(f"{live.url}/admin/queue")
        assert_accessible(page, "the queue with a change waiting")
        with page.expect_navigation():
            page.get_by_role("link", name=re.compile("Review the change")).click()
        assert_accessible(page, "a petition with a change waiting")
        with page.expect_navigation():
            page.get_by_role("button", name="Approve the change").click()
        assert "The change is approved" in page.content()
        page.goto(f"{live.url}/petitions/{slug}")
        assert "A sharper summary, for review." in page.locator("main").inner_text()
    finally:
        context.close()
