"""Sharing without trackers: the share links, Mastodon on the reader's server, the QR code, the poster.

Also the page after signing, which names the address the signer typed, to that signer only.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
import segno

from petitions.extensions import db
from petitions.models import Petition, Signature
from tests.helpers import make_petition, sign_form

AWKWARD_TITLE = 'Say "no" to fees & charges: ¿por qué? Ünïcødé — 100% <now>'


class Anchors(HTMLParser):
    """Every <a>'s href by its class, and every tag that loads something from elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: dict[str, str] = {}
        self.loads: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "a":
            for cls in values.get("class", "").split():
                if cls.startswith("share-"):
                    self.hrefs[cls.removeprefix("share-")] = values["href"]
        for attribute in ("src", "srcset"):
            if attribute in values:
                self.loads.append((tag, values[attribute]))
        if tag == "link" and values.get("rel") in ("stylesheet", "preload", "prefetch"):
            self.loads.append((tag, values.get("href", "")))


def share_hrefs(html: str) -> Anchors:
    parser = Anchors()
    parser.feed(html)
    return parser


@pytest.fixture
def awkward(app) -> str:
    with app.app_context():
        return make_petition(title=AWKWARD_TITLE).slug


def query(url: str) -> dict[str, str]:
    values = parse_qs(urlsplit(url).query, strict_parsing=True)
    assert all(len(v) == 1 for v in values.values()), url
    return {k: v[0] for k, v in values.items()}


def test_share_links_are_plain_urls_with_the_title_and_address_escaped(app, client, awkward) -> None:
    page = client.get(f"/petitions/{awkward}")
    assert page.status_code == 200
    found = share_hrefs(page.text)
    url = f"http://localhost/petitions/{awkward}"
    text = f"{AWKWARD_TITLE} {url}"
    assert set(found.hrefs) == {"email", "whatsapp", "facebook", "x", "bluesky", "telegram", "linkedin", "reddit"}

    def at(key: str) -> tuple[str, dict[str, str]]:
        href = found.hrefs[key]
        parts = urlsplit(href)
        return f"{parts.scheme}://{parts.netloc}{parts.path}", query(href)

    assert at("whatsapp") == ("https://wa.me/", {"text": text})
    assert at("facebook") == ("https://www.facebook.com/sharer/sharer.php", {"u": url})
    assert at("x") == ("https://x.com/intent/tweet", {"text": AWKWARD_TITLE, "url": url})
    assert at("bluesky") == ("https://bsky.app/intent/compose", {"text": text})
    assert at("telegram") == ("https://t.me/share/url", {"url": url, "text": AWKWARD_TITLE})
    assert at("linkedin") == ("https://www.linkedin.com/sharing/share-offsite/", {"url": url})
    assert at("reddit") == ("https://www.reddit.com/submit", {"url": url, "title": AWKWARD_TITLE})
    mail = found.hrefs["email"]
    assert mail.startswith("mailto:?")
    # RFC 6068: spaces as %20 (a "+" would reach the mail program as a plus sign), nothing left unescaped.
    assert "+" not in mail and " " not in mail and '"' not in mail and "<" not in mail
    assert query(mail.replace("mailto:", "x:", 1)) == {"subject": AWKWARD_TITLE, "body": f"{AWKWARD_TITLE}\n\n{url}"}
    for href in found.hrefs.values():
        assert re.fullmatch(r"[A-Za-z0-9:/?&=%._~-]+", href), href  # nothing but escaped ASCII

    # No third-party script, pixel or image: everything the page loads comes from this site.
    assert found.loads and all(src.startswith("/") for _, src in found.loads), found.loads


def test_the_page_after_signing_offers_the_same_share_links(app, client, awkward) -> None:
    answer = sign_form(client, awkward, email="sam@example.org")
    assert answer.status_code == 303
    page = client.get(answer.headers["Location"])
    petition_page = client.get(f"/petitions/{awkward}")
    assert share_hrefs(page.text).hrefs == share_hrefs(petition_page.text).hrefs
    assert 'action="/petitions/' + awkward + '/share/mastodon"' in page.text


@pytest.mark.parametrize(
    ("typed", "host"),
    [
        ("mastodon.social", "mastodon.social"),
        ("  Mastodon.Social/ ", "mastodon.social"),
        ("https://fosstodon.org", "fosstodon.org"),
        ("https://mastodon.online/@someone", "mastodon.online"),
        ("@someone@social.example.org", "social.example.org"),
        ("someone@hachyderm.io", "hachyderm.io"),
        ("mästodon.de", "xn--mstodon-5wa.de"),
    ],
)
def test_mastodon_redirects_to_the_share_page_of_the_server_named(app, client, awkward, typed, host) -> None:
    answer = client.get(f"/petitions/{awkward}/share/mastodon", query_string={"instance": typed})
    assert answer.status_code == 303
    location = answer.headers["Location"]
    parts = urlsplit(location)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", host, "/share")
    assert query(location) == {"text": f"{AWKWARD_TITLE} http://localhost/petitions/{awkward}"}


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "localhost",
        "127.0.0.1",
        "[::1]",
        "mastodon.social:8443",
        "javascript:alert(1)",
        "evil.example.org\\@mastodon.social",
        "mastodon.social?next=https://evil.example.org",
        "mastodon.social#x",
        "//evil.example.org",
        "mastodon..social",
        "-bad.example.org",
        "a" * 64 + ".example.org",
        "mastodon social",
        "<script>alert(1)</script>",
        "mastodon.social\r\nLocation: https://evil.example.org",
    ],
)
def test_mastodon_refuses_anything_but_a_host_name_with_a_clear_message(app, client, awkward, typed) -> None:
    answer = client.get(f"/petitions/{awkward}/share/mastodon", query_string={"instance": typed})
    assert answer.status_code == 400
    assert "Location" not in answer.headers
    text = answer.text
    if typed.strip():
        assert "is not the name of a server. Type only its name, like mastodon.social." in text
    else:
        assert "Type the name of your Mastodon server, like mastodon.social." in text
    assert "<script>alert(1)</script>" not in text  # what was typed comes back escaped
    assert 'aria-invalid="true"' in text and 'id="mastodon-instance"' in text  # the form again, to correct


def test_mastodon_for_a_petition_that_does_not_exist_is_404(app, client) -> None:
    assert client.get("/petitions/nope/share/mastodon?instance=mastodon.social").status_code == 404


def modules_of(svg: str) -> list[list[bool]]:
    """The dark modules of a segno SVG (one path of horizontal runs: M/m moves, h draws), as a matrix."""
    path = re.search(r' d="([^"]+)"', svg)
    assert path, svg[:200]
    size = re.search(r'width="(\d+)"', svg)
    scale = re.search(r'transform="scale\((\d+)\)"', svg)
    assert size and scale
    n = int(size.group(1)) // int(scale.group(1))
    matrix = [[False] * n for _ in range(n)]
    x = y = 0.0
    for op, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path.group(1)):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:
            for col in range(int(x), int(x + float(a))):
                matrix[int(y)][col] = True
            x += float(a)
    return matrix


def test_qr_svg_encodes_the_petition_address_and_is_cacheable(app, client, awkward) -> None:
    answer = client.get(f"/petitions/{awkward}/qr.svg")
    assert answer.status_code == 200 and answer.mimetype == "image/svg+xml"
    assert "public" in answer.headers["Cache-Control"] and "max-age=86400" in answer.headers["Cache-Control"]
    assert answer.headers["Access-Control-Allow-Origin"] == "*" and "Set-Cookie" not in answer.headers
    svg = answer.text
    url = f"http://localhost/petitions/{awkward}"
    assert f"<title>{url}</title>" in svg
    # The drawn modules are exactly segno's matrix of the petition's address with a 4-module quiet zone.
    expected = segno.make(url, error="m")
    assert modules_of(svg) == [[bool(v) for v in row] for row in expected.matrix_iter(scale=1, border=4)]
    again = client.get(f"/petitions/{awkward}/qr.svg", headers={"If-None-Match": answer.headers["ETag"]})
    assert again.status_code == 304


def test_qr_and_poster_only_for_public_petitions(app, client, awkward) -> None:
    assert client.get("/petitions/nope/qr.svg").status_code == 404
    assert client.get("/petitions/nope/poster").status_code == 404
    with app.app_context():
        petition = db.session.scalar(db.select(Petition).where(Petition.slug == awkward))
        petition.status = "hidden"
        db.session.commit()
    assert client.get(f"/petitions/{awkward}/qr.svg").status_code == 404
    assert client.get(f"/petitions/{awkward}/poster").status_code == 404


def test_the_poster_has_the_title_target_summary_qr_code_and_address(app, client) -> None:
    with app.app_context():
        slug = make_petition(title=AWKWARD_TITLE, target="The <Council> & Mayor", summary="Fees hurt & divide.").slug
    page = client.get(f"/petitions/{slug}/poster")
    assert page.status_code == 200
    html = page.text
    url = f"http://localhost/petitions/{slug}"
    assert "<h1>Say &#34;no&#34; to fees &amp; charges: ¿por qué? Ünïcødé — 100% &lt;now&gt;</h1>" in html
    assert "The &lt;Council&gt; &amp; Mayor" in html and "Fees hurt &amp; divide." in html
    assert f'<span class="poster-url">{url}</span>' in html
    svg = re.search(r"<svg [^>]*>.*?</svg>", html, re.S)
    assert (
        svg
        and 'role="img"' in svg.group(0)
        and f'aria-label="A QR code of the petition&#39;s address: {url}"' in (svg.group(0))
    )
    assert 'viewBox="0 0 ' in svg.group(0)  # scalable: the print stylesheet sizes it for A4
    assert 'href="/static/css/poster.css"' in html


# --- the page after signing ------------------------------------------------------------------


def test_check_your_email_names_the_address_to_its_signer_only(app, client, awkward) -> None:
    answer = sign_form(client, awkward, email="Sam.Signer+petitions@example.org")
    page = client.get(answer.headers["Location"])
    assert page.status_code == 200
    assert '<strong class="signed-address">Sam.Signer+petitions@example.org</strong>' in page.text
    assert "It usually arrives within a minute or two." in page.text
    assert "spam or junk folder" in page.text and "Sign again</a> with the same address" in page.text
    assert page.headers["Cache-Control"] == "private, no-store"
    # Anyone else (another browser, a cache) sees the page without any address.
    other = app.test_client().get(answer.headers["Location"])
    assert "Sam.Signer" not in other.text and "signed-address" not in other.text
    assert "We have sent you an email with a link." in other.text
    # The same browser on another petition's page is not told this address either.
    with app.app_context():
        second = make_petition(title="Another one").slug
    assert "Sam.Signer" not in client.get(f"/petitions/{second}/signed").text
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Signature)) == 1


def test_check_your_email_forgets_the_address_after_an_hour(app, client, awkward) -> None:
    answer = sign_form(client, awkward, email="sam@example.org")
    assert "sam@example.org" in client.get(answer.headers["Location"]).text
    with client.session_transaction() as session:  # the signing was made an hour and a minute ago
        session["signed"] = {**session["signed"], "at": session["signed"]["at"] - 3660}
    page = client.get(answer.headers["Location"])
    assert "sam@example.org" not in page.text and "We have sent you an email with a link." in page.text
    with client.session_transaction() as session:
        assert "signed" not in session
