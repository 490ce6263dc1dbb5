"""The campaigner's dashboard and delivery page in headless Chromium: signed in, the count, the chart, axe-core.

Uses the session's browser and the live server (fixtures of conftest.py) and the axe check of helpers.py.
"""

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


def test_the_owner_sees_the_count_and_the_chart_and_both_pages_pass_axe(
    live: LiveServer, desktop: BrowserContext
) -> None:
    now = utcnow()
    hours_ago = [1, 2, 2, 30, 60, 80]
    days = len({(now - timedelta(hours=h)).date() for h in hours_ago})  # 3 to 5, by the time of day
    with live.app.app_context():
        owner = make_user(OWNER, password=PASSWORD)
        petition = make_petition(owner, goal=10, now=now - timedelta(days=4))
        for i, ago in enumerate(hours_ago):
            at = now - timedelta(hours=ago)
            data = signing.SignatureData(
                name=f"Signer {i}",
                email=f"s{i}@example.org",
                country=["GB", "FR", "DE"][i % 3],
                comment=f"Comment {i}" if i % 2 else None,
                show_name=i == 1,
            )
            confirming.confirm(signing.sign(petition, data, now=at, ip=None), now=at)
        signing.sign(petition, signing.SignatureData(name="P", email="p@example.org", country="GB"), now=now, ip=None)
        db.session.commit()
        slug = petition.slug

    # Signing in from the login page lands on the dashboard it was asked for.
    page = desktop.new_page()
    page.goto(f"{live.url}/login?next=/account/petitions/{slug}")
    page.get_by_label("Email address").fill(OWNER)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live.url}/account/petitions/{slug}")

    expect(page.locator("#verified-count")).to_have_text("6")
    expect(page.locator("#pending-count")).to_have_text("1")
    chart = page.get_by_role("img", name="Signatures per day")
    expect(chart).to_be_visible()
    expect(chart.locator("rect.bar")).to_have_count(days)  # a bar for each day with signatures
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 80, box
    hours_chart = page.get_by_role("img", name="Signatures per hour, last 48 hours")
    expect(hours_chart.locator("rect.bar")).to_have_count(3)  # 1 h, 2 h and 30 h ago
    expect(page.locator("#comments blockquote")).to_have_count(3)
    assert_accessible(page, "the dashboard")

    # The table behind the chart opens with the keyboard.
    page.locator("#days-heading ~ details summary").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#table-days")).to_be_visible()
    assert_accessible(page, "the dashboard with the day table open")

    with page.expect_navigation():
        page.get_by_role("link", name="Delivery page (printable)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Stop selling Rekognition to governments")
    expect(page.locator("#delivery-count")).to_have_text("6")
    assert_accessible(page, "the delivery page")
    page.emulate_media(media="print")
    expect(page.locator(".site-header")).to_be_hidden()
    expect(page.locator("#delivery-countries")).to_be_visible()
    assert_accessible(page, "the delivery page as printed")
