"""The campaigner posts the target's response in headless Chromium; the petition page shows it at the top.

Uses the session's browser and the live server (fixtures of conftest.py) and the axe check of helpers.py.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, expect

from petitions.clock import utcnow
from petitions.extensions import db
from petitions.signatures import confirming, signing
from tests.helpers import DESKTOP, LiveServer, assert_accessible, make_petition, make_user

pytestmark = pytest.mark.browser

OWNER = "owner@example.org"
PASSWORD = "correct horse battery"


def test_the_campaigner_posts_the_response_and_the_page_shows_it_at_the_top(
    live: LiveServer, desktop: BrowserContext
) -> None:
    with live.app.app_context():
        owner = make_user(OWNER, password=PASSWORD)
        petition = make_petition(owner, goal=10)
        data = signing.SignatureData(name="Sam", email="sam@example.org", country="GB", updates=True)
        confirming.confirm(signing.sign(petition, data, now=utcnow(), ip=None), now=utcnow())
        db.session.commit()
        slug = petition.slug

    page = desktop.new_page()
    page.goto(f"{live.url}/login?next=/account/petitions/{slug}/response")
    page.get_by_label("Email address").fill(OWNER)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live.url}/account/petitions/{slug}/response")
    assert_accessible(page, "the response form")

    # A script in the response is refused, with the reason beside the field, and nothing is posted.
    page.get_by_label("The response", exact=True).fill("Thanks <script>alert(1)</script>")
    page.get_by_label("Date of the response").fill("2026-12-01")
    with page.expect_navigation():
        page.get_by_role("button", name="Post the response").click()
    expect(page.locator("#error-summary")).to_contain_text("Please remove: <script>")
    assert_accessible(page, "the response form with its error")

    page.get_by_label("The response", exact=True).fill("We have **paused** sales to police forces.")
    page.get_by_label("The petition has won").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Post the response").click()
    expect(page).to_have_url(f"{live.url}/petitions/{slug}")
    response = page.locator("#response")
    expect(response).to_contain_text("Victory! This petition has won.")
    expect(response.locator("strong", has_text="paused")).to_be_visible()
    expect(response).to_contain_text("December 1, 2026")
    # at the top: above the count
    top = response.bounding_box()
    tally = page.locator("section.tally").bounding_box()
    assert top is not None and tally is not None and top["y"] < tally["y"]
    assert_accessible(page, "the petition page with its response")

    visitor = desktop.browser.new_context(**DESKTOP)
    try:
        public = visitor.new_page()
        public.goto(f"{live.url}/petitions/{slug}")
        expect(public.locator("#victory")).to_be_visible()
        expect(public.get_by_role("heading", name="The response of Amazon's board of directors")).to_be_visible()
        assert_accessible(public, "the petition page as the public sees it")
    finally:
        visitor.close()
