"""The public signing flow over HTTP: the form, the email, the confirmation button, the count."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from petitions.extensions import db
from petitions.models import OutboxMessage, Petition, Signature
from tests.helpers import csrf_from, deliver, link_in, make_petition, sign_form, started_from


def rows(app, model=Signature) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def count_of(client, slug: str) -> int:
    return client.get(f"/api/v1/petitions/{slug}/count").json["signature_count"]


@pytest.fixture
def petition(app):
    with app.app_context():
        p = make_petition(goal=10)
        return p.slug


def test_petition_page_shows_text_count_progress_and_form(client, petition) -> None:
    page = client.get(f"/petitions/{petition}")
    assert page.status_code == 200
    html = page.text
    assert "Stop selling Rekognition to governments" in html
    assert "Amazon&#39;s board of directors" in html
    assert "<strong>stop selling</strong>" in html
    assert 'id="signature-count" data-count="0"' in html
    assert 'aria-valuenow="0"' in html
    for name in ["csrf_token", "name", "email", "country", "postcode", "comment", "show_name", "updates"]:
        assert f'name="{name}"' in html


def test_sign_confirm_by_email_and_the_count_goes_up(app, client, mailbox, petition) -> None:
    response = sign_form(client, petition, name="Ada Lovelace", email="ada@example.org", country="GB", show_name="y")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/petitions/{petition}/signed"
    assert "Check your email" in client.get(response.headers["Location"]).text
    assert count_of(client, petition) == 0  # pending does not count

    assert deliver(app) == (1, 0)
    (message,) = mailbox.to("ada@example.org")
    link = link_in(message, "/verify/")
    path = link.removeprefix("http://localhost")

    # Opening the link (as a mail scanner would) changes nothing.
    page = client.get(path)
    assert page.status_code == 200
    assert "Confirm my signature" in page.text
    client.get(path)
    assert count_of(client, petition) == 0

    confirmed = client.post(path, data={"csrf_token": csrf_from(page.text)}, follow_redirects=True)
    assert confirmed.status_code == 200
    assert confirmed.request.path == f"/petitions/{petition}"
    assert "your signature is confirmed" in confirmed.text
    assert 'data-count="1"' in confirmed.text
    assert count_of(client, petition) == 1

    # Pressing again is harmless and says so.
    again = client.post(path, data={"csrf_token": csrf_from(page.text)}, follow_redirects=True)
    assert "already confirmed" in again.text
    assert count_of(client, petition) == 1
    with app.app_context():
        signature = db.session.scalar(select(Signature))
        assert signature.name == "Ada Lovelace" and signature.show_name is True and signature.updates is False


def test_a_repeated_signing_answers_exactly_like_a_first(app, client, mailbox, petition) -> None:
    first = sign_form(client, petition, email="bob@example.org")
    repeat = sign_form(client, petition, email="BOB+again@Example.org")
    assert (first.status_code, first.headers["Location"]) == (repeat.status_code, repeat.headers["Location"])
    assert first.data == repeat.data
    assert client.get(first.headers["Location"]).data == client.get(repeat.headers["Location"]).data
    assert rows(app) == 1
    deliver(app)
    assert len(mailbox.to("bob@example.org")) == 2  # the link, then the link again


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"email": "not-an-address"}, "email", "Please enter a valid email address"),
        ({"email": ""}, "email", "Please enter your email address."),
        ({"name": ""}, "name", "Please enter your name."),
        ({"name": "   "}, "name", "Please enter your name."),
        ({"name": "x" * 101}, "name", "Please keep your name under 100 characters."),
        ({"email": "a" * 250 + "@example.org"}, "email", "That email address is too long."),
        ({"country": "XX"}, "country", "Please choose a country from the list."),
        ({"country": ""}, "country", "Please choose your country."),
        ({"postcode": "<script>"}, "postcode", "A postcode has only letters"),
        ({"comment": "y" * 501}, "comment", "Please keep your comment under 500 characters."),
    ],
)
def test_bad_input_comes_back_with_the_message_by_the_field_and_nothing_stored(
    app, client, petition, fields, field, message
) -> None:
    response = sign_form(client, petition, **fields)
    assert response.status_code == 422
    assert message in response.text
    assert f'id="{field}-error"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert rows(app) == 0
    assert rows(app, OutboxMessage) == 0


def test_the_form_keeps_what_was_typed_after_an_error(client, petition) -> None:
    response = sign_form(client, petition, name="Grace Hopper", email="bad")
    assert 'value="Grace Hopper"' in response.text


def test_a_missing_csrf_token_stores_nothing_and_says_why(app, client, petition) -> None:
    response = client.post(f"/petitions/{petition}/sign", data={"name": "A", "email": "a@example.org", "country": "GB"})
    assert response.status_code == 400
    assert "Nothing was saved" in response.text
    assert rows(app) == 0


def test_unknown_and_closed_petitions(app, client, petition) -> None:
    assert client.get("/petitions/no-such-petition").status_code == 404
    assert client.post("/petitions/no-such-petition/sign", data={}).status_code in (400, 404)
    page = client.get(f"/petitions/{petition}")
    with app.app_context():
        db.session.scalar(select(Petition).where(Petition.slug == petition)).status = "closed"
        db.session.commit()
    response = client.post(
        f"/petitions/{petition}/sign",
        data={"csrf_token": csrf_from(page.text), "name": "A", "email": "a@example.org", "country": "GB"},
    )
    assert response.status_code == 409
    assert "not taking signatures" in response.text
    assert rows(app) == 0


def test_verify_links_that_are_forged_or_expired(app, client, mailbox, petition) -> None:
    assert client.get("/verify/not-a-token").status_code == 404
    assert (
        client.post(
            "/verify/not-a-token", data={"csrf_token": csrf_from(client.get(f"/petitions/{petition}").text)}
        ).status_code
        == 404
    )
    sign_form(client, petition)
    app.config["SIGNATURE_TOKEN_MAX_AGE"] = -1  # every link is now too old
    deliver(app)
    path = link_in(mailbox.messages[0], "/verify/").removeprefix("http://localhost")
    response = client.get(path)
    assert response.status_code == 410
    assert "expired" in response.text


def test_drafts_and_hidden_petitions_are_not_public(app, client, petition) -> None:
    with app.app_context():
        db.session.scalar(select(Petition).where(Petition.slug == petition)).status = "hidden"
        db.session.commit()
    assert client.get(f"/petitions/{petition}").status_code == 404
    assert client.get(f"/api/v1/petitions/{petition}").status_code == 404
    assert petition not in client.get("/").text


def test_index_lists_open_petitions_most_signed_first_with_search(app, client) -> None:
    with app.app_context():
        a = make_petition(title="Protect the river")
        b = make_petition(title="Fund the library")
        db.session.get(Petition, b.id).signature_count = 5
        db.session.commit()
        slugs = (a.slug, b.slug)
    html = client.get("/").text
    assert html.index("Fund the library") < html.index("Protect the river")
    newest = client.get("/?sort=new").text
    assert newest.index("Fund the library") < newest.index("Protect the river")
    found = client.get("/?q=river").text
    assert "Protect the river" in found and "Fund the library" not in found
    assert "No open petition matches" in client.get("/?q=%25_nothing").text
    assert slugs[0] != slugs[1]


def test_security_headers_deny_framing(client, petition) -> None:
    response = client.get(f"/petitions/{petition}")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_healthz(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


@pytest.mark.parametrize(
    "data",
    [
        {"name": ["a", "b"], "email": ["a@example.org", "b@example.org"], "country": ["GB", "FR"]},
        {"name": "\x00\x01", "email": "a@example.org\x00", "country": "GB\x00"},
        {"name": "A" * 100_000, "email": "@" * 1000, "country": "G" * 1000, "postcode": "1" * 1000},
        {"name": "Zoë 😀", "email": "zoë@exämple.org", "country": "gb", "show_name": "maybe", "updates": "0"},
        {},
    ],
)
def test_garbage_never_gives_a_500(app, client, petition, data) -> None:
    page = client.get(f"/petitions/{petition}")
    response = client.post(f"/petitions/{petition}/sign", data={**data, "csrf_token": csrf_from(page.text)})
    assert response.status_code in (303, 400, 422)
    if response.status_code != 303:
        assert rows(app) == 0


def test_an_unexpected_error_answers_a_500_page_named_for_it(app, client, monkeypatch) -> None:
    def broken() -> str:
        raise RuntimeError("a bug")

    monkeypatch.setitem(app.view_functions, "public.privacy", broken)
    response = client.get("/privacy")
    assert response.status_code == 500
    assert "<title>Internal Server Error</title>" in response.text
    assert "Something went wrong on our side" in response.text


def test_healthz_says_503_when_the_database_is_down(tmp_path, smtp_server) -> None:
    from tests.helpers import free_port, make_app

    app = make_app(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none", smtp_server, tmp_path)
    client = app.test_client()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] != "ok"
    page = client.get("/")
    assert page.status_code == 503
    assert "try again" in page.text.lower()


def test_a_petition_closed_or_hidden_a_moment_ago_takes_nothing_while_this_process_still_remembers_it_open(
    app, client, petition
) -> None:
    """Signing keeps a light row of the petition for PETITION_CACHE_SECONDS; the INSERT itself checks it is open."""
    app.config["PETITION_CACHE_SECONDS"] = 3600  # the remembered row stays "open" for the whole test
    page = client.get(f"/petitions/{petition}").text

    def sign(email: str):
        return client.post(
            f"/petitions/{petition}/sign",
            data={
                "csrf_token": csrf_from(page),
                "started": started_from(page),
                "name": "Sam",
                "email": email,
                "country": "GB",
            },
        )

    def set_status(status: str) -> None:
        with app.app_context():
            db.session.scalar(select(Petition).where(Petition.slug == petition)).status = status
            db.session.commit()

    assert sign("first@example.org").status_code == 303
    set_status("closed")
    response = sign("second@example.org")
    assert response.status_code == 409
    assert "not taking signatures" in response.text
    assert sign("first@example.org").status_code == 409  # nor is a repeat answered
    set_status("hidden")
    assert sign("third@example.org").status_code == 404
    assert rows(app) == 1
    assert rows(app, OutboxMessage) == 1  # the one stored signature's email, and no other
    set_status("open")  # and a petition opened again takes signatures at once, whatever was remembered
    assert sign("fourth@example.org").status_code == 303
    assert rows(app) == 2


def test_confirming_by_link_moves_every_counter_once_with_and_without_supporter_groups(app, client, mailbox) -> None:
    """The link's fast path (on PostgreSQL one statement) keeps groups, countries and hours exact.

    A group counts a signature whose domain is one of its domains or under one, once however
    many of its domains match; "notamazon.com" is not under "amazon.com".
    """
    from petitions.counting import counts
    from petitions.models import CountryCount, GroupDomain, HourlyCount, SupporterGroup

    with app.app_context():
        grouped, plain = make_petition(title="With groups"), make_petition(title="Without groups")
        employees = SupporterGroup(
            petition_id=grouped.id, name="Amazon employees", signature_count=0, created_at=grouped.created_at
        )
        corp = SupporterGroup(
            petition_id=grouped.id, name="Corporate office", signature_count=0, created_at=grouped.created_at
        )
        db.session.add_all([employees, corp])
        db.session.flush()
        db.session.add_all(
            [
                GroupDomain(group_id=employees.id, petition_id=grouped.id, domain="amazon.com"),
                GroupDomain(group_id=employees.id, petition_id=grouped.id, domain="aws.amazon.com"),
                GroupDomain(group_id=corp.id, petition_id=grouped.id, domain="corp.amazon.com"),
            ]
        )
        db.session.commit()
        slugs, group_ids = (grouped.slug, plain.slug), (employees.id, corp.id)
    signers = (
        ("a@amazon.com", "US"),
        ("b@corp.amazon.com", "GB"),
        ("c@example.org", "GB"),
        ("d@notamazon.com", "FR"),
        ("e@dev.aws.amazon.com", "US"),
    )
    for slug in slugs:
        for email, country in signers:
            assert sign_form(client, slug, email=email, country=country).status_code == 303
    deliver(app)
    assert len(mailbox.messages) == 10
    for message in mailbox.messages:
        path = link_in(message, "/verify/").removeprefix("http://localhost")
        page = client.get(path).text
        assert client.post(path, data={"csrf_token": csrf_from(page)}).status_code == 303
        assert client.post(path, data={"csrf_token": csrf_from(page)}).status_code == 303  # pressed twice, counted once
    with app.app_context():
        assert [db.session.get(SupporterGroup, gid).signature_count for gid in group_ids] == [3, 1]
        for slug in slugs:
            petition = db.session.scalar(select(Petition).where(Petition.slug == slug))
            assert petition.signature_count == 5
            by_country = dict(
                db.session.execute(
                    select(CountryCount.country, CountryCount.count).where(CountryCount.petition_id == petition.id)
                ).all()
            )
            assert by_country == {"US": 2, "GB": 2, "FR": 1}
            assert (
                db.session.scalar(select(func.sum(HourlyCount.count)).where(HourlyCount.petition_id == petition.id))
                == 5
            )
            assert counts.recount(petition, now=petition.count_updated_at) == []  # the rows agree with every counter


def test_a_confirmation_link_bound_to_another_mailbox_confirms_nothing(app, client) -> None:
    """The link names a real signature, but was made for a different address: 404, nothing counted."""
    from petitions.infra import tokens
    from petitions.signatures import links

    with app.app_context():
        slug = make_petition().slug
    assert sign_form(client, slug, email="sam@example.org").status_code == 303
    with app.app_context():
        signature = db.session.scalar(select(Signature))
        wrong = links.token_for(signature.id, links.email_digest("someone-else@example.org"), tokens.CONFIRM_SIGNATURE)
        right = links.confirmation_token(signature)
    page = client.get(f"/verify/{right}").text
    response = client.post(f"/verify/{wrong}", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 404
    with app.app_context():
        assert db.session.scalar(select(Signature.confirmed_at)) is None
        assert db.session.scalar(select(Petition.signature_count).where(Petition.slug == slug)) == 0
    assert client.post(f"/verify/{right}", data={"csrf_token": csrf_from(page)}).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Petition.signature_count).where(Petition.slug == slug)) == 1


def test_the_sign_form_is_checked_for_its_csrf_token_even_when_views_are_not_checked_by_default(
    app, client, petition
) -> None:
    """The form leaves its token to CSRFProtect; with WTF_CSRF_CHECK_DEFAULT off, the view checks it itself."""
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    response = client.post(f"/petitions/{petition}/sign", data={"name": "A", "email": "a@example.org", "country": "GB"})
    assert response.status_code == 400
    assert "Nothing was saved" in response.text
    assert rows(app) == 0
    assert sign_form(client, petition, email="b@example.org").status_code == 303  # with its token
    assert rows(app) == 1


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
            "started": re.search(r'name="started" type="hidden" value="([^"]*)"', failed.text).group(1),
        },
    )
    assert retried.status_code == 303
