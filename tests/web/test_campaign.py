"""Campaigners: an account confirmed by email, then a petition that opens at once."""

from __future__ import annotations

from sqlalchemy import select

from petitions.extensions import db
from petitions.models import Petition, User
from tests.helpers import csrf_from, deliver, link_in, make_petition, make_user

PETITION = {
    "title": "Stop selling Rekognition to governments",
    "target": "Amazon's board of directors",
    "summary": "Face recognition in the hands of governments threatens civil liberties.",
    "body": "We ask Amazon to **stop**.\n\n<script>alert(1)</script><img src=x onerror=alert(1)>"
    " [click](javascript:alert(1))",
    "goal": "150000",
}


def post_form(client, url: str, data: dict, **kw):
    page = client.get(url)
    return client.post(url, data={**data, "csrf_token": csrf_from(page.text)}, **kw)


def register(client, email="casey@example.org", password="correct horse battery"):
    return post_form(client, "/register", {"name": "Casey", "email": email, "password": password})


def login(client, email="casey@example.org", password="correct horse battery"):
    return post_form(client, "/login", {"email": email, "password": password})


def test_register_confirm_login_start_a_petition_that_opens_at_once(app, client, mailbox) -> None:
    response = register(client)
    assert response.status_code == 303
    deliver(app)
    (message,) = mailbox.to("casey@example.org")
    confirm = link_in(message, "/confirm-account/").removeprefix("http://localhost")
    assert client.get(confirm).status_code == 303

    assert login(client).status_code == 303
    created = post_form(client, "/petitions/new", PETITION)
    assert created.status_code == 303
    slug = created.headers["Location"].rsplit("/", 1)[1]
    assert slug == "stop-selling-rekognition-to-governments"

    page = client.get(f"/petitions/{slug}")
    assert "Your petition is open" in page.text
    assert client.get(f"/api/v1/petitions/{slug}").json["status"] == "open"
    # the Markdown is rendered, and everything dangerous is gone
    assert "<strong>stop</strong>" in page.text
    assert "<script>alert" not in page.text
    assert "onerror" not in page.text
    assert "javascript:" not in page.text

    account = client.get("/account")
    assert account.status_code == 200
    assert "Stop selling Rekognition to governments" in account.text


def test_a_petition_of_an_unconfirmed_campaigner_waits_for_the_email(app, client, mailbox) -> None:
    register(client)
    login(client)
    created = post_form(client, "/petitions/new", PETITION)
    slug = created.headers["Location"].rsplit("/", 1)[1]
    assert "opens at once" in client.get(f"/petitions/{slug}").text
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/account").text)})
    assert client.get(f"/petitions/{slug}").status_code == 404  # not public yet

    deliver(app)
    confirm = link_in(mailbox.to("casey@example.org")[0], "/confirm-account/").removeprefix("http://localhost")
    client.get(confirm)
    assert client.get(f"/petitions/{slug}").status_code == 200


def test_registering_a_known_address_answers_the_same_and_warns_its_owner(app, client, mailbox) -> None:
    first = register(client, email="known@example.org")
    second = register(app.test_client(), email="Known@Example.org", password="another long password")
    assert (first.status_code, first.headers["Location"]) == (second.status_code, second.headers["Location"])
    with app.app_context():
        assert len(db.session.scalars(select(User)).all()) == 1
        assert db.session.scalar(select(User)).check_password("correct horse battery")
    deliver(app)
    subjects = sorted(m["Subject"] for m in mailbox.to("known@example.org"))
    assert subjects == ["Confirm your email address", "Someone tried to register with your email address"]


def test_login_failures_and_logout(app, client) -> None:
    with app.app_context():
        make_user("casey@example.org")
    wrong = login(client, password="wrong password!")
    unknown = login(client, email="nobody@example.org")
    assert wrong.status_code == unknown.status_code == 422
    assert "do not match an account" in wrong.text and "do not match an account" in unknown.text
    assert client.get("/account").status_code == 302  # to the login page

    assert login(client).status_code == 303
    assert client.get("/account").status_code == 200
    assert client.get("/logout").status_code == 405  # only a POST signs out
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/account").text)})
    assert client.get("/account").status_code == 302


def test_login_redirects_only_to_our_own_paths(app, client) -> None:
    with app.app_context():
        make_user("casey@example.org")
    for target, expected in [
        ("/petitions/new", "/petitions/new"),
        ("https://evil.example/x", "/account"),
        ("//evil.example/x", "/account"),
        ("/\\evil.example", "/account"),
    ]:
        page = client.get("/login", query_string={"next": target})
        response = client.post(
            "/login",
            query_string={"next": target},
            data={
                "email": "casey@example.org",
                "password": "correct horse battery",
                "csrf_token": csrf_from(page.text),
            },
        )
        assert response.headers["Location"] == expected


def test_petition_form_errors_and_edit_rights(app, client) -> None:
    with app.app_context():
        owner = make_user("casey@example.org")
        petition = make_petition(owner)
        slug = petition.slug
        make_user("other@example.org")
    login(client)
    bad = post_form(client, "/petitions/new", {**PETITION, "title": "", "goal": "-5", "closes_at": "2001-01-01"})
    assert bad.status_code == 422
    assert "Please give the petition a title." in bad.text
    assert "The goal must be between 1 and 100,000,000." in bad.text
    assert "The closing date must be today or later." in bad.text

    edited = post_form(client, f"/petitions/{slug}/edit", {**PETITION, "summary": "A new summary."})
    assert edited.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Petition).where(Petition.slug == slug)).summary == "A new summary."

    client.post("/logout", data={"csrf_token": csrf_from(client.get("/account").text)})
    login(client, email="other@example.org")
    assert client.get(f"/petitions/{slug}/edit").status_code == 403
    assert client.post(f"/petitions/{slug}/edit", data=PETITION).status_code in (400, 403)


def test_slugs_are_readable_and_unique(app, client) -> None:
    with app.app_context():
        owner = make_user()
        slugs = [make_petition(owner, title="Save the bees").slug for _ in range(3)]
        assert make_petition(owner, title="New").slug == "new-petition"
        assert make_petition(owner, title="!!!").slug == "petition"
    assert slugs == ["save-the-bees", "save-the-bees-2", "save-the-bees-3"]
