"""The public list of signers: exactly the confirmed, counted signers who chose to show their name,
newest first, a page at a time, without the entries the campaigner hid, and never an address."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from petitions.clock import utcnow
from petitions.counting import counts, rules
from petitions.extensions import db
from petitions.models import AuditEntry, Petition, Signature
from petitions.signatures import confirming, signing, withdrawing
from tests.helpers import csrf_from, login, make_petition, make_user

OWNER = "owner@example.org"
OTHER = "other@example.org"
ADMIN = "admin@example.org"


def add(petition: Petition, name: str, at: datetime, *, show: bool = True, confirm: bool = True, **fields) -> Signature:
    """A signature by `name` (its address made from the name), confirmed at `at` unless told otherwise."""
    data = signing.SignatureData(
        name=name, email=f"{name.lower().replace(' ', '.')}@example.org", country="GB", show_name=show, **fields
    )
    signature = signing.sign(petition, data, now=at - timedelta(minutes=1), ip=None)
    if confirm:
        confirming.confirm(signature, now=at)
    db.session.commit()
    return signature


def listed_names(html: str) -> list[str]:
    return re.findall(r'<strong class="signer-name">([^<]*)</strong>', html)


@pytest.fixture
def slug(app) -> str:
    """The owner's petition: named, anonymous, pending, invalidated, suspected and withdrawn signers."""
    base = utcnow() - timedelta(hours=10)
    with app.app_context():
        owner = make_user(OWNER)
        make_user(OTHER)
        make_user(ADMIN, admin=True)
        petition = make_petition(owner)
        add(petition, "Ada", base, comment="Long overdue.", organisation="Acme Ltd", job_title="Engineer")
        add(petition, "Anon", base + timedelta(hours=1), show=False)
        add(petition, "Bea", base + timedelta(hours=2), organisation="Globex")
        add(petition, "Pending Pat", base + timedelta(hours=3), confirm=False)
        gone = add(petition, "Invalid Ivy", base + timedelta(hours=4))
        counts.apply([counts.Counted.of(gone)], -1, now=utcnow())
        gone.invalidated_at = utcnow()
        db.session.commit()
        suspect = signing.sign(
            petition,
            signing.SignatureData("Suspect Sid", "sid@example.org", "GB", show_name=True),
            now=base,
            ip=None,
            suspected="fast",
        )
        confirming.confirm(suspect, now=base + timedelta(hours=5))
        db.session.commit()
        withdrawn = add(petition, "Withdrawn Will", base + timedelta(hours=6))
        withdrawing.withdraw(withdrawn, now=utcnow())
        db.session.commit()
        add(petition, "Cy", base + timedelta(hours=7), job_title="Nurse")
        return petition.slug


def signed_in(app, email: str):
    client = app.test_client()
    assert login(client, email).status_code == 303
    return client


def test_the_page_lists_exactly_the_counted_signers_who_chose_to_show_their_name_newest_first(app, client, slug):
    page = client.get(f"/petitions/{slug}").text
    assert listed_names(page) == ["Cy", "Bea", "Ada"]
    assert '<strong class="signer-name">Ada</strong>, <span class="signer-title">Engineer</span>, ' in page
    assert '<span class="signer-organisation">Acme Ltd</span>' in page
    assert '<blockquote class="signer-comment">Long overdue.</blockquote>' in page
    assert "(United Kingdom)" in page
    for never in ("Anon", "Pending Pat", "Invalid Ivy", "Suspect Sid", "Withdrawn Will", "@example.org"):
        assert never not in page
    assert 'rel="next"' not in page and 'rel="prev"' not in page


def test_the_json_lists_the_same_people_and_no_address(app, client, slug):
    response = client.get(f"/api/v1/petitions/{slug}/signers")
    assert response.status_code == 200
    assert "@" not in response.text
    doc = response.get_json()
    assert doc["slug"] == slug and doc["page"] == 1 and doc["per_page"] == 20
    assert doc["next"] is None and doc["prev"] is None
    assert [s["name"] for s in doc["signers"]] == ["Cy", "Bea", "Ada"]
    ada = doc["signers"][2]
    assert set(ada) == {"name", "country", "comment", "organisation", "job_title", "confirmed_on"}
    assert (ada["country"], ada["comment"], ada["organisation"], ada["job_title"]) == (
        "GB",
        "Long overdue.",
        "Acme Ltd",
        "Engineer",
    )
    assert doc["signers"][0]["organisation"] is None and doc["signers"][0]["job_title"] == "Nurse"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", ada["confirmed_on"])
    # cacheable like the rest of the API
    assert response.headers["Cache-Control"].startswith("public")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    again = client.get(f"/api/v1/petitions/{slug}/signers", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "501", "1.5", "99999"])
def test_a_bad_page_number(client, slug, bad):
    response = client.get(f"/api/v1/petitions/{slug}/signers?page={bad}")
    assert response.status_code == 400 and response.get_json()["error"]
    assert client.get(f"/petitions/{slug}?page={bad}").status_code == 200  # the page shows the first page
    assert listed_names(client.get(f"/petitions/{slug}?page={bad}").text) == ["Cy", "Bea", "Ada"]


def test_unknown_and_hidden_petitions_are_404(app, client, slug):
    assert client.get("/api/v1/petitions/no-such-petition/signers").status_code == 404
    with app.app_context():
        db.session.scalar(select(Petition).where(Petition.slug == slug)).status = "hidden"
        db.session.commit()
    assert client.get(f"/api/v1/petitions/{slug}/signers").status_code == 404


def test_pages_of_twenty_with_plain_links(app, client):
    base = utcnow() - timedelta(days=1)
    with app.app_context():
        petition = make_petition()
        for i in range(45):
            add(petition, f"Signer {i:02d}", base + timedelta(minutes=i))
        slug = petition.slug
    newest_first = [f"Signer {i:02d}" for i in reversed(range(45))]
    first = client.get(f"/petitions/{slug}").text
    assert listed_names(first) == newest_first[:20]
    assert f'rel="next" href="/petitions/{slug}?page=2#signers"' in first and 'rel="prev"' not in first
    second = client.get(f"/petitions/{slug}?page=2").text
    assert listed_names(second) == newest_first[20:40]
    assert f'rel="prev" href="/petitions/{slug}#signers"' in second
    assert f'rel="next" href="/petitions/{slug}?page=3#signers"' in second
    third = client.get(f"/petitions/{slug}?page=3").text
    assert listed_names(third) == newest_first[40:]
    assert 'rel="next"' not in third and f'rel="prev" href="/petitions/{slug}?page=2#signers"' in third
    assert listed_names(client.get(f"/petitions/{slug}?page=4").text) == []

    pages = [client.get(f"/api/v1/petitions/{slug}/signers?page={n}").get_json() for n in (1, 2, 3)]
    assert [s["name"] for p in pages for s in p["signers"]] == newest_first
    assert pages[0]["next"] == f"http://localhost/api/v1/petitions/{slug}/signers?page=2"
    assert pages[1]["prev"] == f"http://localhost/api/v1/petitions/{slug}/signers?page=1"
    assert pages[2]["next"] is None


def hide_url(slug: str, signature_id: int, action: str = "hide") -> str:
    return f"/account/petitions/{slug}/signers/{signature_id}/{action}"


def id_of(app, name: str) -> int:
    with app.app_context():
        return db.session.scalar(select(Signature.id).where(Signature.name == name))


def test_the_campaigner_hides_an_entry_and_shows_it_again_each_audited(app, client, slug):
    owner = signed_in(app, OWNER)
    manage = owner.get(f"/account/petitions/{slug}/signers")
    assert manage.status_code == 200
    assert [n for n in ("Cy", "Bea", "Ada") if n in manage.text] == ["Cy", "Bea", "Ada"]
    assert "@example.org" not in manage.text
    bea = id_of(app, "Bea")
    token = csrf_from(manage.text)
    assert owner.post(hide_url(slug, bea), data={"csrf_token": token}).status_code == 303
    assert listed_names(client.get(f"/petitions/{slug}").text) == ["Cy", "Ada"]
    assert [s["name"] for s in client.get(f"/api/v1/petitions/{slug}/signers").get_json()["signers"]] == ["Cy", "Ada"]
    with app.app_context():
        assert db.session.get(Signature, bea).list_hidden_at is not None
        assert db.session.scalar(select(Petition.signature_count).where(Petition.slug == slug)) == 4  # still counts
    manage = owner.get(f"/account/petitions/{slug}/signers").text
    assert "Show again" in manage and 'aria-label="Show again: Bea"' in manage
    assert owner.post(hide_url(slug, bea, "show"), data={"csrf_token": token}).status_code == 303
    assert listed_names(client.get(f"/petitions/{slug}").text) == ["Cy", "Bea", "Ada"]
    with app.app_context():
        audit = db.session.execute(
            select(AuditEntry.action, AuditEntry.actor_email, AuditEntry.target_id).order_by(AuditEntry.id)
        ).all()
        assert [tuple(a) for a in audit] == [("signer.hide", OWNER, bea), ("signer.unhide", OWNER, bea)]


def test_who_may_hide_an_entry(app, client, slug):
    bea = id_of(app, "Bea")
    anonymous = app.test_client()
    token = csrf_from(anonymous.get(f"/petitions/{slug}").text)
    refused = anonymous.post(hide_url(slug, bea), data={"csrf_token": token})
    assert refused.status_code == 302 and "/login" in refused.headers["Location"]
    other = signed_in(app, OTHER)
    token = csrf_from(other.get("/account").text)
    assert other.post(hide_url(slug, bea), data={"csrf_token": token}).status_code == 403
    assert other.get(f"/account/petitions/{slug}/signers").status_code == 403
    owner = signed_in(app, OWNER)
    assert owner.post(hide_url(slug, bea)).status_code == 400  # no CSRF token
    token = csrf_from(owner.get(f"/account/petitions/{slug}/signers").text)
    # not on this petition's list: an anonymous signer, a pending one, another petition's
    for name in ("Anon", "Pending Pat"):
        assert owner.post(hide_url(slug, id_of(app, name)), data={"csrf_token": token}).status_code == 404
    with app.app_context():
        elsewhere = make_petition(title="Another petition entirely")
        stranger = add(elsewhere, "Stranger", utcnow()).id
    assert owner.post(hide_url(slug, stranger), data={"csrf_token": token}).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(Signature.id).where(Signature.list_hidden_at.is_not(None))) is None
        assert db.session.scalar(select(AuditEntry.id)) is None
    admin = signed_in(app, ADMIN)
    token = csrf_from(admin.get(f"/account/petitions/{slug}/signers").text)
    assert admin.post(hide_url(slug, bea), data={"csrf_token": token}).status_code == 303
    assert listed_names(client.get(f"/petitions/{slug}").text) == ["Cy", "Ada"]


def test_a_signer_who_stops_showing_their_name_leaves_the_list(app, client, slug):
    with app.app_context():
        db.session.get(Signature, id_of(app, "Cy")).show_name = False
        db.session.commit()
    assert listed_names(client.get(f"/petitions/{slug}").text) == ["Bea", "Ada"]


def test_the_list_is_read_from_its_index_not_by_scanning_the_petitions_signatures(app, ctx):
    """Migration 0018's partial index serves "the latest listable signers of petition X" on both databases."""
    petition = make_petition()
    for i in range(3):
        add(petition, f"Signer {i}", utcnow())
    stmt = (
        select(Signature.id)
        .where(Signature.petition_id == petition.id, *rules.listable())
        .where(Signature.list_hidden_at.is_(None))
        .order_by(Signature.confirmed_at.desc(), Signature.id.desc())
        .limit(21)
    )
    sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
    if db.engine.dialect.name == "postgresql":
        db.session.execute(db.text("SET LOCAL enable_seqscan = off"))
        db.session.execute(db.text("SET LOCAL enable_sort = off"))
        plan = "\n".join(row[0] for row in db.session.execute(db.text(f"EXPLAIN {sql}")))
        assert "Sort" not in plan, plan
    else:
        plan = "\n".join(str(row[-1]) for row in db.session.execute(db.text(f"EXPLAIN QUERY PLAN {sql}")))
        assert "TEMP B-TREE" not in plan, plan
    db.session.rollback()
    assert "ix_signatures_listable" in plan, plan


def test_the_open_letter_delivery_page_and_the_owner_json_never_show_an_address(app, slug):
    with app.app_context():
        petition = db.session.scalar(select(Petition).where(Petition.slug == slug))
        petition.ask_organisation = "optional"
        db.session.commit()
    owner = signed_in(app, OWNER)
    page = owner.get(f"/petitions/{slug}/delivery").text
    section = page[page.index('id="delivery-signatories"') :]
    section = section[: section.index("</section>")]
    assert re.findall(r"<li><strong>([^<]*)</strong>", section) == ["Cy", "Bea", "Ada"]
    assert "<strong>Ada</strong>, Engineer, Acme Ltd (United Kingdom)" in section
    assert "@example.org" not in page
    assert "Anon" not in section
    doc = json.loads(owner.get(f"/api/v1/petitions/{slug}/signers").text)  # signed in: the same public list
    assert [s["name"] for s in doc["signers"]] == ["Cy", "Bea", "Ada"]
