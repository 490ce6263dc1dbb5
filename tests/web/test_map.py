"""The world map: each country's shape carries its code and its count, as the counts by country say."""

from __future__ import annotations

import gzip
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from petitions.counting import counts
from petitions.extensions import db
from petitions.infra.countries import country_names
from petitions.models import Petition
from petitions.signatures import confirming, signing, withdrawing
from petitions.web.press import maps
from tests.helpers import make_petition

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
# GB three, France two, Malta (too small for the 1:110m shapes: a dot) one; one in the US unconfirmed,
# one in Germany withdrawn after confirming: neither counts.
SIGNERS = [("GB", True), ("GB", True), ("GB", True), ("FR", True), ("FR", True), ("MT", True), ("US", False)]


def make_signed_petition(app) -> tuple[str, dict[str, int]]:
    with app.app_context():
        petition = make_petition(title='Maps & "borders" <now>')
        for i, (country, confirm) in enumerate(SIGNERS):
            at = T0 + timedelta(minutes=i)
            s = signing.sign(petition, signing.SignatureData("A", f"s{i}@example.org", country), now=at, ip=None)
            if confirm:
                confirming.confirm(s, now=at)
        gone = signing.sign(petition, signing.SignatureData("B", "gone@example.org", "DE"), now=T0, ip=None)
        confirming.confirm(gone, now=T0)
        db.session.flush()
        withdrawing.withdraw(gone, now=T0 + timedelta(hours=1))
        db.session.commit()
        return petition.slug, counts.by_country(petition.id)


def shapes(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)  # noqa: S314 (our own output)
    return {p.get("data-country"): p for p in root.iter(f"{SVG}path")}


def test_each_countrys_count_on_the_map_is_its_count_by_country(app, client) -> None:
    slug, by_country = make_signed_petition(app)
    assert by_country == {"GB": 3, "FR": 2, "MT": 1}
    response = client.get(f"/petitions/{slug}/map.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    found = shapes(response.text)
    assert len(found) > 230
    assert {code: int(p.get("data-count")) for code, p in found.items() if p.get("data-count") != "0"} == by_country
    assert all(int(p.get("data-count")) == by_country.get(code, 0) for code, p in found.items())
    assert found["GB"].find(f"{SVG}title").text == f"{country_names()['GB']}: 3 signatures"
    assert found["MT"].find(f"{SVG}title").text == "Malta: 1 signature"
    assert found["US"].find(f"{SVG}title").text.endswith(": no signatures")
    assert len({found[c].get("class") for c in ("GB", "FR", "MT")}) == 1  # 1-9: one step
    assert found["US"].get("class") != found["GB"].get("class")
    root = ET.fromstring(response.text)  # noqa: S314
    assert root.find(f"{SVG}title").text == 'Maps & "borders" <now>: signatures by country'
    assert "6 signatures from 3 countries" in root.find(f"{SVG}desc").text


def test_the_map_is_cacheable_cors_open_and_sets_no_cookie(app, client) -> None:
    slug, _ = make_signed_petition(app)
    response = client.get(f"/petitions/{slug}/map.svg")
    assert "public" in response.headers["Cache-Control"] and "Set-Cookie" not in response.headers
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    again = client.get(f"/petitions/{slug}/map.svg", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_unknown_and_hidden_petitions_have_no_map(app, client) -> None:
    slug, _ = make_signed_petition(app)
    assert client.get("/petitions/no-such-petition/map.svg").status_code == 404
    with app.app_context():
        db.session.scalar(db.select(Petition).where(Petition.slug == slug)).status = "hidden"
        db.session.commit()
    assert client.get(f"/petitions/{slug}/map.svg").status_code == 404


def test_the_map_stays_small_with_every_country_in_the_largest_step() -> None:
    svg = maps.render("x" * 200, {code: 1_234_567 for code in country_names()}).encode()
    assert len(svg) < 150_000
    assert len(gzip.compress(svg)) < 60_000


def test_colour_steps_are_decades_up_to_the_largest_count(app) -> None:
    with app.test_request_context("/"):  # the legend's numbers and words are in the page's locale
        assert maps.classes(0) == maps.classes(9) == [1]
        assert maps.classes(10) == [1, 10]
        assert maps.classes(1_234_567) == [1, 1_000, 10_000, 100_000, 1_000_000]
        bounds = maps.classes(54_321)
        assert bounds == [1, 10, 100, 1_000, 10_000]
        assert [maps.step(bounds, n) for n in (0, 1, 9, 10, 999, 1_000, 54_321)] == [0, 1, 1, 2, 3, 4, 5]
        assert [maps.label(bounds, i) for i in (0, 4)] == ["1–9", "10,000 or more"]
        # Each step has its own colour, darker as counts grow; the legend shows them all.
        svg = maps.render("t", {"GB": 54_321, "FR": 5})
        assert all(f">{maps.label(bounds, i)}</text>" in svg for i in range(5)) and ">none</text>" in svg


def test_the_petition_page_shows_the_map_and_the_same_counts_as_a_table(app, client) -> None:
    slug, by_country = make_signed_petition(app)
    html = client.get(f"/petitions/{slug}").text
    assert f'<img src="/petitions/{slug}/map.svg?lang=en"' in html
    assert 'alt="World map of signatures by country; the table below gives the numbers."' in html
    table = re.search(r'<table class="table" id="petition-countries">(.*?)</table>', html, re.S).group(1)
    rows = re.findall(r'<th scope="row">([^<]+)</th><td class="num">([\d,]+)</td>', table)
    assert rows == [(country_names()[code], str(n)) for code, n in by_country.items()]


def test_past_ten_countries_the_rest_are_in_a_second_table(app, client) -> None:
    with app.app_context():
        petition = make_petition()
        codes = ["GB", "FR", "DE", "ES", "IT", "IE", "NL", "BE", "PT", "PL", "SE", "NO"]
        for i, country in enumerate(codes):
            s = signing.sign(petition, signing.SignatureData("A", f"s{i}@example.org", country), now=T0, ip=None)
            confirming.confirm(s, now=T0)
        db.session.commit()
        slug = petition.slug
    html = client.get(f"/petitions/{slug}").text
    assert "<summary>All 12 countries</summary>" in html
    assert len(re.findall(r'<th scope="row">', html)) == 12


def test_the_maps_words_and_numbers_are_in_the_language_of_its_url(app, client) -> None:
    slug, _ = make_signed_petition(app)
    german = client.get(f"/petitions/{slug}/map.svg?lang=de", headers={"Accept-Language": "fr"})
    found = shapes(german.text)
    assert found["MT"].find(f"{SVG}title").text == "Malta: 1 Unterschrift"
    assert found["US"].find(f"{SVG}title").text == "Vereinigte Staaten: keine Unterschriften"
    root = ET.fromstring(german.text)  # noqa: S314
    assert "6 Unterschriften aus 3 Ländern" in root.find(f"{SVG}desc").text
    # Without ?lang=, DEFAULT_LOCALE whatever the browser says: caches keep one copy per URL.
    plain = client.get(f"/petitions/{slug}/map.svg", headers={"Accept-Language": "de"})
    assert "Malta: 1 signature" in plain.text and "Accept-Language" not in plain.headers.get("Vary", "")
    assert "Set-Cookie" not in plain.headers
    assert f'<img src="/petitions/{slug}/map.svg?lang=de"' in client.get(f"/petitions/{slug}?lang=de").text
