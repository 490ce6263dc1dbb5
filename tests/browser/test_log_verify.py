"""The verify page in headless Chromium against the live server and a log the site's worker really sequenced.

Signatures are made and confirmed through the site's pages, the sequencer appends them, and the
page then downloads the log, checks it with static/verify.js and shows the count: it must be the
petition's own. A receipt in the fragment, with the signer's address typed in, must match; another
address must not. The check runs under the site's real CSP (scripts from files only).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Route, expect
from sqlalchemy import select, update

from petitions.extensions import db
from petitions.models import Petition, Signature
from petitions.transparency import sequencer
from tests.helpers import PHONE, LiveServer, assert_accessible, csrf_from, deliver, link_in, make_petition, sign_form

pytestmark = pytest.mark.browser

SIGNERS = [("ada@example.org", "GB"), ("bob@example.org", "FR"), ("cy@example.org", "GB")]


@pytest.fixture
def desktop(browser: Browser) -> Iterator[BrowserContext]:
    """A browser context that keeps the site's CSP (no bypass): a script the CSP refused would fail the test."""
    context = browser.new_context()
    context.set_default_timeout(20_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(**PHONE)
    context.set_default_timeout(20_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def logged(live: LiveServer, mailbox) -> tuple[str, int]:
    """A petition whose three confirmed signatures are in its log; its slug and count."""
    app = live.app
    app.config["RATELIMIT_SIGN_PER_PETITION"] = "100 per minute"  # every signer here comes from 127.0.0.1
    with app.app_context():
        slug = make_petition(title="Count us fairly").slug
    client: FlaskClient = app.test_client()
    for address, country in SIGNERS:
        assert sign_form(client, slug, email=address, country=country).status_code == 303
    deliver(app)
    for address, _ in SIGNERS:
        path = link_in(mailbox.to(address)[-1], "/verify/").removeprefix(live.url)
        page = client.get(path)
        assert client.post(path, data={"csrf_token": csrf_from(page.text)}).status_code == 303
    with app.app_context():
        sequencer.sequence_all()
        count = db.session.scalar(select(Petition.signature_count).where(Petition.slug == slug))
    assert count == len(SIGNERS)
    return slug, count


def receipt_of(live: LiveServer, address: str) -> tuple[int, str]:
    with live.app.app_context():
        entry, nonce = db.session.execute(
            select(Signature.log_entry, Signature.log_nonce).where(Signature.email == address)
        ).one()
        return entry, nonce


def watch(page: Page) -> list[str]:
    """Errors the page meets: uncaught exceptions, and console errors (where a CSP refusal shows)."""
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: problems.append(f"{msg.text} {msg.location.get('url')}") if refused(msg) else None)
    return problems


def refused(msg: ConsoleMessage) -> bool:
    """A console error other than the site's missing favicon (which Chromium asks for by itself)."""
    return msg.type == "error" and not str(msg.location.get("url", "")).endswith("/favicon.ico")


def verified(page: Page, count: int) -> None:
    expect(page.locator(".verified")).to_have_text(f"Count verified: {count}")


def test_the_page_verifies_the_sites_own_log(
    live: LiveServer, logged: tuple[str, int], desktop: BrowserContext
) -> None:
    slug, count = logged
    page = desktop.new_page()
    problems = watch(page)
    page.goto(f"{live.url}/petitions/{slug}/verify")
    verified(page, count)
    expect(page.locator("#verified-compare")).to_have_text("This is the count the site shows.")
    expect(page.locator("#verified-detail")).to_contain_text("The checkpoint's signature by the site's key is valid.")
    expect(page.locator("#verified-countries table")).to_contain_text("France (FR)")
    rows = page.locator("#verified-countries tbody tr").all_inner_texts()
    assert rows == ["France (FR)\t1", "United Kingdom (GB)\t2"]
    expect(page.get_by_role("status").filter(has_text="Done")).to_have_text("Done: the log checks out.")
    expect(page.locator("#verify-failure")).to_be_hidden()
    # Pressing the button checks it all again.
    page.get_by_role("button", name="Verify again").click()
    verified(page, count)
    assert problems == []


def test_a_receipt_in_the_fragment_matches_the_signers_address_only(
    live: LiveServer, logged: tuple[str, int], desktop: BrowserContext
) -> None:
    slug, _ = logged
    entry, nonce = receipt_of(live, "bob@example.org")
    page = desktop.new_page()
    problems = watch(page)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url + " " + (request.post_data or "")))
    page.goto(f"{live.url}/petitions/{slug}/verify#entry={entry}&nonce={nonce}")
    result = page.locator("#receipt-result")
    # Without the address, the entry is proven included, and the page asks for the address.
    expect(result).to_contain_text(f"Entry {entry} is included in the signed log of 3 entries")
    expect(result).to_contain_text(f"Type your email address to check that entry {entry} is yours.")
    expect(page.get_by_label("Entry number")).to_have_value(str(entry))
    expect(page.get_by_label("Nonce")).to_have_value(nonce)

    page.get_by_label("Your email address").fill(" Bob@Example.org ")
    page.get_by_role("button", name="Check my signature").click()
    expect(result).to_contain_text(f"It matches your email address and nonce: entry {entry} is your signature.")
    expect(result).to_contain_text(f"Entry {entry} counts.")

    page.get_by_label("Your email address").fill("ada@example.org")
    page.get_by_label("Your email address").press("Enter")
    expect(result).to_contain_text("It does not match")
    expect(result).not_to_contain_text("matches")

    # The address went nowhere: no request carried it, in its URL or its body.
    assert not [r for r in requests if "example.org" in r.lower()]
    assert problems == []


def test_a_nonce_alone_finds_the_entry(live: LiveServer, logged: tuple[str, int], desktop: BrowserContext) -> None:
    """The receipt on the page after confirming has no entry yet: the address and nonce find it."""
    slug, _ = logged
    entry, nonce = receipt_of(live, "cy@example.org")
    page = desktop.new_page()
    page.goto(f"{live.url}/petitions/{slug}/verify#nonce={nonce}")
    result = page.locator("#receipt-result")
    expect(result).to_contain_text("Type your email address: this page finds your entry from it and the nonce.")
    page.get_by_label("Your email address").fill("cy@example.org")
    page.get_by_role("button", name="Check my signature").click()
    expect(result).to_contain_text(f"Found your signature: entry {entry}.")
    expect(result).to_contain_text("It matches your email address and nonce")
    page.get_by_label("Your email address").fill("nobody@example.org")
    page.get_by_role("button", name="Check my signature").click()
    expect(result).to_contain_text(
        "No entry of the log (3 entries) holds the code made from this email address and nonce."
    )


def test_a_log_that_does_not_check_out_fails_clearly(
    live: LiveServer, logged: tuple[str, int], desktop: BrowserContext
) -> None:
    slug, count = logged
    page = desktop.new_page()
    # The browser is served a checkpoint that claims one more entry than the signed one.
    page.route(
        f"{live.url}/petitions/{slug}/log/checkpoint",
        lambda route: route.fulfill(
            status=200,
            content_type="text/plain",
            body=route.fetch().text().replace(f"\n{count}\n", f"\n{count + 1}\n", 1),
        ),
    )
    page.goto(f"{live.url}/petitions/{slug}/verify")
    failure = page.get_by_role("alert")
    expect(failure).to_contain_text("Verification failed: checkpoint: the signature by 127.0.0.1")
    expect(failure).to_contain_text("does not verify: the note was altered")
    expect(page.locator("#verify-result")).to_be_hidden()
    expect(page.get_by_role("button", name="Try again")).to_be_enabled()


def test_before_the_first_checkpoint_the_page_says_the_log_is_starting(
    live: LiveServer, desktop: BrowserContext
) -> None:
    with live.app.app_context():
        slug = make_petition().slug
    page = desktop.new_page()
    problems = watch(page)
    page.goto(f"{live.url}/petitions/{slug}/verify")
    expect(page.locator("#log-starting")).to_contain_text("The public log is starting")
    expect(page.get_by_role("button", name="Verify the count in my browser")).to_be_disabled()
    page.get_by_label("Nonce").fill("0" * 32)
    page.get_by_role("button", name="Check my signature").click()
    expect(page.locator("#receipt-result")).to_contain_text("The public log has no entries yet")
    assert problems == []


def test_the_verify_page_is_accessible(live: LiveServer, logged: tuple[str, int], phone: BrowserContext) -> None:
    slug, count = logged
    entry, nonce = receipt_of(live, "ada@example.org")
    page = phone.new_page()
    page.goto(f"{live.url}/petitions/{slug}/verify#entry={entry}&nonce={nonce}")
    verified(page, count)
    page.get_by_label("Your email address").fill("ada@example.org")
    page.get_by_role("button", name="Check my signature").tap()
    expect(page.locator("#receipt-result")).to_contain_text("It matches")
    assert_accessible(page, "the verify page with its results")


def test_without_its_messages_the_script_still_verifies_in_english(
    live: LiveServer, logged: tuple[str, int], desktop: BrowserContext
) -> None:
    """A page that hands the script no messages (a cached copy of an older page, say) still works."""
    slug, count = logged
    url = f"{live.url}/petitions/{slug}/verify?lang=de"
    page = desktop.new_page()
    problems = watch(page)

    def without_messages(route: Route) -> None:
        html = route.fetch().text()
        stripped = re.sub(r'<script type="application/json" id="verify-strings">.*?</script>', "", html, flags=re.S)
        assert stripped != html
        route.fulfill(status=200, content_type="text/html; charset=utf-8", body=stripped)

    page.route(url, without_messages)
    page.goto(url)
    expect(page.locator("#verified-count")).to_have_text(str(count))
    expect(page.get_by_role("status").filter(has_text="Done")).to_have_text("Done: the log checks out.")
    expect(page.locator("#verified-detail")).to_contain_text("The log has 3 entries, and every one leads to")
    expect(page.locator("#verified-compare")).to_have_text("This is the count the site shows.")
    expect(page.locator("#verified-countries caption")).to_have_text("By country")
    assert problems == []


def test_in_spanish_the_page_verifies_and_says_so_in_spanish(
    live: LiveServer, logged: tuple[str, int], desktop: BrowserContext, phone: BrowserContext
) -> None:
    """Every word the script writes is the page's language's, and its numbers are written the Spanish way.

    Under the site's CSP (desktop); axe, which must be injected, then runs on the same page in the
    phone's context (which bypasses the CSP for that alone).
    """
    slug, count = logged
    # The site's count runs ahead of its log's, as between two checkpoints: 12.345 signatures shown,
    # 3 in the log (a number this large is the one whose Spanish form differs from the English).
    with live.app.app_context():
        db.session.execute(update(Petition).where(Petition.slug == slug).values(signature_count=12_345))
        db.session.commit()
    entry, nonce = receipt_of(live, "cy@example.org")
    page = desktop.new_page()
    problems = watch(page)
    page.goto(f"{live.url}/petitions/{slug}/verify?lang=es#entry={entry}&nonce={nonce}")
    expect(page.locator("html")).to_have_attribute("lang", "es")

    expect(page.get_by_role("status").filter(has_text="Hecho")).to_have_text("Hecho: el registro es correcto.")
    expect(page.locator("#verified-count")).to_have_text(str(count))
    expect(page.locator("#verified-detail")).to_contain_text(
        "El registro tiene 3 entradas, y todas llevan a su raíz firmada"
    )
    expect(page.locator("#verified-detail")).to_contain_text(
        "La firma del punto de control con la clave del sitio es válida."
    )
    expect(page.locator("#site-count")).to_have_text("12.345")
    expect(page.locator("#verified-compare")).to_have_text(
        "El sitio muestra ahora 12.345; el registro contaba 3 en su último punto de control. "
        "El registro se pone al día en un plazo de 10 segundos: vuelva a comprobarlo en un momento."
    )
    countries = page.locator("#verified-countries table")
    expect(countries.locator("caption")).to_have_text("Por país")
    assert countries.locator("thead th").all_inner_texts() == ["País", "Firmas"]
    assert countries.locator("tbody tr").all_inner_texts() == ["Francia (FR)\t1", "Reino Unido (GB)\t2"]
    expect(page.get_by_role("button", name="Verificar de nuevo")).to_be_enabled()

    # The receipt from the fragment, then with the signer's address: plural forms by the count.
    result = page.locator("#receipt-result")
    hashes = "1 hash" if entry == 2 else "2 hashes"  # the inclusion proof of a leaf of a 3-entry tree
    expect(result).to_contain_text(
        f"La entrada {entry} está incluida en el registro firmado de 3 entradas: su prueba de inclusión "
        f"({hashes}, formada a partir de las teselas del registro) lleva a la raíz firmada."
    )
    expect(result).to_contain_text(
        f"Escriba su dirección de correo electrónico para comprobar que la entrada {entry} es suya."
    )
    page.get_by_label("Su dirección de correo electrónico").fill("cy@example.org")
    page.get_by_role("button", name="Comprobar mi firma").click()
    expect(result).to_contain_text(
        f"Coincide con su dirección de correo electrónico y su nonce: la entrada {entry} es su firma."
    )
    expect(result).to_contain_text(f"La entrada {entry} cuenta.")

    # What a signer may mistype is said in Spanish too.
    page.get_by_label("Número de entrada").fill("12345678")
    page.get_by_role("button", name="Comprobar mi firma").click()
    expect(result).to_have_text("La entrada 12345678 aún no está en el registro: tiene 3 entradas.")
    page.get_by_label("Nonce").fill("xyz")
    page.get_by_role("button", name="Comprobar mi firma").click()
    expect(result).to_have_text(
        "Un nonce tiene de 32 a 128 dígitos hexadecimales (de 0 a 9 y de a a f), como en su comprobante."
    )
    assert problems == []

    page = phone.new_page()
    page.goto(f"{live.url}/petitions/{slug}/verify?lang=es#entry={entry}&nonce={nonce}")
    expect(page.get_by_role("status").filter(has_text="Hecho")).to_have_text("Hecho: el registro es correcto.")
    page.get_by_label("Su dirección de correo electrónico").fill("cy@example.org")
    page.get_by_role("button", name="Comprobar mi firma").tap()
    expect(page.locator("#receipt-result")).to_contain_text(f"La entrada {entry} cuenta.")
    assert_accessible(page, "the verify page in Spanish with its results")
