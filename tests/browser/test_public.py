"""End to end in headless Chromium on a phone: sign, fail, confirm by email; axe and the keyboard on each page.

The app runs in a real HTTP server in a background thread, its links in emails pointing at it;
mail goes through the test SMTP server. Chromium is Debian's (/usr/bin/chromium): when it is
missing these tests fail, they never skip.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.request import urlopen

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import func, select

from petitions.extensions import db
from petitions.models import OutboxMessage, Petition, Signature
from tests.helpers import PHONE, LiveServer, Mailbox, assert_accessible, deliver, link_in, make_petition

pytestmark = pytest.mark.browser

SIGNER = "sam@example.org"


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh phone-sized browser context (own cookies)."""
    context = browser.new_context(**PHONE)
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        context.close()


def api_count(live: LiveServer, slug: str) -> int:
    """The count as the public API gives it (a plain HTTP client, no cache)."""
    with urlopen(f"{live.url}/api/v1/petitions/{slug}/count", timeout=5) as response:  # noqa: S310 (our server)
        return json.load(response)["signature_count"]


def stored(live: LiveServer, petition_id: int) -> tuple[list[Signature], int, int]:
    """The petition's signatures, its stored count, and the number of queued emails."""
    with live.app.app_context():
        signatures = list(db.session.scalars(select(Signature).where(Signature.petition_id == petition_id)))
        count = db.session.get(Petition, petition_id).signature_count
        outbox = db.session.scalar(select(func.count()).select_from(OutboxMessage))
        db.session.expunge_all()
        return signatures, count, outbox


def tab_to(page: Page, element_id: str, limit: int = 40) -> list[str]:
    """Press Tab (from wherever focus is; the top on a fresh page) until the element has focus.

    Returns what was focused on the way: ids, or TAG:text for elements without one.
    """
    seen: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const e = document.activeElement;"
            " return e ? (e.id || e.tagName + ':' + (e.textContent || '').trim()) : ''; }"
        )
        seen.append(focused)
        if focused == element_id:
            return seen
    pytest.fail(f"Tab never reached #{element_id}; focus went through: {seen}", pytrace=False)


# --- the journey ----------------------------------------------------------------------------


def test_sign_fail_then_confirm_by_email_on_a_phone(live: LiveServer, phone: BrowserContext, mailbox: Mailbox) -> None:
    with live.app.app_context():
        petition = make_petition(goal=100)
        slug, petition_id, title = petition.slug, petition.id, petition.title
    page = phone.new_page()

    # The petition page: nothing counted yet.
    response = page.goto(f"{live.url}/petitions/{slug}")
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.locator("#signature-count")).to_have_text("0")
    assert_accessible(page, "the petition page")

    # Keyboard: from the top, Tab reaches the name field (the skip link comes first).
    seen = tab_to(page, "name")
    assert seen[0].startswith("A:Skip to content"), seen

    # A failed submission, sent with the keyboard: an invalid address is refused and nothing is kept.
    page.get_by_label("Your name").fill("Sam Signer")
    page.get_by_label("Email address").fill("sam-at-example.org")
    page.get_by_label("Country").select_option("GB")
    sign_button = page.get_by_role("button", name="Sign", exact=True)
    sign_button.focus()
    with page.expect_navigation() as refused:
        page.keyboard.press("Enter")
    assert refused.value is not None and refused.value.status == 422
    summary = page.get_by_role("alert")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("There is a problem")
    expect(summary.get_by_role("link", name="Please enter a valid email address")).to_have_attribute("href", "#email")
    email = page.get_by_label("Email address")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_value("sam-at-example.org")
    expect(page.locator("#email-error")).to_contain_text("Please enter a valid email address")
    described_by = (email.get_attribute("aria-describedby") or "").split()
    assert "email-error" in described_by, described_by
    expect(email).to_have_accessible_description(
        "We email you a link to confirm. It is never shown publicly. "
        "Error: Please enter a valid email address, like name@example.org."
    )
    expect(page.get_by_label("Your name")).to_have_value("Sam Signer")
    expect(page.locator("#signature-count")).to_have_text("0")
    signatures, count, outbox = stored(live, petition_id)
    assert (signatures, count, outbox) == ([], 0, 0)
    assert_accessible(page, "the petition page showing form errors")

    # The real signing, by the visible labels, tapped as on a phone.
    page.get_by_label("Your name").fill("Sam Signer")
    page.get_by_label("Email address").fill(SIGNER)
    page.get_by_label("Country").select_option("GB")
    page.get_by_label("Show my name on the petition").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Sign", exact=True).tap()
    expect(page).to_have_url(f"{live.url}/petitions/{slug}/signed")
    expect(page.get_by_role("heading", level=1, name="Check your email")).to_be_visible()
    assert_accessible(page, "the 'check your email' page")

    (signature,), count, _ = stored(live, petition_id)
    assert (signature.name, signature.email, signature.country, signature.show_name) == (
        "Sam Signer",
        SIGNER,
        "GB",
        True,
    )
    assert signature.confirmed_at is None and count == 0

    # The email, through the real SMTP server, links to the live server.
    assert deliver(live.app) == (1, 0)
    (message,) = mailbox.to(SIGNER)
    link = link_in(message, "/verify/")
    assert link.startswith(f"{live.url}/verify/"), link

    # Opening the link confirms nothing by itself.
    response = page.goto(link)
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1, name="Confirm your signature")).to_be_visible()
    assert api_count(live, slug) == 0
    (signature,), count, _ = stored(live, petition_id)
    assert signature.confirmed_at is None and count == 0
    assert_accessible(page, "the confirmation page")

    # Pressing the button does, and lands on the petition with the new count and a thank-you.
    with page.expect_navigation():
        page.get_by_role("button", name="Confirm my signature").tap()
    expect(page).to_have_url(f"{live.url}/petitions/{slug}")
    expect(page.locator("#signature-count")).to_have_text("1")
    expect(page.get_by_role("status")).to_contain_text("Thank you: your signature is confirmed and counted.")
    assert api_count(live, slug) == 1
    (signature,), count, _ = stored(live, petition_id)
    assert signature.confirmed_at is not None and count == 1
    assert_accessible(page, "the petition page after confirming")


def test_the_form_can_be_filled_and_sent_with_the_keyboard_alone(live: LiveServer, phone: BrowserContext) -> None:
    """Tab to each field, type, tick with Space, and press Space on the Sign button: no pointer."""
    with live.app.app_context():
        petition = make_petition()
        slug, petition_id = petition.slug, petition.id
    page = phone.new_page()
    page.goto(f"{live.url}/petitions/{slug}")

    tab_to(page, "name")
    page.keyboard.type("Kim Keys")
    page.keyboard.press("Tab")
    page.keyboard.type("kim@example.org")
    tab_to(page, "country", limit=1)
    page.get_by_label("Country").select_option("FR")  # a native picker: choosing in it is not what is tested here
    tab_to(page, "show_name", limit=3)  # past the optional postcode and comment
    page.keyboard.press("Space")
    expect(page.get_by_label("Show my name on the petition")).to_be_checked()
    tab_to(page, "BUTTON:Sign", limit=2)  # past the updates checkbox
    with page.expect_navigation():
        page.keyboard.press("Space")
    expect(page.get_by_role("heading", level=1, name="Check your email")).to_be_visible()

    (signature,), count, outbox = stored(live, petition_id)
    assert (signature.name, signature.email, signature.country, signature.show_name, signature.updates) == (
        "Kim Keys",
        "kim@example.org",
        "FR",
        True,
        False,
    )
    assert (count, outbox) == (0, 1)


def test_the_accessibility_check_reports_what_axe_finds(browser: Browser) -> None:
    """A guard on the guard: a page with known violations fails assert_accessible, naming them."""
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        page.set_content(
            "<!doctype html><html><head><title>Bad</title></head><body><main>"
            '<input type="text" id="unlabelled"><p style="color:#eee;background:#fff">faint text</p>'
            "</main></body></html>"
        )
        with pytest.raises(pytest.fail.Exception) as failure:
            assert_accessible(page, "a page built to fail")
    finally:
        context.close()
    message = str(failure.value)
    assert "label" in message and "color-contrast" in message and "#unlabelled" in message, message
