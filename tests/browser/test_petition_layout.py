"""The petition page on a phone (390 × 844) and a desktop (1280 × 900): where the way to sign is on first
load, the "Sign this petition" link focusing the name field (with and without JavaScript), axe, no layout
shift from the late script, sharing without trackers and the phone's share sheet, the page after signing.

Screenshots of each are written to test-output/screenshots/ (ignored by git) for review.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.helpers import DESKTOP, PHONE, ROOT, LiveServer, assert_accessible, make_petition

pytestmark = pytest.mark.browser

SIZES = {"phone": PHONE, "desktop": DESKTOP}
SCREENSHOTS = ROOT / "test-output" / "screenshots"

TITLE = "Keep the Riverside library open on Sundays and in the evenings"
SUMMARY = (
    "The council plans to close the Riverside library on Sundays and after 5 pm from January. "
    "Students, shift workers and families rely on those hours: we ask the council to keep them."
)
BODY = "\n\n".join(
    f"Paragraph {i}: the library is where people study, read, look for work and meet. " * 4 for i in range(1, 7)
)

# Collects layout shifts from the very first paint (buffered), as Core Web Vitals count them.
CLS_OBSERVER = """
window.__shifts = [];
new PerformanceObserver(list => {
  for (const entry of list.getEntries()) {
    if (!entry.hadRecentInput) window.__shifts.push({
      value: entry.value,
      sources: (entry.sources || []).map(s => s.node ? (s.node.className || s.node.nodeName) : '?'),
    });
  }
}).observe({type: 'layout-shift', buffered: true});
"""

# A phone browser with a share sheet: navigator.share records what it was asked to share.
SHARE_SHEET = """
window.__shared = [];
Object.defineProperty(navigator, 'share', {value: data => { window.__shared.push(data); return Promise.resolve(); }});
"""


def context_for(browser: Browser, size: str, **kw: Any) -> BrowserContext:
    context = browser.new_context(**SIZES[size], **kw)
    context.set_default_timeout(10_000)
    context.add_init_script(CLS_OBSERVER)
    return context


@pytest.fixture
def petition(live: LiveServer) -> str:
    with live.app.app_context():
        return make_petition(title=TITLE, summary=SUMMARY, body=BODY, goal=1000).slug


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserContext]:
    context = context_for(browser, "phone")
    try:
        yield context
    finally:
        context.close()


def settle(page: Page) -> list[dict[str, Any]]:
    """Wait for the page and its deferred script to be done, then the layout shifts seen since the first paint."""
    page.wait_for_load_state("load")
    page.wait_for_timeout(500)
    return page.evaluate("() => window.__shifts")


def box(page: Page, selector: str) -> dict[str, float]:
    found = page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not rendered"
    return found


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
    page.screenshot(path=str(SCREENSHOTS / f"{name}-full.png"), full_page=True)


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_the_way_to_sign_is_in_the_first_screen_and_nothing_shifts(
    live: LiveServer, browser: Browser, petition: str, size: str
) -> None:
    context = context_for(browser, size)
    try:
        page = context.new_page()
        page.goto(f"{live.url}/petitions/{petition}")
        shifts = settle(page)
        screenshot(page, f"petition-{size}")
        height = SIZES[size]["viewport"]["height"]
        assert shifts == [], f"layout shifted after the first paint: {shifts}"

        if size == "phone":
            # The way to sign, and the way to the full text, are in the first screen, below the count.
            jump = page.get_by_role("link", name="Sign this petition")
            expect(jump).to_be_visible()
            link = box(page, ".jump a.button")
            assert link["y"] + link["height"] <= height, link
            assert link["y"] > box(page, ".tally")["y"]
            assert box(page, ".jump a[href='#petition-text']")["y"] < height
            # The form comes right after the summary, before sharing and the full text.
            summary, form, share, text = (box(page, s) for s in (".intro", "section.sign", "section.share", ".body"))
            assert summary["y"] < form["y"] < share["y"] < text["y"]
            assert form["width"] > 300  # one column, the phone's width
            # The embed code is behind a disclosure, closed.
            expect(page.locator("#embed-code")).to_be_hidden()
        else:
            # The form stands beside the text, its name field in the first screen; no jump link needed.
            expect(page.locator(".jump")).to_be_hidden()
            form, text, name = box(page, "section.sign"), box(page, ".body"), box(page, "#name")
            assert form["x"] >= text["x"] + text["width"], (form, text)
            assert name["y"] + name["height"] <= height, name
            assert form["y"] < box(page, "section.share")["y"]  # sharing under the form, in its column
        assert_accessible(page, f"the petition page ({size})")
    finally:
        context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["script", "no-script"])
def test_sign_this_petition_moves_focus_to_the_name_field(
    live: LiveServer, browser: Browser, petition: str, javascript: bool
) -> None:
    context = context_for(browser, "phone", java_script_enabled=javascript)
    try:
        page = context.new_page()
        page.goto(f"{live.url}/petitions/{petition}")
        link = page.get_by_role("link", name="Sign this petition")
        expect(link).to_have_attribute("href", "#name")
        link.tap()
        expect(page.get_by_label("Your name")).to_be_focused()
        expect(page.get_by_label("Your name")).to_be_in_viewport()
        # Typing goes straight into the form.
        page.keyboard.type("Robin Reader")
        expect(page.get_by_label("Your name")).to_have_value("Robin Reader")
    finally:
        context.close()


def test_read_the_full_text_is_one_tap_away(live: LiveServer, phone: BrowserContext, petition: str) -> None:
    page = phone.new_page()
    page.goto(f"{live.url}/petitions/{petition}")
    page.get_by_role("link", name="Read the full text").tap()
    expect(page.get_by_text("Paragraph 1:")).to_be_in_viewport()


def test_phone_without_a_share_sheet_gets_the_plain_links_and_no_button(
    live: LiveServer, phone: BrowserContext, petition: str
) -> None:
    page = phone.new_page()
    page.goto(f"{live.url}/petitions/{petition}")
    settle(page)
    assert page.evaluate("() => 'share' in navigator") is False
    expect(page.locator("button.web-share")).to_be_hidden()
    share = page.locator("section.share")
    for name in ("Email", "WhatsApp", "Facebook", "X", "Bluesky", "Telegram", "LinkedIn", "Reddit"):
        expect(share.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(share.get_by_label("Share on Mastodon: your server")).to_be_visible()


def test_phone_with_a_share_sheet_gets_the_button_and_nothing_moves(
    live: LiveServer, phone: BrowserContext, petition: str
) -> None:
    phone.add_init_script(SHARE_SHEET)
    page = phone.new_page()
    page.goto(f"{live.url}/petitions/{petition}")
    page.locator("section.share").scroll_into_view_if_needed()  # the button appears while in view
    page.reload()
    page.locator("section.share").scroll_into_view_if_needed()
    shifts = settle(page)
    assert shifts == [], f"showing the share button moved the page: {shifts}"
    button = page.get_by_role("button", name="Share…")
    expect(button).to_be_visible()
    button.tap()
    assert page.evaluate("() => window.__shared") == [{"title": TITLE, "url": f"{live.url}/petitions/{petition}"}]
    # The plain links stay beside it.
    expect(page.locator("section.share").get_by_role("link", name="WhatsApp")).to_be_visible()


def test_mastodon_form_goes_to_the_readers_own_server(live: LiveServer, phone: BrowserContext, petition: str) -> None:
    page = phone.new_page()
    page.goto(f"{live.url}/petitions/{petition}")
    page.get_by_label("Share on Mastodon: your server").fill("@me@fosstodon.org")
    # The browser is sent to the reader's server (which this machine cannot reach: the request is what counts).
    with page.expect_request(lambda r: r.url.startswith("https://fosstodon.org/")) as sent:
        page.get_by_role("button", name="Share on Mastodon").tap()
    assert sent.value.url.startswith("https://fosstodon.org/share?text=Keep%20the%20Riverside"), sent.value.url
    assert sent.value.url.endswith(f"%20{live.url.replace(':', '%3A').replace('/', '%2F')}%2Fpetitions%2F{petition}")

    # A name that is not a server: the form again, the message tied to the field. (A new tab: the first
    # one is still turning the unreachable server into an error page.)
    page = phone.new_page()
    page.goto(f"{live.url}/petitions/{petition}")
    page.get_by_label("Share on Mastodon: your server").fill("http://127.0.0.1:8080/x")
    page.get_by_role("button", name="Share on Mastodon").tap()
    field = page.get_by_label("Your Mastodon server")
    expect(field).to_have_accessible_description(
        "Error: “http://127.0.0.1:8080/x” is not the name of a server. Type only its name, like mastodon.social."
    )
    assert_accessible(page, "the Mastodon form with an error")


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_check_your_email_names_the_address_and_offers_sharing(
    live: LiveServer, browser: Browser, petition: str, size: str
) -> None:
    context = context_for(browser, size)
    try:
        page = context.new_page()
        page.goto(f"{live.url}/petitions/{petition}")
        page.get_by_label("Your name").fill("Sam Signer")
        page.get_by_label("Email address").fill("sam.signer@example.org")
        page.get_by_label("Country").select_option("GB")
        page.wait_for_timeout(2000)  # a form sent faster than SIGN_MIN_SECONDS is a bot's (kept, not counted)
        with page.expect_navigation():
            page.get_by_role("button", name="Sign", exact=True).click()
        expect(page.get_by_role("heading", level=1, name="Check your email")).to_be_visible()
        expect(page.locator(".signed-address")).to_have_text("sam.signer@example.org")
        expect(page.get_by_text("It usually arrives within a minute or two.")).to_be_visible()
        expect(page.get_by_role("link", name="Sign again")).to_have_attribute("href", f"/petitions/{petition}#name")
        share = page.get_by_role("region", name="Share the petition while you wait")
        expect(share.get_by_role("link", name="WhatsApp")).to_be_visible()
        shifts = settle(page)
        assert shifts == [], shifts
        screenshot(page, f"signed-{size}")
        assert_accessible(page, f"the 'check your email' page ({size})")
    finally:
        context.close()


def test_the_poster_prints_on_one_a4_page(live: LiveServer, browser: Browser, petition: str, tmp_path: Path) -> None:
    context = context_for(browser, "desktop")
    try:
        page = context.new_page()
        page.goto(f"{live.url}/petitions/{petition}/poster")
        expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
        expect(
            page.get_by_role("img", name=f"A QR code of the petition's address: {live.url}/petitions/{petition}")
        ).to_be_visible()
        assert_accessible(page, "the poster")
        page.emulate_media(media="print")
        expect(page.locator(".site-header")).to_be_hidden()
        qr = box(page, ".poster-qr svg")
        assert qr["width"] > 250  # 80 mm at 96 px per inch is about 302 px: scannable from a step away
        pdf = tmp_path / "poster.pdf"
        page.pdf(path=str(pdf), prefer_css_page_size=True)
        data = pdf.read_bytes()
        pages = re.search(rb"/Type /Pages\s*/Count (\d+)", data) or re.search(rb"/Count (\d+)", data)
        assert pages and int(pages.group(1)) == 1, "the poster runs over one page"
        media = re.search(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", data)
        assert media and abs(float(media.group(1)) - 595.3) < 2 and abs(float(media.group(2)) - 841.9) < 2  # A4
    finally:
        context.close()
