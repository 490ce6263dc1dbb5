"""The public log on the site's pages: the verify page, and the receipt a signer sees after confirming.

The verify page's checks run in the browser (tests/browser/test_log_verify.py); here, what the
server sends: the explanation, the site's count beside the log's checkpoint, the command line,
and the receipt's nonce shown once, to the signer who pressed the button, on a page no cache keeps.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re

import pytest
import segno
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from petitions.extensions import db
from petitions.models import Petition, Signature
from petitions.transparency import keys, reading, sequencer
from tests.helpers import csrf_from, deliver, link_in, login, make_petition, make_user, sign_form


@pytest.fixture
def petition(app: Flask) -> str:
    with app.app_context():
        return make_petition(goal=10).slug


def sequence(app: Flask) -> None:
    with app.app_context():
        sequencer.sequence_all()


def confirm_link(app: Flask, mailbox, address: str) -> str:
    deliver(app)
    return link_in(mailbox.to(address)[-1], "/verify/").removeprefix("http://localhost")


def press(client: FlaskClient, path: str):
    page = client.get(path)
    return client.post(path, data={"csrf_token": csrf_from(page.text)}, follow_redirects=True)


def signature_of(app: Flask, address: str) -> Signature:
    with app.app_context():
        signature = db.session.scalar(select(Signature).where(Signature.email == address))
        db.session.expunge_all()
        return signature


def test_the_signer_who_confirms_sees_the_receipt_once_on_a_private_page(
    app: Flask, client: FlaskClient, mailbox, petition: str
) -> None:
    sign_form(client, petition, email="ada@example.org")
    path = confirm_link(app, mailbox, "ada@example.org")
    confirmed = press(client, path)
    assert confirmed.request.path == f"/petitions/{petition}"
    nonce = signature_of(app, "ada@example.org").log_nonce
    assert nonce and re.fullmatch(r"[0-9a-f]{32}", nonce)
    page = confirmed.text
    assert "Your receipt" in page and f'<code id="receipt-nonce">{nonce}</code>' in page
    # Not in the log yet: the link carries the nonce alone, and the page says the entry follows by email.
    assert f'href="http://localhost/petitions/{petition}/verify#nonce={nonce}"' in page
    assert "an email with your entry number follows" in page and "within 10 seconds" in page
    assert confirmed.headers["Cache-Control"] == "no-store"
    assert confirmed.headers["Referrer-Policy"] == "no-referrer"

    # Shown once: the next visit to the petition, by the same browser or any other, has no receipt.
    again = client.get(f"/petitions/{petition}")
    assert nonce not in again.text and "Your receipt" not in again.text
    other = app.test_client().get(f"/petitions/{petition}")
    assert nonce not in other.text and "Your receipt" not in other.text

    # Pressed again once the signature is in the log: the link carries its entry too.
    sequence(app)
    entry = signature_of(app, "ada@example.org").log_entry
    assert entry == 0
    token = csrf_from(client.get(f"/petitions/{petition}").text)
    again = client.post(path, data={"csrf_token": token}, follow_redirects=True)
    assert "already confirmed" in again.text
    assert f'href="http://localhost/petitions/{petition}/verify#entry=0&amp;nonce={nonce}"' in again.text
    assert '<dd id="receipt-entry">0</dd>' in again.text
    assert again.headers["Cache-Control"] == "no-store"


def test_a_withdrawn_signature_has_no_receipt(app: Flask, client: FlaskClient, mailbox, petition: str) -> None:
    sign_form(client, petition, email="bob@example.org")
    path = confirm_link(app, mailbox, "bob@example.org")
    client.post(path, data={"csrf_token": csrf_from(client.get(path).text)})  # the receipt waits in the session
    with app.app_context():
        db.session.scalar(select(Signature).where(Signature.email == "bob@example.org")).log_nonce = None
        db.session.commit()
    page = client.get(f"/petitions/{petition}")
    assert "Your receipt" not in page.text


def test_the_verify_page_before_and_after_the_first_checkpoint(
    app: Flask, client: FlaskClient, mailbox, petition: str
) -> None:
    page = client.get(f"/petitions/{petition}/verify")
    assert page.status_code == 200
    text = page.text
    assert "Check the count yourself" in text
    assert "The public log is starting" in text and "Latest signed checkpoint" not in text
    assert 'id="verify-start" class="primary" disabled' in text
    assert "does not check that every signature is a different, real person" in text
    assert "It stays in this browser" in text and "sends the address nowhere" in text
    # Scripts are files of the site (the CSP allows no inline script), never inline; the one block is
    # data (the script's messages), which no browser runs.
    assert re.findall(r"<script[^>]*>", text) == [
        '<script src="/static/verify.js" defer>',
        '<script src="/static/js/verify-page.js" defer>',
        '<script type="application/json" id="verify-strings">',
    ]
    with app.app_context():
        key = str(keys.verifier())
    command = f"python -m petitions.verify http://localhost/petitions/{petition} --key {key}"
    assert html.escape(command, quote=False) in text

    for address in ("ada@example.org", "bob@example.org"):
        sign_form(client, petition, email=address)
        press(client, confirm_link(app, mailbox, address))
    sequence(app)
    with app.app_context():
        pid = db.session.scalar(select(Petition.id).where(Petition.slug == petition))
        head = reading.head(pid)
    assert head is not None and head.size == 2
    root = base64.b64encode(head.root).decode()
    text = client.get(f"/petitions/{petition}/verify").text
    assert "The public log is starting" not in text
    assert 'The site shows <strong id="site-count">2</strong>' in text
    assert '<strong id="log-size">2</strong>\n         entries' in text
    assert f'<code class="root" title="{root}">{root[:16]}…</code>' in text
    assert 'data-autostart="true"' in text and 'data-site-count="2"' in text


def script_strings(text: str) -> dict:
    """The messages the verify page hands its script (static/js/verify-page.js)."""
    block = re.search(r'<script type="application/json" id="verify-strings">(.*?)</script>', text, re.S)
    assert block is not None
    return json.loads(block.group(1))


def test_the_verify_pages_script_gets_its_words_in_the_pages_language(client: FlaskClient, petition: str) -> None:
    english = script_strings(client.get(f"/petitions/{petition}/verify?lang=en").text)
    assert english["messages"]["done"] == "Done: the log checks out."
    # Values the script fills in stay placeholders; the interval is the server's to say.
    assert english["messages"]["counts"] == "Entry %(entry)s counts."
    assert english["messages"]["no_entries_yet"] == "The public log has no entries yet: check again in 10 seconds."
    assert english["plurals"] == {
        "one": {
            "log_size": "The log has %(num)s entry, and every one leads to its signed root %(root)s.",
            "signed_log": "the signed log of %(num)s entry",
            "hashes": "%(num)s hash",
            "no_entry": "No entry of the log (%(num)s entry) holds the code made from this email address and nonce.",
            "not_in_log": "Entry %(entry)s is not in the log yet: it has %(num)s entry.",
        },
        "other": {
            "log_size": "The log has %(num)s entries, and every one leads to its signed root %(root)s.",
            "signed_log": "the signed log of %(num)s entries",
            "hashes": "%(num)s hashes",
            "no_entry": "No entry of the log (%(num)s entries) holds the code made from this email address and nonce.",
            "not_in_log": "Entry %(entry)s is not in the log yet: it has %(num)s entries.",
        },
    }

    spanish = script_strings(client.get(f"/petitions/{petition}/verify?lang=es").text)
    assert spanish["messages"]["done"] == "Hecho: el registro es correcto."
    assert spanish["messages"]["no_entries_yet"] == (
        "El registro público aún no tiene entradas: vuelva a comprobarlo dentro de 10 segundos."
    )
    # Spanish has a third form, for a million and its multiples (CLDR's "many"): the script's
    # Intl.PluralRules("es") names it, and the page renders it.
    signed_log = {category: forms["signed_log"] for category, forms in spanish["plurals"].items()}
    assert signed_log == {
        "one": "el registro firmado de %(num)s entrada",
        "many": "el registro firmado de %(num)s de entradas",
        "other": "el registro firmado de %(num)s entradas",
    }
    # French has the same three categories, each with its own words.
    french = script_strings(client.get(f"/petitions/{petition}/verify?lang=fr").text)
    assert set(french["plurals"]) == {"one", "many", "other"}
    assert french["plurals"]["one"]["hashes"] == "%(num)s hachage"


def test_only_a_public_petition_has_a_verify_page(app: Flask, client: FlaskClient, petition: str) -> None:
    with app.app_context():
        db.session.scalar(select(Petition).where(Petition.slug == petition)).status = "hidden"
        db.session.commit()
    assert client.get(f"/petitions/{petition}/verify").status_code == 404
    assert client.get("/petitions/no-such-petition/verify").status_code == 404


def test_the_petition_page_links_to_the_verify_page(client: FlaskClient, petition: str) -> None:
    assert (
        f'href="/petitions/{petition}/verify">Check the count yourself</a>' in client.get(f"/petitions/{petition}").text
    )


# --- "independently verifiable": the widget, the badge, the delivery page ---------------------


@pytest.fixture
def owned(app: Flask) -> str:
    """A petition of campaigner@example.org, with no signatures yet."""
    with app.app_context():
        return make_petition(make_user()).slug


def badge_title(client: FlaskClient, slug: str) -> str:
    match = re.search(r"<title>(.*)</title>", client.get(f"/petitions/{slug}/badge.svg").text)
    assert match
    return html.unescape(match.group(1))


def test_before_the_first_checkpoint_they_say_the_log_is_starting(app: Flask, client: FlaskClient, owned: str) -> None:
    verify_url = f"http://localhost/petitions/{owned}/verify"
    widget = client.get(f"/embed/{owned}").text
    assert f'<a href="{verify_url}" target="_blank" rel="noopener">Public log starting</a>' in widget
    assert "Independently verifiable" not in widget and "0 entries" not in widget
    assert badge_title(client, owned) == f"signatures: 0 (public log starting: {verify_url})"
    login(client)
    delivery = client.get(f"/petitions/{owned}/delivery").text
    assert "The public log is starting" in delivery and 'id="delivery-checkpoint"' not in delivery
    assert 'class="qr"' in delivery and f'<a href="{verify_url}" id="delivery-verify-url">' in delivery


@pytest.mark.spanish
def test_after_a_checkpoint_they_show_its_size_and_root_and_link_to_the_verify_page(
    app: Flask, client: FlaskClient, mailbox, owned: str
) -> None:
    for address in ("ada@example.org", "bob@example.org", "cy@example.org"):
        sign_form(client, owned, email=address)
        press(client, confirm_link(app, mailbox, address))
    sequence(app)
    with app.app_context():
        pid = db.session.scalar(select(Petition.id).where(Petition.slug == owned))
        head = reading.head(pid)
    assert head is not None and head.checkpoint is not None and (head.size, head.count) == (3, 3)
    root = base64.b64encode(head.root).decode()
    verify_url = f"http://localhost/petitions/{owned}/verify"

    widget = client.get(f"/embed/{owned}").text
    text = " ".join(re.sub(r"<[^>]+>", "", widget).split())
    assert f"Independently verifiable: 3 log entries, root {root[:16]}…" in text
    assert f'<a href="{verify_url}" target="_blank" rel="noopener">Independently verifiable</a>' in widget
    assert f'<code title="{root}">{root[:16]}…</code>' in widget
    # In another language, the words of its catalogue (the `spanish` mark's) and the number as it writes it.
    spanish = " ".join(re.sub(r"<[^>]+>", "", client.get(f"/embed/{owned}?lang=es").text).split())
    assert f"Verificable de forma independiente: 3 entradas, raíz {root[:16]}…" in spanish

    assert badge_title(client, owned) == (
        f"signatures: 3 (independently verifiable: 3 entries in its public log, root {root[:16]}… {verify_url})"
    )

    login(client)
    delivery = client.get(f"/petitions/{owned}/delivery").text
    assert "Independently verifiable" in delivery
    assert '<dd id="log-size">3</dd>' in delivery and '<dd id="log-count">3</dd>' in delivery
    assert f'<span class="root-short">{root[:16]}…</span><span class="root-full">{root}</span>' in delivery
    # The whole signed checkpoint, printed as served at /log/checkpoint.
    assert f'<pre class="checkpoint" id="delivery-checkpoint">{html.escape(head.checkpoint)}</pre>' in delivery
    assert client.get(f"/petitions/{owned}/log/checkpoint").text == head.checkpoint
    # The QR code is inline SVG of the verify page's address, named for screen readers.
    qr = re.search(r"<svg [^>]*>.*?</svg>", delivery, re.S)
    assert qr is not None
    label = f"A QR code of the page that checks this count: {verify_url}"
    assert qr.group(0).startswith(f'<svg role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg"')
    out = io.BytesIO()
    segno.make(verify_url, error="m").save(out, kind="svg", xmldecl=False, svgns=True, scale=4, border=4, svgclass="qr")
    assert re.search(r"<path .*?/>", qr.group(0)).group(0) == re.search(r"<path .*?/>", out.getvalue().decode()).group(
        0
    )


def test_a_long_log_waits_for_the_button(
    app: Flask, client: FlaskClient, mailbox, petition: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The browser downloads all of a log: past AUTOSTART_ENTRIES the page says so and waits to be asked."""
    from petitions.web.public import transparency

    for address in ("ada@example.org", "bob@example.org"):
        sign_form(client, petition, email=address)
        press(client, confirm_link(app, mailbox, address))
    sequence(app)
    monkeypatch.setattr(transparency, "AUTOSTART_ENTRIES", 1)
    text = client.get(f"/petitions/{petition}/verify").text
    assert 'data-autostart="false"' in text
    assert "This log has 2 entries: your browser will download all of them." in text
    assert '<button type="button" id="verify-start" class="primary">' in text
