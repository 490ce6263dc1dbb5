"""Country names in the reader's language (CLDR's, through Babel): the signing form's list, sorted by
those names, the counts by country, and the verify page's names."""

from __future__ import annotations

import html
import json
import re

from flask import Flask

from petitions.clock import utcnow
from petitions.extensions import db
from petitions.infra.countries import countries
from petitions.signatures import confirming, signing
from tests.helpers import make_petition, sign_form


def options(page: str) -> list[tuple[str, str]]:
    select = re.search(r'<select[^>]*name="country"[^>]*>(.*?)</select>', page, re.S)
    assert select, "no country list"
    return [
        (code, html.unescape(name))
        for code, name in re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)<', select.group(1))
    ]


def test_the_signing_forms_list_is_in_the_pages_language_sorted_by_its_names(app: Flask, client) -> None:
    with app.app_context():
        slug = make_petition().slug
    german = dict(options(client.get(f"/petitions/{slug}?lang=de").text))
    assert german["GB"] == "Vereinigtes Königreich" and german["DE"] == "Deutschland"
    codes = [code for code, _ in options(client.get(f"/petitions/{slug}?lang=de").text) if code]
    # Sorted by the German names, accents aside: Österreich among the O's, not after Z.
    assert codes.index("OM") < codes.index("AT") < codes.index("PK")
    assert codes == [code for code, _ in countries("de")]
    english = dict(options(client.get(f"/petitions/{slug}?lang=en").text))
    assert english["GB"] == "United Kingdom"
    # A code is a code in any language: a signing from the German page stores it.
    assert sign_form(client, slug, country="AT").status_code == 303


def test_counts_by_country_and_the_verify_page_name_countries_in_the_readers_language(app: Flask, client) -> None:
    with app.app_context():
        petition = make_petition()
        for i, country in enumerate(("ES", "ES", "GB")):
            data = signing.SignatureData("Sam", f"s{i}@example.org", country)
            confirming.confirm(signing.sign(petition, data, now=utcnow(), ip=None), now=utcnow())
        db.session.commit()
        slug = petition.slug
    page = client.get(f"/petitions/{slug}?lang=fr").text
    # The table beside the map (templates/public/_map.html).
    assert '<th scope="row">Espagne</th><td class="num">2</td>' in page
    assert '<th scope="row">Royaume-Uni</th><td class="num">1</td>' in page
    verify = client.get(f"/petitions/{slug}/verify?lang=es").text
    match = re.search(r"data-country-names='([^']+)'", verify)
    assert match
    names = json.loads(html.unescape(match.group(1)))
    assert names["ES"] == "España" and names["GB"] == "Reino Unido"
