"""An open letter in headless Chromium: the extra fields on the signing form, the list of signers, the
campaigner hiding an entry; each page axe-clean."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import BrowserContext, expect

from petitions.clock import utcnow
from petitions.extensions import db
from petitions.signatures import confirming, signing
from tests.helpers import LiveServer, assert_accessible, make_petition, make_user

pytestmark = pytest.mark.browser

OWNER = "owner@example.org"
PASSWORD = "correct horse battery"


def test_the_letter_s_form_its_signers_and_hiding_one(live: LiveServer, desktop: BrowserContext) -> None:
    now = utcnow()
    with live.app.app_context():
        owner = make_user(OWNER, password=PASSWORD)
        petition = make_petition(owner, title="An open letter to our board")
        petition.ask_organisation, petition.ask_job_title = "required", "optional"
        db.session.commit()
        for i, (name, org, title) in enumerate([("Ada", "Acme", "Engineer"), ("Bea", "Globex", None)]):
            at = now - timedelta(hours=2 - i)
            data = signing.SignatureData(
                name=name,
                email=f"{name.lower()}@example.org",
                country="GB",
                comment="We mean it." if i else None,
                organisation=org,
                job_title=title,
                show_name=True,
            )
            confirming.confirm(signing.sign(petition, data, now=at, ip=None), now=at)
        db.session.commit()
        slug = petition.slug

    page = desktop.new_page()
    page.goto(f"{live.url}/petitions/{slug}")
    expect(page.get_by_label("Organisation", exact=True)).to_have_attribute("required", "")
    expect(page.get_by_label("Job title (optional)")).to_be_visible()
    expect(page.locator(".signer-name")).to_have_text(["Bea", "Ada"])
    expect(page.locator("#signers")).to_contain_text("Ada, Engineer, Acme (United Kingdom)")
    assert "@example.org" not in page.content()
    assert_accessible(page, "an open letter's page with its signers")

    page.goto(f"{live.url}/login?next=/account/petitions/{slug}/signers")
    page.get_by_label("Email address").fill(OWNER)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live.url}/account/petitions/{slug}/signers")
    assert_accessible(page, "the campaigner's list of signers")
    with page.expect_navigation():
        page.get_by_role("button", name="Hide Bea").click()
    expect(page.get_by_role("button", name="Show again: Bea")).to_be_visible()
    assert_accessible(page, "the campaigner's list with a hidden entry")
    page.goto(f"{live.url}/petitions/{slug}")
    expect(page.locator(".signer-name")).to_have_text(["Ada"])
