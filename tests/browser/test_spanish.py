"""In Spanish, end to end in Chromium: the footer's switcher, a signing, and the confirmation email.

The words are read from the shipped Spanish catalogue (petitions/translations/es) when the test
runs, never written here: the test holds whatever the translators wrote, and fails if a page or
the email does not go through the catalogue (or through the Spanish one).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from babel.support import Translations
from playwright.sync_api import Browser, BrowserContext, expect
from sqlalchemy import select

from petitions.extensions import db
from petitions.models import Signature
from tests.helpers import PHONE, ROOT, LiveServer, Mailbox, assert_accessible, deliver, make_petition

pytestmark = pytest.mark.browser

SIGNER = "ana@example.org"


@pytest.fixture
def es() -> Translations:
    """The compiled Spanish catalogue the site reads."""
    return Translations.load(str(ROOT / "petitions" / "translations"), ["es"])


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(**PHONE)
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        context.close()


def test_switch_to_spanish_sign_and_get_the_confirmation_in_spanish(
    live: LiveServer, phone: BrowserContext, mailbox: Mailbox, es: Translations
) -> None:
    with live.app.app_context():
        petition = make_petition(goal=100)
        slug, title = petition.slug, petition.title
    page = phone.new_page()
    page.goto(f"{live.url}/petitions/{slug}")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    # The footer names each language in itself.
    with page.expect_navigation():
        page.locator("footer").get_by_role("link", name="Español").click()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("footer").get_by_role("link", name="Español")).to_have_attribute("aria-current", "true")
    assert_accessible(page, "the petition page in Spanish")

    page.get_by_label(es.gettext("Your name")).fill("Ana Firmante")
    page.get_by_label(es.gettext("Email address")).fill(SIGNER)
    country = page.get_by_label(es.gettext("Country"))
    country.select_option("ES")
    expect(country.locator("option:checked")).to_have_text("España")  # CLDR's name, whatever the catalogue
    with page.expect_navigation():
        page.get_by_role("button", name=es.gettext("Sign"), exact=True).tap()
    expect(page).to_have_url(f"{live.url}/petitions/{slug}/signed")
    expect(page.get_by_role("heading", level=1, name=es.gettext("Check your email"))).to_be_visible()
    assert_accessible(page, "the 'check your email' page in Spanish")

    with live.app.app_context():
        assert db.session.scalar(select(Signature.locale).where(Signature.email == SIGNER)) == "es"
    assert deliver(live.app) == (1, 0)
    (message,) = mailbox.to(SIGNER)
    assert message["Subject"] == es.gettext("Please confirm your signature: %(title)s") % {"title": title}
