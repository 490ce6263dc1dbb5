"""Emails in their recipient's language: a signer's is the page's language when they signed, stored
with the signature; a campaigner's is their account's setting. Each test reads the small Spanish
catalogue of tests/helpers.SPANISH (the `spanish` mark), so what it checks does not depend on the
shipped catalogues."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select, update

from petitions import worker
from petitions.campaigns import updates
from petitions.clock import utcnow
from petitions.extensions import db
from petitions.models import OutboxMessage, Signature, User
from petitions.signatures import confirming, mydata, signing
from petitions.transparency import receipts
from tests.helpers import Mailbox, body_of, deliver, make_petition, make_user, sign_form

pytestmark = pytest.mark.spanish

TITLE = "Stop selling Rekognition"


@pytest.fixture
def slug(app: Flask) -> str:
    # In an app context of its own: one held around the requests would share its `g` (and the CSRF
    # token kept there) between the two browsers of a test.
    with app.app_context():
        return make_petition(title=TITLE).slug


def test_a_signing_in_spanish_gets_its_confirmation_in_spanish(app: Flask, client, slug: str, mailbox: Mailbox) -> None:
    """?lang=es on the page: the signature stores es, and the email (subject and body, sent over SMTP) is
    Spanish; a signer on an English page of the same petition gets English from the same worker run
    (each language has its own prepared form)."""
    client.get(f"/petitions/{slug}?lang=es")  # the page in Spanish, remembered by the cookie
    assert sign_form(client, slug, email="ana@example.org", name="Ana").status_code == 303
    english = app.test_client()
    english.get(f"/petitions/{slug}?lang=en")
    assert sign_form(english, slug, email="sam@example.org").status_code == 303
    with app.app_context():
        stored = {row.email: row.locale for row in db.session.execute(select(Signature.email, Signature.locale))}
        assert stored == {"ana@example.org": "es", "sam@example.org": "en"}
    deliver(app)
    [spanish] = mailbox.to("ana@example.org")
    assert spanish["Subject"] == f"Confirma tu firma: {TITLE}"
    assert body_of(spanish).startswith("Hola, Ana:")
    assert "Hola, Ana:" in spanish.get_body(("html",)).get_content()
    [plain] = mailbox.to("sam@example.org")
    assert plain["Subject"] == f"Please confirm your signature: {TITLE}"
    assert body_of(plain).startswith("Hello Sam Signer,")


def test_a_repeat_from_an_english_page_answers_in_the_language_signed_in(
    app: Flask, client, slug: str, mailbox: Mailbox
) -> None:
    client.get(f"/petitions/{slug}?lang=es")
    sign_form(client, slug, email="ana@example.org", name="Ana")
    client.get(f"/petitions/{slug}?lang=en")
    sign_form(client, slug, email="ana@example.org", name="Ana")
    deliver(app)
    assert [m["Subject"] for m in mailbox.to("ana@example.org")] == [f"Confirma tu firma: {TITLE}"] * 2


def test_receipts_updates_and_my_data_go_out_in_the_signers_language(app: Flask, mailbox: Mailbox) -> None:
    with app.app_context():
        owner = make_user("owner@example.org")
        petition = make_petition(owner, title=TITLE)
        now = utcnow()
        ids = {}
        for email, locale in (("ana@example.org", "es"), ("sam@example.org", None)):
            data = signing.SignatureData("Ana", email, "ES", updates=True, locale=locale)
            signature = signing.sign(petition, data, now=now, ip=None)
            confirming.confirm(signature, now=now)
            ids[email] = signature.id
        # As the log's sequencer leaves them: each in the log, its receipt queued.
        for entry, signature_id in enumerate(ids.values()):
            db.session.execute(update(Signature).where(Signature.id == signature_id).values(log_entry=entry))
        db.session.execute(update(OutboxMessage).values(sent_at=now))  # the confirmations: not what this is about
        receipts.queue(petition.slug, TITLE, [(i, n) for n, i in enumerate(ids.values())], now=now)
        updates.create_update(petition, db.session.get_one(User, owner.id), subject="News", body="Hello.", now=now)
        db.session.commit()
        assert mydata.request_link("ana@example.org", now=now)
        db.session.commit()
    deliver(app)
    ana = {m["Subject"]: body_of(m) for m in mailbox.to("ana@example.org")}
    assert set(ana) == {f"Tu firma está en el registro público: {TITLE}", "News", "Tus firmas"}
    assert ana[f"Tu firma está en el registro público: {TITLE}"].startswith("Hola:")
    assert f"Recibes esto porque firmaste «{TITLE}» y pediste novedades." in ana["News"]
    assert ana["Tus firmas"].startswith("Hola:")
    sam = {m["Subject"]: body_of(m) for m in mailbox.to("sam@example.org")}
    assert set(sam) == {f"Your signature is in the public log: {TITLE}", "News"}  # none stored: DEFAULT_LOCALE
    assert f'You receive this because you signed "{TITLE}" and asked for updates.' in sam["News"]


def test_a_campaigner_is_written_to_in_their_accounts_language(app: Flask, mailbox: Mailbox) -> None:
    """A milestone's email, whatever language the signers used; DEFAULT_LOCALE for an account without one."""
    with app.app_context():
        for email, locale in (("ana@example.org", "es"), ("casey@example.org", None)):
            owner = make_user(email)
            owner.locale = locale
            petition = make_petition(owner, goal=2)
            for i in range(2):
                data = signing.SignatureData("Sam", f"s{i}@example.org", "GB", locale="en")
                confirming.confirm(signing.sign(petition, data, now=utcnow(), ip=None), now=utcnow())
            db.session.commit()
        assert worker.record_milestones() == 2
    deliver(app)
    [spanish] = mailbox.to("ana@example.org")
    assert spanish["Subject"] == "Tu petición alcanzó su meta de 2 firmas"
    assert body_of(spanish).startswith("Hola, Casey Campaigner:")
    [english] = mailbox.to("casey@example.org")
    assert english["Subject"] == "Your petition reached its goal of 2 signatures"
