"""Sessions: a cookie names its account by a token never given twice, and every way out ends it.

The attacker keeps a copy of a session cookie (a shared computer, a stolen backup, a cookie
read off a machine) and tries it after the campaigner signed out, changed or reset their
password, signed out everywhere, or deleted the account, and after the deleted account's id
went to someone else.
"""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from petitions.extensions import db
from petitions.models import User
from tests.helpers import ROOT, csrf_from, deliver, is_postgres, link_in, login, make_app, make_user

EMAIL = "campaigner@example.org"
PASSWORD = "correct horse battery"


def copy_of(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of the client's session cookie."""
    cookie = client.get_cookie("session")
    assert cookie is not None, "the client holds no session cookie"
    other = app.test_client()
    other.set_cookie("session", cookie.value)
    return other


def signed_in(client: FlaskClient) -> bool:
    """True when /account opens (else it sends the browser to the login page)."""
    response = client.get("/account")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def post_settings(client: FlaskClient, url: str, prefix: str, **fields: str):
    """Submit one of the settings page's forms with its CSRF token."""
    token = csrf_from(client.get("/account/settings").text)
    data = {f"{prefix}-{name}": value for name, value in fields.items()}
    return client.post(url, data={**data, f"{prefix}-csrf_token": token})


def signed_in_client(app: Flask, email: str = EMAIL, password: str = PASSWORD) -> FlaskClient:
    """A browser signed in to the account."""
    client = app.test_client()
    assert login(client, email, password).status_code == 303
    assert signed_in(client)
    return client


# --- a session names its account by a token, not by its id ---------------------------------


def test_a_kept_cookie_of_a_deleted_account_does_not_open_the_next_account_given_its_id(app, runner) -> None:
    """The attack: register, keep the cookie, delete the account; the next account (an admin
    here) gets the same users.id on SQLite; the old cookie must open neither /account nor /admin/."""
    with app.app_context():
        old_id = make_user().id
    client = signed_in_client(app)
    kept = copy_of(app, client)
    deleted = post_settings(client, "/account/delete", "delete", password=PASSWORD, confirm="DELETE")
    assert deleted.status_code == 303

    result = runner.invoke(args=["create-admin", "new@example.org"], input="a long admin password\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        new_id = db.session.scalar(select(User.id).where(User.email == "new@example.org"))
    if not is_postgres(app):
        assert new_id == old_id  # SQLite hands the deleted account's id on: the attack is real here

    assert kept.get("/admin/").status_code in (302, 403)
    assert not signed_in(kept)
    assert "new@example.org" not in kept.get("/account/settings", follow_redirects=True).text


def test_what_the_session_holds_is_the_accounts_random_token_and_every_account_has_its_own(app) -> None:
    with app.app_context():
        tokens = [make_user(f"person{i}@example.org").session_token for i in range(3)]
    assert len(set(tokens)) == 3 and all(len(t) >= 40 for t in tokens)
    client = signed_in_client(app, "person1@example.org")
    with client.session_transaction() as session:
        assert session["_user_id"] == tokens[1]


# --- every way out ends every copy of the session -------------------------------------------


def test_signing_out_ends_every_copy_of_the_session(app) -> None:
    with app.app_context():
        make_user()
    client = signed_in_client(app)
    kept = copy_of(app, client)
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/account").text)})
    assert not signed_in(client)
    assert not signed_in(kept)
    assert signed_in_client(app)  # signing in again works


def test_a_logout_without_its_csrf_token_ends_nothing(app) -> None:
    with app.app_context():
        make_user()
    client = signed_in_client(app)
    kept = copy_of(app, client)
    assert kept.post("/logout").status_code in (302, 303, 400)
    assert signed_in(client) and signed_in(kept)


def test_changing_the_password_ends_every_other_session_and_keeps_this_one(app) -> None:
    with app.app_context():
        make_user()
    client = signed_in_client(app)
    kept = copy_of(app, client)
    laptop = signed_in_client(app)
    changed = post_settings(
        client, "/account/password", "password", current_password=PASSWORD, new_password="a new long password"
    )
    assert changed.status_code == 303
    assert "You are signed out everywhere else." in client.get("/account/settings").text
    assert signed_in(client)
    assert not signed_in(kept)
    assert not signed_in(laptop)


def test_a_wrong_current_password_ends_no_session(app) -> None:
    with app.app_context():
        make_user()
    client = signed_in_client(app)
    kept = copy_of(app, client)
    wrong = post_settings(
        client, "/account/password", "password", current_password="not my password", new_password="a new long password"
    )
    assert wrong.status_code == 422
    assert signed_in(client) and signed_in(kept)


def test_resetting_the_password_ends_every_session(app, mailbox) -> None:
    with app.app_context():
        make_user()
    client = signed_in_client(app)
    kept = copy_of(app, client)
    stranger = app.test_client()
    page = stranger.get("/forgot-password")
    stranger.post("/forgot-password", data={"email": EMAIL, "csrf_token": csrf_from(page.text)})
    deliver(app)
    link = link_in(mailbox.to(EMAIL)[0], "/reset-password/").removeprefix("http://localhost")
    form = stranger.get(link)
    done = stranger.post(link, data={"password": "a new long password", "csrf_token": csrf_from(form.text)})
    assert done.status_code == 303
    assert signed_in(stranger)  # the browser that reset the password is signed in
    assert not signed_in(client)
    assert not signed_in(kept)


def test_deleting_the_account_ends_every_session(app) -> None:
    with app.app_context():
        make_user()
    client = signed_in_client(app)
    kept = copy_of(app, client)
    laptop = signed_in_client(app)
    post_settings(client, "/account/delete", "delete", password=PASSWORD, confirm="DELETE")
    assert not signed_in(client)
    assert not signed_in(kept)
    assert not signed_in(laptop)


def test_sign_out_everywhere_else_ends_every_other_session_and_keeps_this_one(app) -> None:
    with app.app_context():
        make_user()
        before = db.session.scalar(select(User.session_token))
    client = signed_in_client(app)
    kept = copy_of(app, client)
    laptop = signed_in_client(app)
    settings = client.get("/account/settings").text
    assert 'action="/account/sign-out-everywhere"' in settings and "Sign out everywhere else" in settings

    done = post_settings(client, "/account/sign-out-everywhere", "sessions")
    assert (done.status_code, done.headers["Location"]) == (303, "/account/settings")
    assert "You are signed out everywhere else." in client.get("/account/settings").text
    assert signed_in(client)
    assert not signed_in(kept)
    assert not signed_in(laptop)
    with app.app_context():
        assert db.session.scalar(select(User.session_token)) != before


def test_sign_out_everywhere_else_needs_its_csrf_token_and_a_session(app) -> None:
    with app.app_context():
        make_user()
    client = signed_in_client(app)
    laptop = signed_in_client(app)
    forged = client.post("/account/sign-out-everywhere", data={})
    assert forged.status_code in (302, 303, 400)
    assert signed_in(client) and signed_in(laptop)
    anonymous = app.test_client().post("/account/sign-out-everywhere")
    assert anonymous.status_code in (302, 400)
    assert signed_in(laptop)


# --- the migration gives every existing account its own token --------------------------------


def test_the_migration_gives_each_existing_account_its_own_token(database_url, tmp_path) -> None:
    from flask_migrate import downgrade, upgrade

    app = make_app(database_url, None, tmp_path)
    with app.app_context():
        downgrade(directory=str(ROOT / "migrations"), revision="0005")
        try:
            for i in range(3):
                db.session.execute(
                    text(
                        "INSERT INTO users (name, email, password_hash, is_admin, created_at)"
                        " VALUES (:name, :email, 'x', false, '2026-01-01 10:00:00')"
                    ),
                    {"name": f"P{i}", "email": f"p{i}@example.org"},
                )
            db.session.commit()
        finally:
            upgrade(directory=str(ROOT / "migrations"))  # the database goes back to the head, whatever happened
        tokens = db.session.execute(text("SELECT session_token FROM users")).scalars().all()
        assert len(tokens) == 3 and None not in tokens and len(set(tokens)) == 3
        db.session.rollback()
        db.engine.dispose()
