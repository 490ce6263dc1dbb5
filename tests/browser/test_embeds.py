"""The chart and the map embedded in a page of another origin, in headless Chromium, checked by axe-core.

The press site is a page served by Python's own http.server on another port (so another origin)
with an <iframe> of the chart and an <img> of the map pointing at the live server.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from petitions.clock import utcnow
from petitions.extensions import db
from petitions.models import Petition
from petitions.signatures import confirming, signing
from tests.helpers import LiveServer, assert_accessible, make_petition

pytestmark = pytest.mark.browser

PRESS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>The Daily Example: a petition in the news</title></head>
<body><main>
<h1>A petition in the news</h1>
<p>Readers have been signing all week.</p>
{chart}
<figure><img src="{base}/petitions/{slug}/map.svg" width="480" height="266"
  alt="World map of the petition's signatures by country"><figcaption>Where signers are</figcaption></figure>
</main></body></html>
"""


@pytest.fixture
def press_site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Another origin: a static file server on its own port, serving tmp_path."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="press-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def desktop(browser: Browser, live: LiveServer) -> Iterator[BrowserContext]:
    """A desktop-sized context that may use the clipboard on the petition site; CSP bypassed only so
    that axe can be injected into the framed chart."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    context.set_default_timeout(10_000)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    try:
        yield context
    finally:
        context.close()


def sign_and_confirm(petition: Petition, email: str, country: str) -> None:
    now = utcnow()
    signature = signing.sign(petition, signing.SignatureData("A", email, country), now=now, ip=None)
    confirming.confirm(signature, now=now)


def test_the_chart_and_the_map_on_another_sites_page(
    live: LiveServer, press_site: tuple[str, Path], desktop: BrowserContext
) -> None:
    with live.app.app_context():
        petition = make_petition(goal=100, now=utcnow() - timedelta(days=2))
        for i, country in enumerate(["GB", "GB", "FR"]):
            sign_and_confirm(petition, f"s{i}@example.org", country)
        db.session.commit()
        slug, petition_id = petition.slug, petition.id
    origin, folder = press_site
    page = desktop.new_page()
    # The press copies the chart's code from the petition page and pastes it into an article.
    page.goto(f"{live.url}/petitions/{slug}")
    page.locator("details.embed summary").click()  # the embed codes are behind a disclosure
    page.get_by_role("button", name="Copy the chart's code").click()
    code = page.evaluate("() => navigator.clipboard.readText()")
    assert code.startswith(f'<iframe src="{live.url}/embed/{slug}/chart?lang=en"')
    (folder / "article.html").write_text(PRESS_PAGE.format(chart=code, base=live.url, slug=slug), encoding="utf-8")

    page.goto(f"{origin}/article.html")
    chart = page.frame_locator("iframe")
    expect(chart.locator("svg.chart path.line")).to_be_visible()
    expect(chart.locator(".summary")).to_contain_text("3 signatures from")
    # The map is drawn: the image decoded at its size.
    image = page.locator("img")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth") > 0
    assert_accessible(page, "a press page with the chart and the map")
    frame = next(f for f in page.frames if f.url.endswith(f"/embed/{slug}/chart?lang=en"))
    assert_accessible(frame, "the framed chart")  # type: ignore[arg-type]  (a Frame has what axe needs)

    # Live: a new confirmation reaches the framed chart through the count's event stream.
    with live.app.app_context():
        sign_and_confirm(db.session.get(Petition, petition_id), "late@example.org", "DE")
        db.session.commit()
    expect(chart.locator(".summary")).to_contain_text("4 signatures from", timeout=15_000)


def test_the_map_as_a_page_of_its_own_has_a_title_per_country(live: LiveServer, desktop: BrowserContext) -> None:
    with live.app.app_context():
        petition = make_petition()
        sign_and_confirm(petition, "s@example.org", "GB")
        db.session.commit()
        slug = petition.slug
    page = desktop.new_page()
    page.goto(f"{live.url}/petitions/{slug}/map.svg")
    gb = page.locator('path[data-country="GB"]')
    expect(gb).to_have_attribute("data-count", "1")
    assert gb.locator("title").text_content().endswith(": 1 signature")
    box = gb.bounding_box()
    assert box and box["width"] > 5 and box["height"] > 5  # drawn, not only present
