"""The widget, badge and oEmbed in the reader's language: `?lang=` through the catalogues (the `spanish`
mark's), the widget's Accept-Language default and what it tells caches, and embed codes that name
a language."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import update

from petitions.extensions import db
from petitions.models import Petition
from tests.helpers import make_petition

pytestmark = pytest.mark.spanish


@pytest.fixture
def slug(app: Flask) -> str:
    with app.app_context():
        petition = make_petition(goal=20000)
        db.session.execute(update(Petition).where(Petition.id == petition.id).values(signature_count=12345))
        db.session.commit()
        return petition.slug


def words(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_widget_speaks_its_lang_and_tells_caches_nothing_more(client, slug) -> None:
    spanish = client.get(f"/embed/{slug}?lang=es", headers={"Accept-Language": "de"})
    assert "12.345 firmas" in words(spanish.text) and "Firmar la petición" in spanish.text
    assert '<html lang="es" dir="ltr">' in spanish.text
    assert "Accept-Language" not in spanish.headers["Vary"] and "Set-Cookie" not in spanish.headers
    english = client.get(f"/embed/{slug}?lang=en", headers={"Accept-Language": "es"})
    assert "12,345 signatures" in words(english.text) and "Accept-Language" not in english.headers["Vary"]


def test_without_lang_the_widget_follows_the_browser_and_says_it_varies(client, slug) -> None:
    spanish = client.get(f"/embed/{slug}", headers={"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"})
    assert spanish.status_code == 200 and "12.345 firmas" in words(spanish.text)
    assert "Accept-Language" in spanish.headers["Vary"] and "public" in spanish.headers["Cache-Control"]
    assert "Set-Cookie" not in spanish.headers
    again = client.get(f"/embed/{slug}", headers={"Accept-Language": "es", "If-None-Match": spanish.headers["ETag"]})
    assert again.status_code == 304 and "Accept-Language" in again.headers["Vary"]
    other = client.get(f"/embed/{slug}", headers={"Accept-Language": "ja"})  # not offered: DEFAULT_LOCALE
    assert "12,345 signatures" in words(other.text) and "Accept-Language" in other.headers["Vary"]


def test_the_widget_groups_digits_live_as_its_language_does(client, slug) -> None:
    assert 'data-group="."' in client.get(f"/embed/{slug}?lang=de").text
    assert 'data-group="\u202f"' in client.get(f"/embed/{slug}?lang=fr").text
    assert 'data-group=","' in client.get(f"/embed/{slug}?lang=en").text


def test_the_badge_takes_lang_but_never_the_browsers_language(client, slug) -> None:
    spanish = client.get(f"/petitions/{slug}/badge.svg?lang=es")
    assert ">firmas</text>" in spanish.text and ">12.345</text>" in spanish.text
    default = client.get(f"/petitions/{slug}/badge.svg", headers={"Accept-Language": "es"})
    assert ">signatures</text>" in default.text and "Accept-Language" not in default.headers["Vary"]


def test_oembed_hands_out_the_widget_in_the_language_asked_for(client, slug) -> None:
    def src(**query: str) -> str:
        doc = client.get("/oembed", query_string={"format": "json", **query}).json
        match = re.search(r'src="([^"]+)"', doc["html"])
        assert match
        return match.group(1).replace("&amp;", "&")

    page = f"http://localhost/petitions/{slug}"
    assert src(url=page, lang="es") == f"http://localhost/embed/{slug}?lang=es"
    assert src(url=f"{page}?lang=de") == f"http://localhost/embed/{slug}?lang=de"
    assert src(url=page) == f"http://localhost/embed/{slug}"  # each reader's own language
    assert src(url=page, lang="xx") == f"http://localhost/embed/{slug}"


def test_the_embed_codes_offered_name_the_pages_language(client, slug) -> None:
    page = client.get(f"/petitions/{slug}?lang=es").text
    assert f"/embed/{slug}?lang=es" in page
    assert "<code>lang=</code>" in page and "en, es, fr, de" in page
    press = client.get("/api?lang=de").text
    assert "/embed/SLUG?theme=light&amp;amp;lang=de" in press
