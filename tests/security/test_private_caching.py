"""Caching: no shared cache keeps a page that depends on the visitor's session.

A CDN told to "cache everything" honours `no-store` and `private`: each page that shows who
is signed in, personal data, or a form with a CSRF token says both. The press endpoints stay
public and cacheable, and carry no cookie.
"""

from __future__ import annotations

import pytest

from petitions.clock import utcnow
from petitions.extensions import db
from petitions.infra import tokens
from petitions.signatures import confirming, mydata, signing
from tests.helpers import csrf_from, login, make_petition, make_user

PRIVATE = "private, no-store"
OWNER = "owner@example.org"
ADMIN = "admin@example.org"


@pytest.fixture
def slug(app) -> str:
    with app.app_context():
        make_user(ADMIN, admin=True)
        petition = make_petition(make_user(OWNER))
        signature = signing.sign(petition, signing.SignatureData("Sam", "sam@example.org", "GB"), now=utcnow(), ip=None)
        confirming.confirm(signature, now=utcnow())
        db.session.commit()
        return petition.slug


def private(response) -> bool:
    """Whether the answer is "private, no-store", or a view's own "no-store" (kept by no cache at all)."""
    cache_control = response.headers.get("Cache-Control", "")
    return cache_control == PRIVATE or ("no-store" in cache_control and "public" not in cache_control)


def get(client, url: str):
    """GET, the body read at once (a streamed export left open would hold its database transaction)."""
    response = client.get(url)
    response.get_data()
    response.close()
    return response


def test_every_page_of_a_signed_in_campaigner_is_private(app, slug) -> None:
    client = app.test_client()
    assert login(client, OWNER).status_code == 303
    for url in [
        "/account",
        "/account/settings",
        "/petitions/new",
        f"/account/petitions/{slug}",
        f"/petitions/{slug}/delivery",
        f"/petitions/{slug}/edit",
        f"/petitions/{slug}/signatures.csv",
        f"/account/petitions/{slug}/updates",
        f"/account/petitions/{slug}/groups",
        "/",
        f"/petitions/{slug}",
        "/privacy",  # the navigation shows who is signed in
    ]:
        response = get(client, url)
        assert response.status_code == 200, url
        assert private(response), (url, response.headers.get("Cache-Control"))


def test_every_admin_page_is_private(app, slug) -> None:
    client = app.test_client()
    assert login(client, ADMIN).status_code == 303
    for url in [
        "/admin/",
        "/admin/queue",
        "/admin/reports",
        "/admin/signatures",
        f"/admin/signatures?petition={slug}",
        "/admin/invalidations",
        "/admin/audit",
        "/admin/blocks",
        "/admin/trending",
        f"/admin/petitions/{slug}",
    ]:
        response = get(client, url)
        assert response.status_code == 200, url
        assert private(response), (url, response.headers.get("Cache-Control"))


def test_pages_with_a_csrf_token_or_personal_data_are_private_for_strangers_too(app, slug) -> None:
    with app.app_context():
        data_token = tokens.make_token(mydata.MY_DATA, "sam@example.org")
    client = app.test_client()
    for url in [f"/petitions/{slug}", "/login", "/register", "/forgot-password", "/my-data", f"/my-data/{data_token}"]:
        response = get(client, url)
        assert response.status_code == 200, url
        assert private(response), (url, response.headers.get("Cache-Control"))
        if url == f"/my-data/{data_token}":
            assert "Sam" in response.text


def test_the_petition_page_with_its_signing_form_is_never_shared(app, slug) -> None:
    response = app.test_client().get(f"/petitions/{slug}")
    assert csrf_from(response.text)
    cache_control = response.headers["Cache-Control"]
    assert "no-store" in cache_control and "private" in cache_control and "public" not in cache_control


def test_answers_that_change_the_session_are_private(app, slug) -> None:
    client = app.test_client()
    response = login(client, OWNER)
    assert response.status_code == 303 and "session=" in response.headers["Set-Cookie"]
    assert private(response)
    page = client.get("/account")
    response = client.post("/logout", data={"csrf_token": csrf_from(page.text)})
    assert response.status_code == 303 and private(response)


@pytest.mark.parametrize("signed_in", [False, True])
def test_the_press_endpoints_stay_public_and_set_no_cookie(app, slug, signed_in) -> None:
    client = app.test_client()
    if signed_in:
        assert login(client, OWNER).status_code == 303
    for url in [
        f"/api/v1/petitions/{slug}/count",
        f"/api/v1/petitions/{slug}",
        "/api/v1/petitions",
        f"/petitions/{slug}/badge.svg",
        f"/embed/{slug}",
        f"/oembed?url=http://localhost/petitions/{slug}&format=json",
    ]:
        response = get(client, url)
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"].startswith("public, max-age="), url
        assert "Set-Cookie" not in response.headers, url
        assert "Cookie" not in response.headers.get("Vary", ""), url


def test_a_response_that_reads_no_session_is_left_alone(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert "Cache-Control" not in response.headers
