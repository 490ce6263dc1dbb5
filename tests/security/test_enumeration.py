"""Enumeration: no response tells a stranger whether an address has signed or has an account.

For every form that takes an email address, a known and an unknown address get the same
status, the same redirect and the same page; only the mailbox itself learns the difference.
"""

from __future__ import annotations

import re

from petitions.clock import utcnow
from petitions.extensions import db
from petitions.signatures import confirming, signing
from tests.helpers import make_petition, make_user, post_form, sign_form


def same(a, b, typed: tuple[str, str] = ("", "")) -> None:
    """Same status, redirect and page, but for CSRF tokens and the address each one typed (echoed back)."""
    assert a.status_code == b.status_code
    assert a.headers.get("Location") == b.headers.get("Location")

    def strip(response, address: str) -> str:
        text = re.sub(r'value="[^"]{20,}"', 'value=""', response.get_data(as_text=True))
        return text.replace(address, "ADDRESS") if address else text

    assert strip(a, typed[0]) == strip(b, typed[1])


def test_signing_answers_the_same_for_signed_unsigned_and_confirmed_addresses(app) -> None:
    with app.app_context():
        petition = make_petition()
        slug = petition.slug
        confirmed = signing.sign(
            petition, signing.SignatureData("A", "confirmed@example.org", "GB"), now=utcnow(), ip=None
        )
        confirming.confirm(confirmed, now=utcnow())
        signing.sign(petition, signing.SignatureData("B", "pending@example.org", "GB"), now=utcnow(), ip=None)
        db.session.commit()
    answers = [
        sign_form(app.test_client(), slug, email=e)
        for e in ("new@example.org", "pending@example.org", "Confirmed@Example.org")
    ]
    same(answers[0], answers[1])
    same(answers[0], answers[2])
    pages = [app.test_client().get(a.headers["Location"]) for a in answers]
    same(pages[0], pages[1])
    same(pages[0], pages[2])


def test_the_signers_own_check_your_email_page_is_the_same_for_new_repeated_and_confirmed(app) -> None:
    """The page after signing names the address typed, in the signer's own session: the only difference
    between a first signing and a repeat of a pending or confirmed one is that address."""
    with app.app_context():
        petition = make_petition()
        slug = petition.slug
        confirmed = signing.sign(
            petition, signing.SignatureData("A", "confirmed@example.org", "GB"), now=utcnow(), ip=None
        )
        confirming.confirm(confirmed, now=utcnow())
        signing.sign(petition, signing.SignatureData("B", "pending@example.org", "GB"), now=utcnow(), ip=None)
        db.session.commit()
    typed = ("new@example.org", "pending@example.org", "Confirmed@Example.org")
    pages = []
    for address in typed:
        client = app.test_client()
        answer = sign_form(client, slug, email=address)
        pages.append(client.get(answer.headers["Location"]))
        assert address in pages[-1].text and pages[-1].headers["Cache-Control"] == "private, no-store"
    same(pages[0], pages[1], (typed[0], typed[1]))
    same(pages[0], pages[2], (typed[0], typed[2]))


def test_account_forms_answer_the_same_for_known_and_unknown_addresses(app) -> None:
    with app.app_context():
        make_user("known@example.org")
    for url, fields in [
        ("/register", {"name": "X", "password": "a long enough password"}),
        ("/forgot-password", {}),
        ("/my-data", {}),
    ]:
        known = post_form(app.test_client(), url, {**fields, "email": "known@example.org"})
        unknown = post_form(app.test_client(), url, {**fields, "email": "unknown@example.org"})
        same(known, unknown)


def test_login_failures_look_the_same(app) -> None:
    with app.app_context():
        make_user("known@example.org")
    known = post_form(app.test_client(), "/login", {"email": "known@example.org", "password": "wrong password!"})
    unknown = post_form(app.test_client(), "/login", {"email": "unknown@example.org", "password": "wrong password!"})
    same(known, unknown, ("known@example.org", "unknown@example.org"))


def test_no_signer_address_appears_in_public_output(app, client) -> None:
    with app.app_context():
        petition = make_petition()
        slug = petition.slug
        s = signing.sign(
            petition,
            signing.SignatureData("Pat", "pat.secret@example.org", "GB", comment="Hi", show_name=True),
            now=utcnow(),
            ip="203.0.113.9",
        )
        confirming.confirm(s, now=utcnow())
        db.session.commit()
    for url in [
        "/",
        f"/petitions/{slug}",
        f"/embed/{slug}",
        f"/api/v1/petitions/{slug}",
        "/api/v1/petitions",
        f"/api/v1/petitions/{slug}/count",
        f"/petitions/{slug}/badge.svg",
        f"/oembed?url=http://localhost/petitions/{slug}",
    ]:
        text = client.get(url).get_data(as_text=True)
        assert "pat.secret" not in text and "203.0.113.9" not in text, url
