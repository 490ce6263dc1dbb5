"""An administrator finds a bot farm's signatures and invalidates them, in headless Chromium,
with axe on each admin page.

The live server and the axe check are test_browser's. Playwright's sync API runs one instance
per thread, and test_browser's session-wide browser may already be running in the main one, so
this journey drives its own Chromium from a thread of its own.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from petitions.clock import utcnow
from petitions.counting import counts
from petitions.extensions import db
from petitions.models import Invalidation, Petition
from petitions.signatures import confirming, signing
from petitions.signatures.signing import SignatureData
from tests.helpers import LiveServer, assert_accessible, make_petition, make_user

pytestmark = pytest.mark.browser

ADMIN = "admin@example.org"
PASSWORD = "correct horse battery"
T = TypeVar("T")


def test_an_admin_invalidates_a_bot_farm_and_the_count_drops(live: LiveServer, browser) -> None:
    with live.app.app_context():
        make_user(ADMIN, name="Ada Admin", password=PASSWORD, admin=True)
        petition = make_petition(goal=100)
        now = utcnow() - timedelta(hours=1)
        for email, confirm in [
            ("bot1@spam-farm.net", True),
            ("bot2@spam-farm.net", True),
            ("bot3@mail.spam-farm.net", True),
            ("bot4@spam-farm.net", False),
            ("alex@example.org", True),
            ("kim@example.com", True),
        ]:
            signature = signing.sign(
                petition, SignatureData(name="A Signer", email=email, country="GB"), now=now, ip="203.0.113.5"
            )
            if confirm:
                confirming.confirm(signature, now=now)
        db.session.commit()
        slug, petition_id = petition.slug, petition.id
        assert petition.signature_count == 5

    try:
        # bypass_csp only so axe can be injected: the site's CSP forbids inline script
        context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        context.set_default_timeout(10_000)
        page = context.new_page()

        page.goto(f"{live.url}/petitions/{slug}")
        expect(page.locator("#signature-count")).to_have_text("5")

        page.goto(f"{live.url}/login?next=/admin/")
        page.get_by_label("Email address").fill(ADMIN)
        page.get_by_label("Password").fill(PASSWORD)
        with page.expect_navigation():
            page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{live.url}/admin/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Administration")
        assert_accessible(page, "the admin home page")

        page.get_by_role("navigation", name="Administration").get_by_role("link", name="Find signatures").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Find and invalidate signatures")
        assert_accessible(page, "the admin signatures page")

        page.get_by_label("Petition address (slug)").fill(f"{live.url}/petitions/{slug}")  # a pasted link works
        page.get_by_label("Email domain").fill("spam-farm.net")
        with page.expect_navigation():
            page.get_by_role("button", name="Find signatures").click()
        expect(page.locator("#match-total")).to_have_text("4")
        expect(page.locator("#match-confirmed")).to_have_text("3")
        expect(page.locator("#match-pending")).to_have_text("1")
        expect(page.locator("#match-invalid")).to_have_text("0")
        assert_accessible(page, "the admin signatures page with a preview")

        # the reason is required: refused, with the error next to the field
        button = page.get_by_role("button", name="Invalidate 4 signatures")
        with page.expect_navigation() as refused:
            button.click()
        assert refused.value is not None and refused.value.status == 422
        reason = page.get_by_label("Reason for invalidating")
        expect(reason).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#reason-error")).to_contain_text("Please give a reason.")
        assert_accessible(page, "the admin signatures page with an error")

        reason.fill("A bot farm: hundreds of sign-ups from one network in minutes.")
        with page.expect_navigation():
            page.get_by_role("button", name="Invalidate 4 signatures").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Invalidation batch")
        expect(page.get_by_role("status")).to_contain_text("4 signature(s) invalidated")
        expect(page.locator("#batch-count")).to_have_text("4")
        assert_accessible(page, "an invalidation batch")

        page.goto(f"{live.url}/petitions/{slug}")
        expect(page.locator("#signature-count")).to_have_text("2")
    finally:
        context.close()

    with live.app.app_context():
        petition = db.session.get(Petition, petition_id)
        assert petition.signature_count == 2
        assert db.session.scalar(select(Invalidation.signature_count)) == 4
        assert counts.recount(petition, now=utcnow()) == []
        db.session.rollback()
