"""The picture page in headless Chromium: uploading, the picture on the petition, a file too large, axe-core."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests import images
from tests.helpers import LiveServer, assert_accessible, make_petition, make_user

pytestmark = pytest.mark.browser

OWNER = "owner@example.org"
PASSWORD = "correct horse battery"


@pytest.fixture
def desktop(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser context (own cookies); CSP bypassed only so axe can be injected."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        context.close()


def test_the_campaigner_adds_a_picture_and_a_file_too_large_is_refused_before_sending(
    live: LiveServer, desktop: BrowserContext
) -> None:
    with live.app.app_context():
        slug = make_petition(make_user(OWNER, password=PASSWORD)).slug
    page = desktop.new_page()
    page.goto(f"{live.url}/login?next=/petitions/{slug}/image")
    page.get_by_label("Email address").fill(OWNER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="The petition’s picture")).to_be_visible()
    assert_accessible(page, "the picture page")

    uploads: list[str] = []
    page.on("request", lambda request: uploads.append(request.url) if request.method == "POST" else None)
    big = {"name": "huge.jpg", "mimeType": "image/jpeg", "buffer": images.photo_with_gps() + b"\0" * (20 << 20)}
    page.get_by_label("Picture", exact=True).set_input_files(files=[big])
    expect(page.locator("#image-size")).to_contain_text("larger than 10 MB")
    assert page.get_by_label("Picture", exact=True).evaluate("input => input.files.length") == 0
    assert uploads == []

    photo = {"name": "banner.jpg", "mimeType": "image/jpeg", "buffer": images.photo_with_gps()}
    page.get_by_label("Picture", exact=True).set_input_files(files=[photo])
    page.get_by_label("What the picture shows").fill("Our banner at the town hall")
    page.get_by_role("button", name="Save the picture").click()
    expect(page.locator("#image-live img")).to_be_visible()

    page.goto(f"{live.url}/petitions/{slug}")
    picture = page.get_by_role("img", name="Our banner at the town hall")
    expect(picture).to_be_visible()
    assert picture.evaluate("img => img.naturalWidth") == 600  # the photo stood upright: 600 × 800
    assert_accessible(page, "the petition page with its picture")
