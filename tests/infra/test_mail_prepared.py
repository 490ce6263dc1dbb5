"""Emails sent in a prepared form (mail/prepared.py) are, byte for byte, what the plain path would have sent."""

from __future__ import annotations

import io
import re
from email.generator import BytesGenerator

import pytest
from itsdangerous.timed import TimestampSigner
from sqlalchemy import delete, select

from petitions.clock import utcnow
from petitions.extensions import db
from petitions.infra import mail
from petitions.infra.mail import prepared
from petitions.infra.mail.message import build_message
from petitions.models import OutboxMessage, Signature
from petitions.signatures import confirming, signing
from petitions.signatures.repeats import answer_repeat
from petitions.transparency import sequencer
from tests.helpers import body_of, link_in, make_petition

SENDER = "Pétitions <no-reply@example.org>"
NAMES = [
    "Sam Signer",
    "Zoë Ångström-Müller",
    'Bobby <b>"Tables"</b> & co',
    "Line\nbreak\r\tand\x07controls",
    ". a dot first",
    "===============1234567890123456789==",  # shaped like the MIME boundary
    "Ж" * 100,
]
TITLES = ["Save the river", "Gegen den Verkauf an Behörden, " + "jetzt und für immer " * 4]


def _boundless(raw: bytes) -> bytes:
    """The message with its multipart boundary (random for each flattening) replaced by one word."""
    found = re.search(rb'boundary="([^"]+)"', raw)
    return raw.replace(found.group(1), b"BOUNDARY") if found else raw


def _plain(row, domain: str) -> bytes:
    out = io.BytesIO()
    BytesGenerator(out).flatten(build_message(row, SENDER, domain), linesep="\r\n")  # as smtplib flattens it
    return out.getvalue()


@pytest.fixture
def fixed_time(monkeypatch):
    """Links signed in the same second, whichever path signs them."""
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: 1_800_000_000)


def test_a_prepared_message_is_the_plain_message_byte_for_byte(app, ctx, fixed_time) -> None:
    app.config["MAIL_DEFAULT_SENDER"] = SENDER
    now = utcnow()
    for title in TITLES:
        petition = make_petition(title=title)
        for i, name in enumerate(NAMES):
            for updates in (False, True):
                data = signing.SignatureData(
                    name=name, email=f"s{i}-{updates}@example.org", country="GB", updates=updates
                )
                signing.sign(petition, data, now=now, ip=None)
        # a repeat of a confirmed signature: "you have already signed", prepared as well
        first = db.session.scalar(select(Signature).where(Signature.petition_id == petition.id).limit(1))
        first.confirmed_at = now
        db.session.flush()
        answer_repeat(first, now=now)
    db.session.commit()
    rows = db.session.execute(select(OutboxMessage.__table__)).all()
    templates = {row.template for row in rows}
    assert templates == {"confirm_signature", "already_signed"}
    plain_only = 0
    for row in rows:
        fast = prepared.message_bytes(row, SENDER, "example.org")
        if fast is None:
            plain_only += 1
            continue
        assert _boundless(fast) == _boundless(_plain(row, "example.org")), row.context
    # Only the names shaped like the boundary, or too long for a line with the long title, go the plain way.
    assert plain_only <= 2 * 2 * len(TITLES)
    # one prepared form per template, title, choice of updates, and whether the name is ASCII
    assert len(app.extensions["mail_prepared"]) <= 2 * len(TITLES) * 2 * 2


def test_prepared_confirmations_arrive_with_their_own_name_and_links(app, ctx, mailbox) -> None:
    petition = make_petition(title="Save the river")
    names = ["Ann <Admin> & Co", "Zoë", "Bob"]
    for i, name in enumerate(names):
        data = signing.SignatureData(name=name, email=f"p{i}@example.org", country="GB", updates=i == 1)
        signing.sign(petition, data, now=utcnow(), ip=None)
    db.session.commit()
    assert mail.drain() == (3, 0)
    by_to = {m["To"]: m for m in mailbox.messages}
    links = set()
    for i, name in enumerate(names):
        message = by_to[f"p{i}@example.org"]
        text = body_of(message)
        assert text.startswith(f"Hello {name},")
        html = message.get_body(("html",)).get_content()
        assert f"<p>Hello {name.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')},</p>" in html
        assert ("/unsubscribe/" in text) == (i == 1)
        links.add(link_in(message, "/verify/"))
    assert len(links) == 3  # each signer's own link
    assert app.extensions["mail_prepared"]  # sent from the prepared forms


def test_a_name_carrying_the_boundary_cannot_add_a_part(app, ctx, mailbox) -> None:
    """A signer learns the boundary from their own email; a second signing under that name to someone else's
    address must not smuggle a part into that person's email."""
    petition = make_petition(title="Save the river")
    data = signing.SignatureData(name="Eve", email="eve@example.org", country="GB")
    signing.sign(petition, data, now=utcnow(), ip=None)
    db.session.commit()
    assert mail.drain() == (1, 0)
    boundary = re.search(rb'boundary="([^"]+)"', mailbox.raw[0]).group(1).decode()
    crafted = f"\n--{boundary}\n\n<a href='https://evil.example'>x</a>"
    data = signing.SignatureData(name=crafted, email="victim@example.org", country="GB")
    signing.sign(petition, data, now=utcnow(), ip=None)
    db.session.commit()
    assert mail.drain() == (1, 0)
    (victim,) = mailbox.to("victim@example.org")
    assert [part.get_content_type() for part in victim.walk()] == ["multipart/alternative", "text/plain", "text/html"]
    assert "<a href='https://evil.example'>" not in victim.get_body(("html",)).get_content()


def test_a_prepared_receipt_is_the_plain_receipt_byte_for_byte(app, ctx, mailbox) -> None:
    """The public log's receipts, one per confirmed signer, go out in a prepared form too: the same
    bytes as the plain path, each with its own entry, nonce and verify link."""
    app.config["MAIL_DEFAULT_SENDER"] = SENDER
    now = utcnow()
    for t, title in enumerate(TITLES):
        petition = make_petition(title=title)
        for i, name in enumerate(NAMES[:3]):
            data = signing.SignatureData(name=name, email=f"r{t}-{i}@example.org", country="GB")
            confirming.confirm(signing.sign(petition, data, now=now, ip=None), now=now)
    db.session.commit()
    db.session.execute(delete(OutboxMessage))  # the confirmations: only the receipts are compared
    db.session.commit()
    sequencer.sequence_all(now=utcnow())
    rows = db.session.execute(select(OutboxMessage.__table__)).all()
    assert {row.template for row in rows} == {"log_receipt"} and len(rows) == 3 * len(TITLES)
    for row in rows:
        fast = prepared.message_bytes(row, SENDER, "example.org")
        assert fast is not None
        assert fast == _plain(row, "example.org"), row.context
    assert len(app.extensions["mail_prepared"]) == len(TITLES)  # one form per petition (and language)

    assert mail.drain() == (len(rows), 0)
    nonces = dict(db.session.execute(select(Signature.email, Signature.log_nonce)).all())
    for address, nonce in nonces.items():
        (message,) = mailbox.to(address)
        assert f"nonce: {nonce}" in body_of(message) and f"nonce={nonce}" in body_of(message)
