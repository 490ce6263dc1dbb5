"""Operators: access control, moderation (hide, restore, the approval queue), reports from the public, the audit log."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import event, func, select

from petitions.campaigns.lifecycle import PetitionData, create_petition
from petitions.clock import utcnow
from petitions.extensions import db
from petitions.models import AuditEntry, Invalidation, Petition, PetitionRevision, PetitionTranslation, Report, User
from petitions.moderation import audit, reports, review
from tests.helpers import body_of, csrf_from, deliver, login, make_petition, make_user

ADMIN = "admin@example.org"
OWNER = "owner@example.org"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@contextmanager
def count_queries(app: Flask) -> Iterator[list[str]]:
    """The SQL statements run while the block runs."""
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def setup_site(app: Flask) -> dict:
    """An administrator, a campaigner with an open petition, a report, an invalidation batch and a proposed change."""
    with app.app_context():
        admin = make_user(ADMIN, name="Ada Admin", admin=True)
        owner = make_user(OWNER, name="Olive Owner")
        petition = make_petition(owner)
        report = reports.file_report(
            petition, reason="spam", details="Looks like an advert", email=None, ip="203.0.113.9", now=utcnow()
        )
        batch = Invalidation(
            petition_id=petition.id,
            actor_id=admin.id,
            reason="test",
            criteria={},
            signature_count=0,
            created_at=utcnow(),
        )
        db.session.add(batch)
        revision = PetitionRevision(
            petition_id=petition.id,
            author_id=owner.id,
            title=petition.title,
            target=petition.target,
            summary="A proposed summary.",
            body=petition.body,
            body_html=petition.body_html,
            status="pending",
            created_at=utcnow(),
        )
        db.session.add(revision)
        translation = PetitionTranslation(
            petition_id=petition.id,
            locale="es",
            status="pending",
            title="Una petición",
            target=petition.target,
            summary="Un resumen.",
            body="Un texto.",
            body_html="<p>Un texto.</p>",
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        db.session.add(translation)
        db.session.commit()
        return {
            "slug": petition.slug,
            "petition_id": petition.id,
            "report_id": report.id,
            "batch_id": batch.id,
            "admin_id": admin.id,
            "revision_id": revision.id,
            "translation_id": translation.id,
        }


def fresh(app: Flask, model, ident):
    """A row read in its own app context, detached."""
    with app.app_context():
        row = db.session.get(model, ident)
        db.session.expunge(row)
        return row


def count(app: Flask, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def admin_urls(app: Flask, ids: dict) -> list[tuple[str, str]]:
    """(method, URL) of every view of the admin blueprint, with real ids filled in."""
    values = {
        "slug": ids["slug"],
        "report_id": ids["report_id"],
        "batch_id": ids["batch_id"],
        "kind": "domain",
        "block_id": 1,
        "revision_id": ids["revision_id"],
        "translation_id": ids["translation_id"],
        "endpoint_id": 1,
        "image_id": 1,
    }
    found = []
    with app.test_request_context():
        from flask import url_for

        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("admin."):
                continue
            url = url_for(rule.endpoint, **{arg: values[arg] for arg in rule.arguments})
            found += [(method, url) for method in ("GET", "POST") if method in rule.methods]
    return found


# --- access control -------------------------------------------------------------------------


def test_every_admin_url_sends_strangers_to_sign_in_and_refuses_campaigners(app, client) -> None:
    ids = setup_site(app)
    urls = admin_urls(app, ids)
    endpoints = {url for _, url in urls}
    assert len(urls) >= 14, urls
    assert {
        "/admin/",
        "/admin/signatures",
        "/admin/audit",
        "/admin/reports",
        "/admin/queue",
        "/admin/invalidations",
    } <= endpoints
    attempt = {"reason": "x", "note": "x", "resolution": "hide", "domain": "example.org", "expected": "0"}

    token = csrf_from(client.get("/login").text)  # a valid token, so the refusal is not the CSRF check's
    for method, url in urls:
        response = client.open(url, method=method, data={**attempt, "csrf_token": token} if method == "POST" else None)
        assert response.status_code == 302, (method, url, response.status_code)
        assert response.headers["Location"].startswith("/login?next="), (method, url)

    assert login(client, OWNER).status_code == 303
    token = csrf_from(client.get("/account").text)
    for method, url in urls:
        response = client.open(url, method=method, data={**attempt, "csrf_token": token} if method == "POST" else None)
        assert response.status_code == 403, (method, url, response.status_code)

    assert fresh(app, Petition, ids["petition_id"]).status == "open"
    assert fresh(app, Report, ids["report_id"]).resolved_at is None
    assert fresh(app, PetitionRevision, ids["revision_id"]).status == "pending"
    assert count(app, AuditEntry) == 0

    admin = app.test_client()
    assert login(admin, ADMIN).status_code == 303
    for method, url in urls:
        if method == "GET":
            assert admin.get(url).status_code == 200, url


def test_admin_posts_need_a_csrf_token(app, client) -> None:
    ids = setup_site(app)
    login(client, ADMIN)
    response = client.post(f"/admin/petitions/{ids['slug']}/hide", data={"reason": "spam"})
    assert response.status_code == 400
    assert fresh(app, Petition, ids["petition_id"]).status == "open"


# --- the home page and the list of petitions ------------------------------------------------


def test_the_home_page_counts_what_needs_attention_and_lists_petitions_with_filters(app, client) -> None:
    ids = setup_site(app)
    with app.app_context():
        owner = db.session.scalar(select(User).where(User.email == OWNER))
        other = make_user("someone@elsewhere.net")
        data = PetitionData("Ban leaf blowers at night", "The city council", "Quiet nights.", "Please.", 50)
        create_petition(other, data, now=utcnow(), moderation="pre")
        create_petition(
            other,
            PetitionData("Fix the bridge now", "The mayor", "Safety.", "Now.", 50),
            now=utcnow(),
            moderation="pre",
        )
        hidden = make_petition(owner, title="A petition that breaks the rules")
        review.hide(hidden, db.session.get(User, ids["admin_id"]), reason="Rule 3", now=utcnow())
        db.session.commit()
    login(client, ADMIN)

    home = client.get("/admin/")
    assert home.status_code == 200
    assert 'id="pending-count">2<' in home.text and 'id="open-reports-count">1<' in home.text
    for href in ("/admin/queue", "/admin/reports", "/admin/signatures", "/admin/invalidations", "/admin/audit"):
        assert f'href="{href}"' in home.text
    assert "4 petitions." in home.text

    def titles(**query) -> list[str]:
        page = client.get("/admin/", query_string=query)
        assert page.status_code == 200
        return re.findall(r'<td><a href="/admin/petitions/[^"]+">([^<]+)</a></td>', page.text)

    assert titles(status="pending") == ["Fix the bridge now", "Ban leaf blowers at night"]
    assert titles(status="hidden") == ["A petition that breaks the rules"]
    assert titles(q="BRIDGE") == ["Fix the bridge now"]
    assert titles(q="%") == []  # wildcards are taken literally
    assert set(titles(owner="owner@example")) == {
        "A petition that breaks the rules",
        "Stop selling Rekognition to governments",
    }
    assert titles(owner="elsewhere", q="leaf") == ["Ban leaf blowers at night"]
    assert len(titles(status="nonsense")) == 4  # an unknown status filters nothing, and is no error


def test_the_lists_take_the_same_number_of_queries_whatever_their_length(app, client) -> None:
    setup_site(app)
    login(client, ADMIN)
    pages = ("/admin/", "/admin/reports?state=all", "/admin/queue", "/admin/audit", "/admin/invalidations")

    def queries() -> dict[str, int]:
        found = {}
        for url in pages:
            with count_queries(app) as statements:
                assert client.get(url).status_code == 200
            found[url] = len(statements)
        return found

    def add(i: int) -> None:
        owner = make_user(f"owner{i}@example.org")
        petition = make_petition(owner, title=f"Petition number {i} for the list")
        reports.file_report(petition, reason="other", details=None, email=None, ip=None, now=utcnow())
        review.hide(petition, admin, reason="r", now=utcnow())
        create_petition(owner, PetitionData(f"Pending petition {i}", "T", "S", "B", 10), now=utcnow(), moderation="pre")
        db.session.add(
            Invalidation(
                petition_id=petition.id,
                actor_id=admin.id,
                reason="r",
                criteria={"domain": "x.org"},
                signature_count=0,
                created_at=utcnow(),
            )
        )
        db.session.commit()

    with app.app_context():
        admin = db.session.scalar(select(User).where(User.email == ADMIN))
        add(0)  # one line on every list
    few = queries()
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.email == ADMIN))
        for i in range(1, 13):
            add(i)
    many = queries()
    assert many == few
    assert "owner12@example.org" in client.get("/admin/").text


# --- hiding and restoring -------------------------------------------------------------------


def test_hiding_needs_a_reason_that_the_owner_is_emailed_and_restoring_puts_it_back(app, client, mailbox) -> None:
    ids = setup_site(app)
    slug = ids["slug"]
    login(client, ADMIN)
    page = client.get(f"/admin/petitions/{slug}")
    assert page.status_code == 200 and "Hide the petition" in page.text

    refused = client.post(f"/admin/petitions/{slug}/hide", data={"reason": "  ", "csrf_token": csrf_from(page.text)})
    assert refused.status_code == 422
    assert 'id="reason-error"' in refused.text and 'aria-invalid="true"' in refused.text
    assert fresh(app, Petition, ids["petition_id"]).status == "open"

    hidden = client.post(
        f"/admin/petitions/{slug}/hide",
        data={"reason": "Advertising, not a petition.", "csrf_token": csrf_from(page.text)},
    )
    assert hidden.status_code == 303 and hidden.headers["Location"] == f"/admin/petitions/{slug}"
    petition = fresh(app, Petition, ids["petition_id"])
    assert (petition.status, petition.moderation_reason) == ("hidden", "Advertising, not a petition.")
    with app.app_context():
        (entry,) = db.session.scalars(select(AuditEntry))
        assert (entry.actor_id, entry.actor_email, entry.action, entry.target_type, entry.target_id, entry.reason) == (
            ids["admin_id"],
            ADMIN,
            "petition.hide",
            "petition",
            ids["petition_id"],
            "Advertising, not a petition.",
        )
        assert entry.details == {"previous_status": "open"}
    deliver(app)
    (message,) = mailbox.to(OWNER)
    assert "hidden" in message["Subject"] and "Advertising, not a petition." in body_of(message)
    assert f"/petitions/{slug}" in body_of(message)

    # the public no longer sees it; its owner does
    assert app.test_client().get(f"/petitions/{slug}").status_code == 404
    owner = app.test_client()
    login(owner, OWNER)
    assert owner.get(f"/petitions/{slug}").status_code == 200

    again = client.post(f"/admin/petitions/{slug}/hide", data={"reason": "twice", "csrf_token": csrf_from(page.text)})
    assert again.status_code == 409 and "already hidden" in again.text

    page = client.get(f"/admin/petitions/{slug}")
    assert "Restore the petition" in page.text and "Advertising, not a petition." in page.text
    restored = client.post(
        f"/admin/petitions/{slug}/restore", data={"note": "Appeal accepted", "csrf_token": csrf_from(page.text)}
    )
    assert restored.status_code == 303
    petition = fresh(app, Petition, ids["petition_id"])
    assert (petition.status, petition.moderation_reason) == ("open", None)
    assert app.test_client().get(f"/petitions/{slug}").status_code == 200
    with app.app_context():
        entry = db.session.scalar(audit.entries())
        assert (entry.action, entry.reason, entry.details) == (
            "petition.restore",
            "Appeal accepted",
            {"status": "open"},
        )
    deliver(app)
    assert "visible again" in mailbox.to(OWNER)[-1]["Subject"]
    assert client.post(f"/admin/petitions/{slug}/restore", data={"csrf_token": csrf_from(page.text)}).status_code == 409


def test_restoring_puts_back_the_status_from_before(ctx) -> None:
    admin = make_user(ADMIN, admin=True)
    now = utcnow()
    closed = make_petition(title="A petition closed early")
    closed.status, closed.closed_at = "closed", now
    expired = make_petition(title="A petition past its date", closes_at=now + timedelta(days=1))
    pending = create_petition(
        make_user("p@example.org"),
        PetitionData("Waiting for a moderator", "Someone", "S", "B", 10),
        now=now,
        moderation="pre",
    )
    draft = create_petition(
        make_user("d@example.org", confirmed=False),
        PetitionData("Not yet public", "Someone", "S", "B", 10),
        now=now,
        moderation="pre",
    )
    db.session.commit()

    review.hide(closed, admin, reason="r", now=now)
    assert review.restore(closed, admin, now=now) == "closed"
    review.hide(expired, admin, reason="r", now=now)
    assert review.restore(expired, admin, now=now + timedelta(days=2)) == "closed"
    assert expired.closed_at == expired.closes_at
    review.reject(pending, admin, reason="Needs a clearer target", now=now)
    assert (pending.status, pending.moderation_reason) == ("hidden", "Needs a clearer target")
    assert review.restore(pending, admin, now=now) == "pending"
    with pytest.raises(review.WrongStatus):
        review.hide(draft, admin, reason="r", now=now)
    with pytest.raises(review.WrongStatus):
        review.reject(closed, admin, reason="r", now=now)
    with pytest.raises(review.WrongStatus):
        review.approve(closed, admin, now=now)
    with pytest.raises(review.ReasonRequired):
        review.hide(closed, admin, reason="", now=now)
    db.session.commit()
    actions = [e.action for e in db.session.scalars(audit.entries())]
    # newest first; the restore dated two days later leads, the rest share a time and go by id
    assert actions == [
        "petition.restore",
        "petition.restore",
        "petition.reject",
        "petition.hide",
        "petition.restore",
        "petition.hide",
    ]


# --- the approval queue (MODERATION=pre) ----------------------------------------------------


PETITION_FORM = {
    "title": "Open the library on Sundays",
    "target": "The county council",
    "summary": "Many people can only visit at weekends.",
    "body": "Please open the library on **Sundays**.",
    "goal": "500",
}


def test_under_pre_moderation_a_petition_waits_then_is_approved_or_rejected(app, client, mailbox) -> None:
    app.config["MODERATION"] = "pre"
    setup_site(app)
    campaigner = app.test_client()
    login(campaigner, OWNER)
    form = campaigner.get("/petitions/new")
    created = campaigner.post("/petitions/new", data={**PETITION_FORM, "csrf_token": csrf_from(form.text)})
    assert created.status_code == 303
    slug = created.headers["Location"].rsplit("/", 1)[1]
    second = campaigner.post(
        "/petitions/new",
        data={**PETITION_FORM, "title": "Longer opening hours please", "csrf_token": csrf_from(form.text)},
    )
    slug2 = second.headers["Location"].rsplit("/", 1)[1]
    with app.app_context():
        assert {p.status for p in db.session.scalars(select(Petition).where(Petition.slug.in_([slug, slug2])))} == {
            "pending"
        }
    assert app.test_client().get(f"/petitions/{slug}").status_code == 404

    login(client, ADMIN)
    queue = client.get("/admin/queue")
    assert queue.status_code == 200
    # oldest first
    assert queue.text.index("Open the library on Sundays") < queue.text.index("Longer opening hours please")
    assert "2 petitions wait" in queue.text

    approved = client.post(
        f"/admin/petitions/{slug}/approve", data={"back": "queue", "csrf_token": csrf_from(queue.text)}
    )
    assert approved.status_code == 303 and approved.headers["Location"] == "/admin/queue"
    with app.app_context():
        petition = db.session.scalar(select(Petition).where(Petition.slug == slug))
        assert petition.status == "open" and petition.opened_at is not None
        assert db.session.scalar(audit.entries()).action == "petition.approve"
    assert app.test_client().get(f"/petitions/{slug}").status_code == 200
    assert "1 petition waits" in client.get("/admin/queue").text

    review = client.get(f"/admin/petitions/{slug2}")
    assert "Approve and open" in review.text and "Reject and hide" in review.text
    assert (
        client.post(f"/admin/petitions/{slug2}/reject", data={"csrf_token": csrf_from(review.text)}).status_code == 422
    )
    rejected = client.post(
        f"/admin/petitions/{slug2}/reject",
        data={"reason": "Duplicate of another petition.", "csrf_token": csrf_from(review.text)},
    )
    assert rejected.status_code == 303
    with app.app_context():
        petition = db.session.scalar(select(Petition).where(Petition.slug == slug2))
        assert (petition.status, petition.moderation_reason) == ("hidden", "Duplicate of another petition.")
    assert "0 petitions wait" in client.get("/admin/queue").text
    assert (
        client.post(f"/admin/petitions/{slug}/approve", data={"csrf_token": csrf_from(review.text)}).status_code == 409
    )

    deliver(app)
    subjects = {m["Subject"]: body_of(m) for m in mailbox.to(OWNER)}
    assert any("approved" in s for s in subjects)
    (hidden_body,) = [b for s, b in subjects.items() if "hidden" in s]
    assert "Duplicate of another petition." in hidden_body


# --- reports --------------------------------------------------------------------------------


def test_the_public_can_report_a_petition(app, client) -> None:
    ids = setup_site(app)
    slug = ids["slug"]
    form = client.get(f"/petitions/{slug}/report")
    assert form.status_code == 200
    for reason in reports.REPORT_REASONS:
        assert f'value="{reason}"' in form.text
    token = csrf_from(form.text)

    no_reason = client.post(f"/petitions/{slug}/report", data={"reason": "", "csrf_token": token})
    assert no_reason.status_code == 422 and 'id="reason-error"' in no_reason.text
    bad = client.post(
        f"/petitions/{slug}/report", data={"reason": "boring", "email": "not-an-address", "csrf_token": token}
    )
    assert bad.status_code == 422 and 'id="reason-error"' in bad.text and 'id="email-error"' in bad.text
    too_long = client.post(
        f"/petitions/{slug}/report", data={"reason": "spam", "details": "x" * 1001, "csrf_token": token}
    )
    assert too_long.status_code == 422 and 'id="details-error"' in too_long.text
    assert client.post(f"/petitions/{slug}/report", data={"reason": "spam"}).status_code == 400  # no CSRF token
    assert count(app, Report) == 1

    sent = client.post(
        f"/petitions/{slug}/report",
        data={
            "reason": "hateful",
            "details": "  Insults a group of people. ",
            "email": "reader@example.org",
            "csrf_token": token,
        },
        environ_base={"REMOTE_ADDR": "198.51.100.23"},
    )
    assert sent.status_code == 303 and sent.headers["Location"] == f"/petitions/{slug}/report/thanks"
    assert "Thank you for your report" in client.get(sent.headers["Location"]).text
    with app.app_context():
        report = db.session.scalar(select(Report).order_by(Report.id.desc()))
        assert (report.reason, report.details, report.reporter_email, report.ip_address, report.resolved_at) == (
            "hateful",
            "Insults a group of people.",
            "reader@example.org",
            "198.51.100.23",
            None,
        )
    assert client.get("/petitions/no-such-petition/report").status_code == 404


def test_an_admin_dismisses_a_report_or_hides_the_petition_with_a_note(app, client, mailbox) -> None:
    ids = setup_site(app)
    with app.app_context():
        petition = db.session.get(Petition, ids["petition_id"])
        second = reports.file_report(petition, reason="misleading", details=None, email=None, ip=None, now=utcnow())
        third = reports.file_report(petition, reason="illegal", details=None, email=None, ip=None, now=utcnow())
        db.session.commit()
        second_id, third_id = second.id, third.id
    login(client, ADMIN)
    listing = client.get("/admin/reports")
    assert listing.status_code == 200 and "3 open reports" in listing.text
    assert "Looks like an advert" in listing.text

    page = client.get(f"/admin/reports/{ids['report_id']}")
    assert page.status_code == 200 and "Dismiss the report" in page.text and "Hide the petition" in page.text
    token = csrf_from(page.text)
    no_note = client.post(
        f"/admin/reports/{ids['report_id']}", data={"resolution": "dismiss", "note": "", "csrf_token": token}
    )
    assert no_note.status_code == 422 and 'id="note-error"' in no_note.text
    bad = client.post(
        f"/admin/reports/{ids['report_id']}", data={"resolution": "delete", "note": "x", "csrf_token": token}
    )
    assert bad.status_code == 422
    assert fresh(app, Report, ids["report_id"]).resolved_at is None

    dismissed = client.post(
        f"/admin/reports/{ids['report_id']}",
        data={"resolution": "dismiss", "note": "An advert for a good cause: fine.", "csrf_token": token},
    )
    assert dismissed.status_code == 303 and dismissed.headers["Location"] == "/admin/reports"
    report = fresh(app, Report, ids["report_id"])
    assert report.resolved_at is not None and report.resolved_by_id == ids["admin_id"]
    assert report.resolution == "dismiss: An advert for a good cause: fine."
    assert fresh(app, Petition, ids["petition_id"]).status == "open"
    again = client.post(
        f"/admin/reports/{ids['report_id']}", data={"resolution": "dismiss", "note": "x", "csrf_token": token}
    )
    assert again.status_code == 409 and "already resolved" in again.text
    assert "2 open reports" in client.get("/admin/reports").text

    hidden = client.post(
        f"/admin/reports/{second_id}",
        data={"resolution": "hide", "note": "False claims about a person.", "csrf_token": token},
    )
    assert hidden.status_code == 303
    petition = fresh(app, Petition, ids["petition_id"])
    assert (petition.status, petition.moderation_reason) == ("hidden", "False claims about a person.")
    # hiding resolves every open report about the petition
    assert fresh(app, Report, third_id).resolution == "hide: False claims about a person."
    assert "0 open reports" in client.get("/admin/reports").text
    assert "3 resolved reports" in client.get("/admin/reports?state=resolved").text
    with app.app_context():
        actions = [(e.action, e.target_type) for e in db.session.scalars(audit.entries())]
    assert actions == [("report.hide", "report"), ("petition.hide", "petition"), ("report.dismiss", "report")]
    deliver(app)
    (message,) = mailbox.to(OWNER)
    assert "False claims about a person." in body_of(message)


# --- the audit log --------------------------------------------------------------------------


def test_the_audit_log_is_newest_first_and_paginated(app, client) -> None:
    ids = setup_site(app)
    with app.app_context():
        admin = db.session.get(User, ids["admin_id"])
        for i in range(55):
            audit.record(
                admin,
                "test.action",
                "petition",
                ids["petition_id"],
                reason=f"entry {i:02d}",
                details={"n": i},
                now=T0 + timedelta(minutes=i),
            )
        db.session.commit()
    login(client, ADMIN)
    first = client.get("/admin/audit")
    assert first.status_code == 200
    reasons = re.findall(r"entry (\d\d)", first.text)
    assert reasons == [f"{i:02d}" for i in range(54, 4, -1)]
    assert "Page 1 of 2" in first.text and "page=2" in first.text
    second = client.get("/admin/audit?page=2")
    assert re.findall(r"entry (\d\d)", second.text) == ["04", "03", "02", "01", "00"]
    assert client.get("/admin/audit?page=99").status_code == 200
    assert client.get("/admin/audit?page=nonsense").status_code == 200
    assert ADMIN in first.text and "Stop selling Rekognition to governments" in first.text
