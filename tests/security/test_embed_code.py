"""Code handed to press sites to paste: whatever a petition's title holds, it is one element, nothing more.

An attacker's title like `Stop it"><img src=x onerror=...>` must stay a title once the embed
code is copied from the petition page (or taken from oEmbed) and pasted into someone else's
article. Each snippet is parsed as the paste would be, with Python's HTML parser here and with
Chromium's in the browser test, which presses the real "Copy embed code" button.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, expect

from petitions.web.press.snippets import iframe
from tests.helpers import LiveServer, free_port, make_petition, make_user

PAYLOADS = [line for line in (Path(__file__).parent / "xss_payloads.txt").read_text().splitlines() if line.strip()]
ISSUE_TITLE = 'Stop it"><img src=x onerror=alert(document.domain)>'
TITLES = [ISSUE_TITLE, *(f"T{i} {payload}"[:150] for i, payload in enumerate(PAYLOADS))]
IFRAME_ATTRIBUTES = {"src", "width", "height", "title", "style", "loading"}


class Snippet(HTMLParser):
    """Everything a piece of pasted HTML makes: its elements with their attributes, its end tags, its text."""

    def __init__(self, code: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.ends: list[str] = []
        self.text = ""
        self.feed(code)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        self.ends.append(tag)

    def handle_data(self, data: str) -> None:
        self.text += data


def the_one_iframe(code: str) -> dict[str, str | None]:
    """The attributes of the single <iframe> the code is; fails if the code is anything else."""
    snippet = Snippet(code)
    assert [tag for tag, _ in snippet.elements] == ["iframe"], f"the code makes {snippet.elements}: {code!r}"
    assert snippet.ends == ["iframe"] and snippet.text == "", code
    attrs = snippet.elements[0][1]
    assert set(attrs) <= IFRAME_ATTRIBUTES, attrs  # no event handler, nothing else smuggled in
    return attrs


class TextareaText(HTMLParser):
    """The decoded text of one <textarea> of a page: what a browser holds as its value."""

    def __init__(self, page: str, element_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.element_id = element_id
        self.inside = False
        self.found = 0
        self.value = ""
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "textarea" and dict(attrs).get("id") == self.element_id:
            self.inside, self.found = True, self.found + 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self.inside = False

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.value += data


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def hostile(app: Flask) -> list[tuple[str, str]]:
    """(slug, title) of one open petition per hostile title."""
    with app.app_context():
        owner = make_user("casey@example.org")
        return [(p.slug, p.title) for p in (make_petition(owner, title=title) for title in TITLES)]


# --- the one function every snippet comes from ---------------------------------------------


@pytest.mark.parametrize(
    "text", [ISSUE_TITLE, *PAYLOADS, "Fish &amp; chips", 'It\'s "ours"', "Line\nbreak\tand\r\nmore"]
)
def test_an_iframe_is_one_element_whatever_its_title_and_source_hold(text: str) -> None:
    attrs = the_one_iframe(iframe(f"https://petitions.example.org/embed/x?{text}", text))
    assert attrs["title"] == one_line(text)  # the title comes back as typed, literally
    assert attrs["src"] == one_line(f"https://petitions.example.org/embed/x?{text}")
    assert (attrs["width"], attrs["height"]) == ("400", "200")


# --- where the site hands it out ------------------------------------------------------------


def test_the_petition_pages_embed_code_is_one_iframe_whatever_the_title(client, hostile) -> None:
    for slug, title in hostile:
        page = client.get(f"/petitions/{slug}")
        assert page.status_code == 200
        box = TextareaText(page.text, "embed-code")
        assert box.found == 1, f"no embed box on {slug}"
        attrs = the_one_iframe(box.value)  # what the textarea holds is what "Copy embed code" copies
        assert attrs["src"] == f"http://localhost/embed/{slug}?lang=en"  # the page's language
        assert attrs["title"] == one_line(title)


def test_oembed_html_is_one_iframe_whatever_the_title(client, hostile) -> None:
    for slug, title in hostile:
        for query in ({}, {"maxwidth": "300", "maxheight": "150"}):
            response = client.get("/oembed", query_string={"url": f"http://localhost/petitions/{slug}", **query})
            assert response.status_code == 200, response.text
            doc = response.json
            attrs = the_one_iframe(doc["html"])
            assert attrs["src"] == f"http://localhost/embed/{slug}"
            assert attrs["title"] == one_line(title)
            assert (attrs["width"], attrs["height"]) == (str(doc["width"]), str(doc["height"]))
            assert doc["title"] == title  # JSON carries the plain title; its consumers escape it


def test_the_press_pages_example_is_one_iframe(client) -> None:
    class Codes(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.codes: list[str] = []
            self.inside = False

        def handle_starttag(self, tag, attrs) -> None:
            if tag == "code":
                self.inside = True
                self.codes.append("")

        def handle_endtag(self, tag) -> None:
            self.inside = self.inside and tag != "code"

        def handle_data(self, data) -> None:
            if self.inside:
                self.codes[-1] += data

    parser = Codes()
    parser.feed(client.get("/api").text)
    widget, chart = [code for code in parser.codes if code.startswith("<iframe")]
    assert the_one_iframe(widget)["src"] == "http://localhost/embed/SLUG?theme=light&lang=en"
    assert the_one_iframe(chart)["src"] == "http://localhost/embed/SLUG/chart?lang=en"


# --- in a real browser: press the button, paste into another site -------------------------


@pytest.fixture
def press_site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A news site on another origin serving whatever article the test writes into its folder."""
    folder = tmp_path / "news"
    folder.mkdir()

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args):
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}", folder
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def desktop(browser: Browser, live: LiveServer) -> Iterator[BrowserContext]:
    """A browser context that may use the clipboard on the petition site."""
    context = browser.new_context()
    context.set_default_timeout(10_000)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    try:
        yield context
    finally:
        context.close()


BROWSER_TITLES = [
    'Stop it"><img src=x onerror=window.__xss=1>',
    "'><img src=x onerror=window.__xss=1>",
    "</textarea><script>window.__xss=1</script>",
    "&quot;><svg onload=window.__xss=1> &amp; more",
]


@pytest.mark.browser
def test_copy_embed_code_copies_one_iframe_that_runs_nothing_where_it_is_pasted(
    live: LiveServer, desktop: BrowserContext, press_site: tuple[str, Path]
) -> None:
    with live.app.app_context():
        owner = make_user("casey@example.org")
        petitions = [(p.slug, p.title) for p in (make_petition(owner, title=t) for t in BROWSER_TITLES)]
    news_url, news_folder = press_site
    page = desktop.new_page()
    for slug, title in petitions:
        page.goto(f"{live.url}/petitions/{slug}")
        page.evaluate("() => navigator.clipboard.writeText('')")
        page.locator("details.embed summary").click()  # the embed code is behind a disclosure
        page.get_by_role("button", name="Copy embed code").click()
        expect(page.locator(".share .copied")).to_have_text("Copied.")
        copied = page.evaluate("() => navigator.clipboard.readText()")
        assert copied == page.locator("#embed-code").input_value()

        # Python's parser: one iframe, the title kept as a title.
        attrs = the_one_iframe(copied)
        assert attrs["src"] == f"{live.url}/embed/{slug}?lang=en" and attrs["title"] == one_line(title)

        # Chromium's parser, in an article of another site that pastes the code as it is.
        article = news_folder / f"{slug}.html"
        article.write_text(f"<!doctype html><html lang=en><head><title>News</title></head><body>{copied}</body></html>")
        news = desktop.new_page()
        try:
            news.goto(f"{news_url}/{article.name}")
            pasted = news.evaluate(
                """() => Array.from(document.body.querySelectorAll('*')).map(e => ({
                    tag: e.tagName, attrs: e.getAttributeNames(), title: e.getAttribute('title'),
                }))"""
            )
            assert [e["tag"] for e in pasted] == ["IFRAME"], pasted
            assert set(pasted[0]["attrs"]) <= IFRAME_ATTRIBUTES and pasted[0]["title"] == one_line(title)
            assert news.evaluate("() => document.body.textContent.trim()") == ""
            count = news.frame_locator("iframe").locator("#count")
            expect(count).to_have_text("0")  # the widget itself works where it is pasted
            assert news.evaluate("() => window.__xss") is None, json.dumps(pasted)
        finally:
            news.close()
