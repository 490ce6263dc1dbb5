"""Account settings: name, email (confirmed by a link), password, forgotten password, deleting the account.

Links are read from the emails the test SMTP server received, as a campaigner would.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from petitions.accounts import operations
from petitions.clock import utcnow
from petitions.exceptions import EmailTaken, TokenExpired, TokenInvalid
from petitions.extensions import db
from petitions.infra.tokens import CONFIRM_ACCOUNT, make_token, read_token
from petitions.models import CountryCount, Petition, User
from petitions.signatures import confirming, signing
from tests.helpers import csrf_from, deliver, link_in, login, make_petition, make_user

EMAIL = "campaigner@example.org"
PASSWORD = "correct horse battery"
NOT_CURRENT = "That is not your current password."


def path(url: str) -> str:
    """The path of a link from an email (BASE_URL is http://localhost in tests)."""
    return url.removeprefix("http://localhost")


def post_settings(client, url: str, prefix: str, **fields: str):
    """Submit one of the settings page's forms, its fields named with the form's prefix."""
    token = csrf_from(client.get("/account/settings").text)
    data = {f"{prefix}-{name}": value for name, value in fields.items()}
    return client.post(url, data={**data, f"{prefix}-csrf_token": token})


def change_email(client, new_email: str, password: str = PASSWORD):
    return post_settings(client, "/account/email", "email", new_email=new_email, password=password)


def forgot(client, email: str):
    page = client.get("/forgot-password")
    return client.post("/forgot-password", data={"email": email, "csrf_token": csrf_from(page.text)})


def reset(client, link: str, password: str):
    page = client.get(link)
    return client.post(link, data={"password": password, "csrf_token": csrf_from(page.text)})


def user_by_id(user_id: int) -> User | None:
    db.session.expire_all()
    return db.session.get(User, user_id)


def subjects(mailbox, address: str) -> list[str]:
    return sorted(m["Subject"] for m in mailbox.to(address))


def normalized(page: str, old: str, new: str) -> str:
    """A page with the addresses and the CSRF tokens replaced, to compare what two campaigners see."""
    page = re.sub(r'value="[^"]*" ?/?>', "value>", page.replace(old, "OLD").replace(new, "NEW"))
    return page


def signed_in(client) -> bool:
    return client.get("/account").status_code == 200


# --- the settings page ----------------------------------------------------------------------


def test_settings_need_a_signed_in_campaigner_and_hold_separate_forms(app, client) -> None:
    with app.app_context():
        make_user()
    assert client.get("/account/settings").status_code == 302
    assert client.post("/account/name", data={"profile-name": "X"}).status_code in (400, 302)

    login(client)
    page = client.get("/account/settings")
    assert page.status_code == 200
    for name in (
        "profile-name",
        "email-new_email",
        "email-password",
        "password-current_password",
        "password-new_password",
        "delete-password",
        "delete-confirm",
    ):
        assert f'name="{name}"' in page.text
    assert page.text.count('id="email-password"') == 1 and page.text.count('id="delete-password"') == 1
    assert EMAIL in page.text
    assert "<script" not in page.text and 'style="' not in page.text  # the CSP forbids both
    # every form carries its CSRF token; a POST without one changes nothing
    assert client.post("/account/name", data={"profile-name": "Mallory"}).status_code == 400
    with app.app_context():
        assert db.session.scalar(select(User)).name == "Casey Campaigner"


def test_changing_the_name(app, client) -> None:
    with app.app_context():
        user_id = make_user().id
    login(client)
    empty = post_settings(client, "/account/name", "profile", name="  ")
    assert empty.status_code == 422
    assert "Please enter your name." in empty.text
    assert 'aria-invalid="true"' in empty.text and 'id="profile-name-error"' in empty.text

    saved = post_settings(client, "/account/name", "profile", name="  Casey Q. Campaigner ")
    assert (saved.status_code, saved.headers["Location"]) == (303, "/account/settings")
    assert "Your name is saved." in client.get("/account/settings").text
    with app.app_context():
        assert user_by_id(user_id).name == "Casey Q. Campaigner"


# --- changing the email address ---------------------------------------------------------------


def test_a_new_email_address_counts_only_once_its_link_is_opened(app, client, mailbox) -> None:
    with app.app_context():
        user_id = make_user().id
    login(client)
    response = change_email(client, "New.Address@Example.ORG")
    assert (response.status_code, response.headers["Location"]) == (303, "/account/settings")
    page = client.get("/account/settings").text
    assert "We have sent a link to new.address@example.org" in page
    assert "Cancel the change" in page

    with app.app_context():
        user = user_by_id(user_id)
        assert (user.email, user.pending_email) == (EMAIL, "new.address@example.org")
    deliver(app)
    (notice,) = mailbox.to(EMAIL)
    assert notice["Subject"] == "Your email address is about to change"
    assert "new.address@example.org" in notice.get_body(("plain",)).get_content()
    (confirmation,) = mailbox.to("new.address@example.org")
    link = path(link_in(confirmation, "/confirm-email/"))

    # until the link is opened, the old address and password still sign in, the new one does not
    other = app.test_client()
    assert login(other, "new.address@example.org").status_code == 422
    assert login(other, EMAIL).status_code == 303

    opened = client.get(link)
    assert (opened.status_code, opened.headers["Location"]) == (303, "/account/settings")
    assert "Your email address is now new.address@example.org." in client.get("/account/settings").text
    with app.app_context():
        user = user_by_id(user_id)
        assert (user.email, user.pending_email) == ("new.address@example.org", None)
    assert login(app.test_client(), EMAIL).status_code == 422
    assert login(app.test_client(), "new.address@example.org").status_code == 303

    # opening it again (a second click, a mail scanner) changes nothing and says so kindly
    again = app.test_client().get(link)
    assert (again.status_code, again.headers["Location"]) == (303, "/login")


def test_changing_the_email_needs_the_current_password_and_a_new_valid_address(app, client, mailbox) -> None:
    with app.app_context():
        user_id = make_user().id
    login(client)
    wrong = change_email(client, "new@example.org", password="not my password")
    assert wrong.status_code == 422
    assert NOT_CURRENT in wrong.text
    assert 'id="email-password-error"' in wrong.text
    assert 'value="new@example.org"' in wrong.text  # what was typed comes back
    same = change_email(client, "Campaigner@Example.org")
    assert same.status_code == 422 and "That is your email address already." in same.text
    bad = change_email(client, "not an address")
    assert bad.status_code == 422 and "Please enter a valid email address" in bad.text
    missing = change_email(client, "", password="")
    assert missing.status_code == 422
    assert "Please enter an email address." in missing.text and "Please enter your current password." in missing.text

    with app.app_context():
        user = user_by_id(user_id)
        assert (user.email, user.pending_email) == (EMAIL, None)
    assert deliver(app) == (0, 0)  # nothing was queued


def test_changing_to_an_address_with_an_account_looks_the_same_to_the_campaigner(app, mailbox) -> None:
    with app.app_context():
        make_user("first@example.org")
        second_id = make_user("second@example.org").id
        make_user("taken@example.org", name="Taylor Taken")
    first, second = app.test_client(), app.test_client()
    login(first, "first@example.org")
    login(second, "second@example.org")

    fresh = change_email(first, "fresh@example.org")
    taken = change_email(second, "Taken@example.org")
    assert (fresh.status_code, fresh.headers["Location"]) == (taken.status_code, taken.headers["Location"])
    fresh_page, taken_page = first.get("/account/settings").text, second.get("/account/settings").text
    for page, address in ((fresh_page, "fresh@example.org"), (taken_page, "taken@example.org")):
        assert f"We have sent a link to {address}. Your email address changes when you open it." in page
        assert f"We have sent a link to <strong>{address}</strong>" in page
    assert normalized(fresh_page, "first@example.org", "fresh@example.org") == normalized(
        taken_page, "second@example.org", "taken@example.org"
    )

    deliver(app)
    # both old addresses hear of it; only the mailbox of the taken address learns it has an account
    assert subjects(mailbox, "first@example.org") == ["Your email address is about to change"]
    assert subjects(mailbox, "second@example.org") == ["Your email address is about to change"]
    assert subjects(mailbox, "fresh@example.org") == ["Confirm your new email address"]
    (note,) = mailbox.to("taken@example.org")
    assert note["Subject"] == "This email address already has an account"
    assert "/confirm-email/" not in note.get_body(("plain",)).get_content()
    assert "Taylor" not in note.get_body(("plain",)).get_content()
    with app.app_context():
        assert user_by_id(second_id).email == "second@example.org"
        assert db.session.scalar(select(User).where(User.email == "taken@example.org")).name == "Taylor Taken"


def test_a_superseded_cancelled_or_expired_email_link_is_refused(app, client, mailbox) -> None:
    with app.app_context():
        user_id = make_user().id
    login(client)
    change_email(client, "a@example.org")
    change_email(client, "b@example.org")
    deliver(app)
    link_a = path(link_in(mailbox.to("a@example.org")[0], "/confirm-email/"))
    link_b = path(link_in(mailbox.to("b@example.org")[0], "/confirm-email/"))
    refused = client.get(link_a)
    assert refused.status_code == 404 and "This link is not valid" in refused.text

    cancelled = post_settings(client, "/account/email/cancel", "cancel")
    assert (cancelled.status_code, cancelled.headers["Location"]) == (303, "/account/settings")
    assert "Cancel the change" not in client.get("/account/settings").text
    with app.app_context():
        assert user_by_id(user_id).pending_email is None
    assert client.get(link_b).status_code == 404

    change_email(client, "c@example.org")
    deliver(app)
    link_c = path(link_in(mailbox.to("c@example.org")[0], "/confirm-email/"))
    app.config["ACCOUNT_TOKEN_MAX_AGE"] = -1
    expired = client.get(link_c)
    assert expired.status_code == 410 and "This link has expired" in expired.text
    assert client.get("/confirm-email/not-a-token").status_code == 404
    with app.app_context():
        user = user_by_id(user_id)
        assert (user.email, user.pending_email) == (EMAIL, "c@example.org")


def test_an_address_taken_before_the_link_is_opened_stays_with_its_owner(app, client, mailbox) -> None:
    with app.app_context():
        user_id = make_user().id
    login(client)
    change_email(client, "contested@example.org")
    deliver(app)
    link = path(link_in(mailbox.to("contested@example.org")[0], "/confirm-email/"))
    with app.app_context():
        make_user("contested@example.org")  # registered in the meantime
    response = client.get(link)
    assert response.status_code == 409
    assert "already has an account" in response.text
    with app.app_context():
        assert user_by_id(user_id).email == EMAIL


def test_confirming_a_new_address_confirms_an_unconfirmed_account(ctx) -> None:
    user = make_user(confirmed=False)
    petition = make_petition(user)
    assert petition.status == "draft"
    operations.request_email_change(user, "mine@example.org", PASSWORD, now=utcnow())
    db.session.commit()
    token = make_token(operations.CONFIRM_EMAIL_CHANGE, [user.id, "mine@example.org"])
    operations.confirm_email_change(token, now=utcnow())
    db.session.commit()
    assert user.email_confirmed and user.email == "mine@example.org"
    assert db.session.get(Petition, petition.id).status == "open"
    # the confirmation link sent to the old address no longer works
    with pytest.raises(TokenInvalid):
        operations.confirm_account(make_token(CONFIRM_ACCOUNT, [user.id, EMAIL]), now=utcnow())
    with pytest.raises(EmailTaken):
        other = make_user("other@example.org")
        operations.request_email_change(other, "free@example.org", PASSWORD, now=utcnow())
        db.session.commit()
        make_user("free@example.org")
        operations.confirm_email_change(
            make_token(operations.CONFIRM_EMAIL_CHANGE, [other.id, "free@example.org"]), now=utcnow()
        )


# --- changing the password --------------------------------------------------------------------


def test_changing_the_password(app, client, mailbox) -> None:
    with app.app_context():
        make_user()
    login(client)
    wrong = post_settings(
        client,
        "/account/password",
        "password",
        current_password="guess guess guess",
        new_password="a brand new password",
    )
    assert wrong.status_code == 422
    assert NOT_CURRENT in wrong.text and 'id="password-current_password-error"' in wrong.text
    short = post_settings(client, "/account/password", "password", current_password=PASSWORD, new_password="short")
    assert short.status_code == 422 and "at least 10 characters" in short.text
    assert login(app.test_client()).status_code == 303  # unchanged so far

    done = post_settings(
        client, "/account/password", "password", current_password=PASSWORD, new_password="a brand new password"
    )
    assert (done.status_code, done.headers["Location"]) == (303, "/account/settings")
    assert signed_in(client)  # this session goes on
    assert login(app.test_client()).status_code == 422
    assert login(app.test_client(), password="a brand new password").status_code == 303
    deliver(app)
    assert subjects(mailbox, EMAIL) == ["Your password was changed"]


# --- forgotten password -----------------------------------------------------------------------


def test_forgot_password_answers_the_same_whether_or_not_the_address_has_an_account(app, mailbox) -> None:
    with app.app_context():
        make_user()
    known = forgot(app.test_client(), "Campaigner@example.org")
    unknown = forgot(app.test_client(), "nobody@example.org")
    assert (known.status_code, known.headers["Location"]) == (unknown.status_code, unknown.headers["Location"])
    assert known.headers["Location"] == "/forgot-password/sent"
    page = app.test_client().get("/forgot-password/sent")
    assert page.status_code == 200 and "If an account exists for that address" in page.text

    deliver(app)
    assert subjects(mailbox, EMAIL) == ["Reset your password"]
    assert mailbox.to("nobody@example.org") == []
    assert len(mailbox.messages) == 1

    assert 'href="/forgot-password"' in app.test_client().get("/login").text
    bad = forgot(app.test_client(), "not an address")
    assert bad.status_code == 422 and "Please enter a valid email address" in bad.text


def test_resetting_the_password_through_the_emailed_link_works_once(app, client, mailbox) -> None:
    with app.app_context():
        make_user()
    forgot(client, EMAIL)
    deliver(app)
    (message,) = mailbox.to(EMAIL)
    assert "60 minutes" in message.get_body(("plain",)).get_content()
    link = path(link_in(message, "/reset-password/"))

    form = client.get(link)
    assert form.status_code == 200 and "Choose a new password" in form.text
    assert form.headers["Referrer-Policy"] == "no-referrer"  # the token stays out of Referer headers
    assert form.headers["Cache-Control"] == "no-store"
    short = reset(client, link, "short")
    assert short.status_code == 422 and "at least 10 characters" in short.text

    done = reset(client, link, "my new long password")
    assert (done.status_code, done.headers["Location"]) == (303, "/account")
    account = client.get("/account")
    assert account.status_code == 200  # signed in
    assert "Your password is changed and you are signed in." in account.text
    assert login(app.test_client()).status_code == 422
    assert login(app.test_client(), password="my new long password").status_code == 303

    # the same link again, to look or to post: refused
    again = app.test_client().get(link)
    assert again.status_code == 410 and "This link has been used already" in again.text
    stranger = app.test_client()
    token = csrf_from(stranger.get("/forgot-password").text)
    reposted = stranger.post(link, data={"password": "an attacker's password", "csrf_token": token})
    assert reposted.status_code == 410
    assert login(app.test_client(), password="my new long password").status_code == 303
    deliver(app)
    assert subjects(mailbox, EMAIL) == ["Reset your password", "Your password was changed"]


def test_a_reset_link_dies_when_the_password_changes_another_way(app, client, mailbox) -> None:
    with app.app_context():
        make_user()
    forgot(app.test_client(), EMAIL)
    deliver(app)
    link = path(link_in(mailbox.to(EMAIL)[0], "/reset-password/"))
    login(client)
    post_settings(
        client, "/account/password", "password", current_password=PASSWORD, new_password="changed in settings"
    )
    assert app.test_client().get(link).status_code == 410


def test_an_expired_or_invalid_reset_link_is_refused_with_a_clear_page(app, client, mailbox) -> None:
    with app.app_context():
        make_user()
    forgot(client, EMAIL)
    deliver(app)
    link = path(link_in(mailbox.to(EMAIL)[0], "/reset-password/"))

    app.config["PASSWORD_RESET_MAX_AGE"] = -1
    expired = client.get(link)
    assert expired.status_code == 410 and "This link has expired" in expired.text
    assert "Ask for a new link" in expired.text
    token = csrf_from(client.get("/forgot-password").text)
    assert client.post(link, data={"password": "my new long password", "csrf_token": token}).status_code == 410
    app.config["PASSWORD_RESET_MAX_AGE"] = 3600
    assert login(app.test_client()).status_code == 303  # the password is unchanged

    invalid = client.get("/reset-password/garbage")
    assert invalid.status_code == 404 and "This link is not valid" in invalid.text
    assert client.get(link[:-3] + "abc").status_code == 404
    with app.app_context():
        user = db.session.scalar(select(User))
        other_purpose = make_token(CONFIRM_ACCOUNT, [user.id, user.email])
    assert client.get(f"/reset-password/{other_purpose}").status_code == 404


def test_reset_tokens_expire_after_password_reset_max_age(ctx) -> None:
    user = make_user()
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert operations.request_password_reset(EMAIL, now=now) is True
    assert operations.request_password_reset("nobody@example.org", now=now) is False
    token = make_token(operations.PASSWORD_RESET, [user.id, user.email, operations.password_fingerprint(user)])
    issued = utcnow()
    assert operations.check_password_reset(token, now=issued + timedelta(seconds=3500)) == user
    with pytest.raises(TokenExpired):
        operations.check_password_reset(token, now=issued + timedelta(seconds=3602))
    with pytest.raises(TokenExpired):
        operations.reset_password(token, "a new long password", now=issued + timedelta(hours=2))
    assert user.check_password(PASSWORD)

    # the payload, readable by anyone holding the link, shows nothing of the password hash
    payload = read_token(operations.PASSWORD_RESET, token, max_age=3600, now=issued)
    assert len(payload[2]) == 32
    assert not any(part and part in str(payload) for part in user.password_hash.split("$"))
    operations.reset_password(token, "a new long password", now=issued)
    db.session.commit()
    with pytest.raises(operations.TokenUsed):
        operations.reset_password(token, "another long password", now=issued)
    with pytest.raises(TokenInvalid):  # TokenUsed is a kind of TokenInvalid for callers that need not care
        operations.check_password_reset(token, now=issued)
    assert user.check_password("a new long password")


def test_a_reset_link_confirms_an_unconfirmed_address_and_dies_with_an_email_change(ctx) -> None:
    user = make_user(confirmed=False)
    token = make_token(operations.PASSWORD_RESET, [user.id, user.email, operations.password_fingerprint(user)])
    operations.reset_password(token, "a new long password", now=utcnow())
    db.session.commit()
    assert user.email_confirmed

    token = make_token(operations.PASSWORD_RESET, [user.id, user.email, operations.password_fingerprint(user)])
    user.email = "moved@example.org"
    db.session.commit()
    with pytest.raises(TokenInvalid):
        operations.check_password_reset(token, now=utcnow())


# --- deleting the account ---------------------------------------------------------------------


def _petitions_with_signatures(owner: User) -> dict[str, int]:
    """An open petition with three confirmed signatures, a closed one, and a draft; their ids."""
    now = utcnow()
    live = make_petition(owner, title="Keep the library open")
    signatures = [
        signing.sign(live, signing.SignatureData(name="Sam", email=email, country=country), now=now, ip=None)
        for email, country in (("a@example.org", "GB"), ("b@example.org", "FR"), ("c@example.org", "FR"))
    ]
    signing.sign(live, signing.SignatureData(name="Pat", email="p@example.org", country="DE"), now=now, ip=None)
    db.session.commit()
    for signature in signatures:
        assert confirming.confirm(signature, now=now)
    finished = make_petition(owner, title="Fix the bridge")
    finished.status, finished.closed_at = "closed", now - timedelta(days=3)
    draft = make_petition(owner, title="Not ready yet")
    draft.status = "draft"
    db.session.commit()
    return {"live": live.id, "finished": finished.id, "draft": draft.id}


def test_deleting_the_account_keeps_its_petitions_public_closed_and_counted(app, client, mailbox) -> None:
    with app.app_context():
        owner = make_user()
        user_id = owner.id
        ids = _petitions_with_signatures(owner)
        live = db.session.get(Petition, ids["live"])
        slug, finished_closed_at = live.slug, db.session.get(Petition, ids["finished"]).closed_at
        others = make_petition(make_user("other@example.org"), title="Someone else's petition").id
    before = client.get(f"/api/v1/petitions/{slug}").json
    assert (before["status"], before["signature_count"]) == ("open", 3)
    login(client)

    wrong = post_settings(client, "/account/delete", "delete", password="not my password", confirm="DELETE")
    assert wrong.status_code == 422 and NOT_CURRENT in wrong.text
    unconfirmed = post_settings(client, "/account/delete", "delete", password=PASSWORD, confirm="delete")
    assert unconfirmed.status_code == 422 and "Please type DELETE in capital letters to confirm." in unconfirmed.text
    assert 'id="delete-confirm-error"' in unconfirmed.text
    empty = post_settings(client, "/account/delete", "delete", password=PASSWORD, confirm="")
    assert empty.status_code == 422 and "Please type DELETE to confirm." in empty.text
    with app.app_context():
        assert user_by_id(user_id) is not None

    deleted = post_settings(client, "/account/delete", "delete", password=PASSWORD, confirm="DELETE")
    assert (deleted.status_code, deleted.headers["Location"]) == (303, "/")
    assert "Your account is deleted." in client.get("/").text
    assert client.get("/account").status_code == 302  # signed out
    assert login(app.test_client()).status_code == 422

    with app.app_context():
        assert user_by_id(user_id) is None
        live = db.session.get(Petition, ids["live"])
        assert (live.owner_id, live.status, live.signature_count) == (None, "closed", 3)
        assert live.closed_at is not None and abs(live.closed_at - utcnow()) < timedelta(minutes=1)
        countries = dict(
            db.session.execute(
                select(CountryCount.country, CountryCount.count).where(CountryCount.petition_id == live.id)
            ).all()
        )
        assert countries == {"GB": 1, "FR": 2}
        finished = db.session.get(Petition, ids["finished"])
        assert (finished.owner_id, finished.status, finished.closed_at) == (None, "closed", finished_closed_at)
        draft = db.session.get(Petition, ids["draft"])
        assert (draft.owner_id, draft.status) == (None, "draft")  # never published
        assert db.session.get(Petition, others).owner_id is not None

    page = client.get(f"/petitions/{slug}")
    assert page.status_code == 200 and "Keep the library open" in page.text
    after = client.get(f"/api/v1/petitions/{slug}").json
    assert (after["status"], after["signature_count"]) == ("closed", 3)
    assert after["signatures_by_country"] == {"GB": 1, "FR": 2}

    deliver(app)
    (goodbye,) = [m for m in mailbox.to(EMAIL) if m["Subject"] == "Your account is deleted"]
    text = goodbye.get_body(("plain",)).get_content()
    assert f"http://localhost/petitions/{slug}" in text and "Not ready yet" not in text


def test_deleting_closes_an_open_petition_past_its_date_at_that_date(ctx) -> None:
    owner = make_user()
    past = utcnow() - timedelta(days=2)
    petition = make_petition(owner, now=past - timedelta(days=10))
    petition.closes_at = past
    waiting = make_petition(owner, title="Waiting for a moderator")
    waiting.status = "pending"
    db.session.commit()
    with pytest.raises(operations.WrongPassword):
        operations.delete_account(owner, "wrong password", now=utcnow())
    operations.delete_account(owner, PASSWORD, now=utcnow())
    db.session.commit()
    db.session.expire_all()
    petition = db.session.get(Petition, petition.id)
    assert (petition.status, petition.closed_at, petition.owner_id) == ("closed", past, None)
    assert db.session.get(Petition, waiting.id).status == "pending"
