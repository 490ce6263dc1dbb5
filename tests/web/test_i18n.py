"""The language of a page: ?lang= and its cookie, the account's setting, Accept-Language, the default;
<html lang> and dir, the switcher, numbers in the reader's locale, and what caches are told."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from sqlalchemy import update

from petitions.extensions import db
from petitions.models import Petition, User
from tests.helpers import login, make_app, make_petition, make_user


def html_lang(text: str) -> tuple[str, str]:
    match = re.search(r'<html lang="([^"]+)" dir="([^"]+)">', text)
    assert match, "no <html lang dir>"
    return match.group(1), match.group(2)


@pytest.fixture
def slug(ctx) -> str:
    """A petition with 12,345 signatures counted (set directly: these tests are about how numbers read)."""
    petition = make_petition(goal=20000)
    db.session.execute(update(Petition).where(Petition.id == petition.id).values(signature_count=12345))
    db.session.commit()
    return petition.slug


def count_on_page(text: str) -> str:
    match = re.search(r'<strong id="signature-count" data-count="12345">([^<]+)</strong>', text)
    assert match, "no count on the page"
    return match.group(1)


def test_english_by_default(client, slug) -> None:
    page = client.get(f"/petitions/{slug}")
    assert html_lang(page.text) == ("en", "ltr")
    assert count_on_page(page.text) == "12,345"
    assert "Accept-Language" in page.headers["Vary"] and "Cookie" in page.headers["Vary"]
    assert "lang=" not in page.headers.get("Set-Cookie", "")


def test_lang_in_the_address_is_remembered_in_a_cookie(client, slug) -> None:
    page = client.get(f"/petitions/{slug}?lang=de")
    assert html_lang(page.text) == ("de", "ltr")
    assert count_on_page(page.text) == "12.345"
    cookie = page.headers["Set-Cookie"]
    assert cookie.startswith("lang=de;") and "SameSite=Lax" in cookie
    # The next page, with no ?lang=, keeps German, over the browser's own wish.
    again = client.get("/", headers={"Accept-Language": "fr"})
    assert html_lang(again.text) == ("de", "ltr")
    assert "lang=" not in again.headers.get("Set-Cookie", "")


def test_an_unknown_language_is_ignored(client, slug) -> None:
    for value in ("xx", "../../etc", "EN;DROP", "ar"):
        page = client.get(f"/petitions/{slug}", query_string={"lang": value})
        assert page.status_code == 200
        assert html_lang(page.text) == ("en", "ltr")
        assert "lang=" not in page.headers.get("Set-Cookie", "")
    client.set_cookie("lang", "klingon")
    assert html_lang(client.get("/").text) == ("en", "ltr")


def test_the_browser_language_decides_otherwise(client, slug) -> None:
    page = client.get(f"/petitions/{slug}", headers={"Accept-Language": "fr-CH, fr;q=0.9, en;q=0.5"})
    assert html_lang(page.text) == ("fr", "ltr")
    assert count_on_page(page.text) == "12\u202f345"
    assert html_lang(client.get("/", headers={"Accept-Language": "ja, zh"}).text) == ("en", "ltr")


def test_the_footer_switcher_names_each_language_in_itself(client, slug) -> None:
    page = client.get(f"/petitions/{slug}?lang=fr").text
    footer = page[page.index('<footer class="site-footer') :]
    links = re.findall(r'<a href="([^"]+)" lang="([^"]+)" hreflang="[^"]+"( aria-current="true")?>([^<]+)</a>', footer)
    assert [(lang, name) for _, lang, _, name in links] == [
        ("en", "English"),
        ("es", "Español"),
        ("fr", "Français"),
        ("de", "Deutsch"),
    ]
    assert [lang for _, lang, current, _ in links if current] == ["fr"]
    assert links[3][0] == f"/petitions/{slug}?lang=de"


def test_the_account_setting(app, client) -> None:
    with app.app_context():
        user_id = make_user().id
    login(client)
    settings = client.get("/account/settings").text
    assert '<select id="language-locale" name="language-locale">' in settings
    token = re.search(r'name="language-csrf_token" type="hidden" value="([^"]+)"', settings).group(1)
    refused = client.post("/account/language", data={"language-locale": "xx", "language-csrf_token": token})
    assert refused.status_code == 422 and "Not a valid choice" in refused.text
    saved = client.post("/account/language", data={"language-locale": "de", "language-csrf_token": token})
    assert saved.status_code == 303 and saved.headers["Set-Cookie"].startswith("lang=de;")
    with app.app_context():
        assert db.session.get(User, user_id).locale == "de"
    # The account's choice comes before the browser's, also without the cookie.
    client.delete_cookie("lang")
    assert html_lang(client.get("/", headers={"Accept-Language": "fr"}).text) == ("de", "ltr")
    # Back to the browser's language: the setting and the cookie both go.
    token = re.search(r'name="language-csrf_token" type="hidden" value="([^"]+)"', client.get("/account/settings").text)
    reset = client.post("/account/language", data={"language-locale": "", "language-csrf_token": token.group(1)})
    assert "lang=;" in reset.headers["Set-Cookie"]
    with app.app_context():
        assert db.session.get(User, user_id).locale is None
    assert html_lang(client.get("/", headers={"Accept-Language": "fr"}).text) == ("fr", "ltr")


def test_right_to_left_languages(database_url, smtp_server, tmp_path) -> None:
    app = make_app(database_url, smtp_server, tmp_path, LANGUAGES="en,ar,he")
    client = app.test_client()
    assert html_lang(client.get("/?lang=ar").text) == ("ar", "rtl")
    assert html_lang(client.get("/?lang=he").text) == ("he", "rtl")
    assert html_lang(client.get("/?lang=en").text) == ("en", "ltr")
    with app.app_context():
        db.engine.dispose()


def test_a_page_in_a_translated_language(database_url, smtp_server, tmp_path: Path) -> None:
    """The wiring from a catalogue to the page, with a catalogue of two messages made here."""
    catalog = Catalog(locale="es")
    catalog.add("Sign", "Firmar")
    catalog.add(("signature", "signatures"), ("firma", "firmas", "firmas"))  # CLDR: one, many, other
    folder = tmp_path / "translations" / "es" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with open(folder / "messages.mo", "wb") as out:
        write_mo(out, catalog)
    app = make_app(database_url, smtp_server, tmp_path, BABEL_TRANSLATION_DIRECTORIES=str(tmp_path / "translations"))
    with app.app_context():
        slug = make_petition().slug
    client = app.test_client()
    page = client.get(f"/petitions/{slug}?lang=es").text
    assert '<button type="submit" class="primary">Firmar</button>' in page
    assert re.search(r"</strong>\s+firmas\s+<span", page)
    assert '<button type="submit" class="primary">Sign</button>' in client.get(f"/petitions/{slug}?lang=en").text
    with app.app_context():
        db.engine.dispose()


def test_shared_answers_take_their_language_from_the_address_only(client, slug) -> None:
    """The badge, widget and count are kept by caches keyed on the URL: no cookie, no Accept-Language."""
    client.get("/?lang=de")  # the browser now holds lang=de
    badge = client.get(f"/petitions/{slug}/badge.svg", headers={"Accept-Language": "fr"})
    assert ">12,345</text>" in badge.text and ">signatures</text>" in badge.text
    assert "Accept-Language" not in badge.headers.get("Vary", "") and "Set-Cookie" not in badge.headers
    widget = client.get(f"/embed/{slug}?lang=de", headers={"Accept-Language": "fr"})
    assert '<strong id="count">12.345</strong>' in widget.text
    assert "Accept-Language" not in widget.headers.get("Vary", "") and "Set-Cookie" not in widget.headers
    french = client.get(f"/embed/{slug}?lang=fr")
    assert '<strong id="count">12\u202f345</strong>' in french.text


def test_the_badge_speaks_the_site_default(database_url, smtp_server, tmp_path) -> None:
    app = make_app(database_url, smtp_server, tmp_path, LANGUAGES="en,de", DEFAULT_LOCALE="de")
    with app.app_context():
        petition = make_petition()
        db.session.execute(update(Petition).where(Petition.id == petition.id).values(signature_count=12345))
        db.session.commit()
        slug = petition.slug
    client = app.test_client()
    assert ">12.345</text>" in client.get(f"/petitions/{slug}/badge.svg", headers={"Accept-Language": "en"}).text
    assert html_lang(client.get("/").text) == ("de", "ltr")
    with app.app_context():
        db.engine.dispose()
