"""The signing rules, called directly: pending until confirmed, once per mailbox, exact counts."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from petitions.clock import utcnow
from petitions.counting import counts
from petitions.exceptions import PetitionClosed, TokenExpired, TokenInvalid
from petitions.extensions import db
from petitions.infra import mail, tokens
from petitions.infra.tokens import CONFIRM_ACCOUNT, make_token
from petitions.models import CountryCount, OutboxMessage, Petition, Signature
from petitions.signatures import confirming, links, signing
from tests.helpers import body_of, link_in, make_petition


def data(email="sam@example.org", country="GB", **kw) -> signing.SignatureData:
    return signing.SignatureData(name=kw.pop("name", "Sam Signer"), email=email, country=country, **kw)


def outbox_count() -> int:
    return db.session.scalar(select(func.count()).select_from(OutboxMessage))


def test_a_signature_is_pending_with_its_email_queued_in_the_same_transaction(ctx, mailbox) -> None:
    petition = make_petition(title="Stop selling Rekognition")
    signature = signing.sign(petition, data(updates=True), now=utcnow(), ip="203.0.113.9")
    db.session.commit()

    assert signature.confirmed_at is None
    assert db.session.get(Petition, petition.id).signature_count == 0
    (message,) = db.session.scalars(select(OutboxMessage)).all()
    assert message.to_addr == "sam@example.org"
    assert message.subject == "Please confirm your signature: Stop selling Rekognition"
    # Queued as what the email says; the worker renders it, with its signed links, when it sends it.
    assert (message.template, message.signature_id, message.body_text) == ("confirm_signature", signature.id, None)

    assert mail.drain() == (1, 0)
    (sent,) = mailbox.to("sam@example.org")
    text = body_of(sent)
    assert "Hello Sam Signer," in text and "Stop selling Rekognition" in text
    assert sent.get_body(("html",)) is not None
    assert "/unsubscribe/" in text  # they asked for updates
    token = link_in(sent, "/verify/").rsplit("/", 1)[1]
    assert links.signature_from_token(token, now=utcnow()).id == signature.id
    withdraw = link_in(sent, "/withdraw/").rsplit("/", 1)[1]
    assert links.signature_from_token(withdraw, now=utcnow(), purpose=tokens.WITHDRAW_SIGNATURE).id == signature.id


def test_a_signer_who_did_not_ask_for_updates_gets_no_unsubscribe_link(ctx, mailbox) -> None:
    signing.sign(make_petition(), data(), now=utcnow(), ip=None)
    db.session.commit()
    mail.drain()
    (sent,) = mailbox.to("sam@example.org")
    assert "/verify/" in body_of(sent) and "/unsubscribe/" not in body_of(sent)


def test_a_rolled_back_signing_leaves_no_email_behind(ctx) -> None:
    petition = make_petition()
    signing.sign(petition, data(), now=utcnow(), ip=None)
    db.session.rollback()
    assert outbox_count() == 0
    assert db.session.scalar(select(func.count()).select_from(Signature)) == 0


def test_confirming_counts_once_and_by_country(ctx) -> None:
    petition = make_petition()
    a = signing.sign(petition, data("a@example.org", "GB"), now=utcnow(), ip=None)
    b = signing.sign(petition, data("b@example.org", "FR"), now=utcnow(), ip=None)
    signing.sign(petition, data("c@example.org", "FR"), now=utcnow(), ip=None)  # never confirmed
    db.session.commit()

    assert confirming.confirm(a, now=utcnow()) is True
    assert confirming.confirm(b, now=utcnow()) is True
    assert confirming.confirm(a, now=utcnow()) is False  # a second press changes nothing
    db.session.commit()

    db.session.expire_all()
    assert db.session.get(Petition, petition.id).signature_count == 2
    assert counts.by_country(petition.id) == {"FR": 1, "GB": 1}
    assert counts.recount(db.session.get(Petition, petition.id), now=utcnow()) == []


def test_one_signature_per_mailbox_and_the_repeat_is_emailed_a_few_times_at_most(app, ctx) -> None:
    petition = make_petition()
    first = signing.sign(petition, data("jane.doe@gmail.com"), now=utcnow(), ip=None)
    db.session.commit()
    for spelling in ["JaneDoe@gmail.com", "j.a.n.e.d.o.e+petition@googlemail.com", " janedoe@GMAIL.com "] * 3:
        again = signing.sign(petition, data(spelling), now=utcnow(), ip=None)
        db.session.commit()
        assert again.id == first.id

    assert db.session.scalar(select(func.count()).select_from(Signature)) == 1
    # the first email, then at most SIGNATURE_MAX_RESENDS re-sends of the link
    assert outbox_count() == 1 + app.config["SIGNATURE_MAX_RESENDS"]


def test_a_repeat_after_confirming_says_already_signed(ctx, mailbox) -> None:
    petition = make_petition(title="Stop selling Rekognition")
    signature = signing.sign(petition, data(), now=utcnow(), ip=None)
    confirming.confirm(signature, now=utcnow())
    db.session.commit()
    assert signing.sign(petition, data("SAM@example.org"), now=utcnow(), ip=None).id == signature.id
    db.session.commit()
    last = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
    assert last.subject == "You have already signed: Stop selling Rekognition"
    assert mail.drain() == (2, 0)
    first, again = mailbox.to("sam@example.org")
    assert "/verify/" in body_of(first)
    assert again["Subject"] == last.subject
    assert "/verify/" not in body_of(again) and "already signed" in body_of(again)
    assert f"/petitions/{petition.slug}" in body_of(again)
    withdraw = link_in(again, "/withdraw/").rsplit("/", 1)[1]
    assert links.signature_from_token(withdraw, now=utcnow(), purpose=tokens.WITHDRAW_SIGNATURE).id == signature.id
    assert db.session.get(Petition, petition.id).signature_count == 1


def test_a_repeat_of_a_pending_signature_sends_the_link_again_with_the_first_name(ctx, mailbox) -> None:
    petition = make_petition()
    signature = signing.sign(petition, data(name="Sam Signer"), now=utcnow(), ip=None)
    db.session.commit()
    signing.sign(petition, data("sam+again@example.org", name="Someone Else"), now=utcnow(), ip=None)
    db.session.commit()
    assert mail.drain() == (2, 0)
    first, again = mailbox.to("sam@example.org")  # to the address that signed, not the new spelling
    assert "Hello Sam Signer," in body_of(again)
    token = link_in(again, "/verify/").rsplit("/", 1)[1]
    assert links.signature_from_token(token, now=utcnow()).id == signature.id


def test_the_database_itself_refuses_a_second_row_for_a_mailbox(ctx) -> None:
    petition = make_petition()
    signing.sign(petition, data(), now=utcnow(), ip=None)
    db.session.commit()
    now = utcnow()
    db.session.add(
        Signature(
            petition_id=petition.id,
            name="X",
            email="other@example.org",
            email_normalized="sam@example.org",
            country="GB",
            created_at=now,
            show_name=False,
            updates=False,
            resend_count=0,
        )
    )
    with pytest.raises(IntegrityError):
        db.session.commit()


def test_a_closed_petition_takes_no_signature(ctx) -> None:
    now = utcnow()
    petition = make_petition(closes_at=now + timedelta(hours=1))
    with pytest.raises(PetitionClosed):
        signing.sign(petition, data(), now=now + timedelta(hours=2), ip=None)
    petition.status = "closed"
    with pytest.raises(PetitionClosed):
        signing.sign(petition, data(), now=now, ip=None)


def test_a_signature_made_while_open_can_be_confirmed_after_closing(ctx) -> None:
    now = utcnow()
    petition = make_petition(closes_at=now + timedelta(hours=1))
    signature = signing.sign(petition, data(), now=now, ip=None)
    db.session.commit()
    assert confirming.confirm(signature, now=now + timedelta(hours=2)) is True


def test_tokens_expire_and_are_bound_to_their_purpose_and_mailbox(app, ctx) -> None:
    petition = make_petition()
    signature = signing.sign(petition, data(), now=utcnow(), ip=None)
    db.session.commit()
    token = links.confirmation_token(signature)

    assert links.signature_from_token(token, now=utcnow()).id == signature.id
    later = utcnow() + timedelta(seconds=app.config["SIGNATURE_TOKEN_MAX_AGE"] + 60)
    with pytest.raises(TokenExpired):
        links.signature_from_token(token, now=later)
    with pytest.raises(TokenInvalid):
        links.signature_from_token(token[:-2] + "xx", now=utcnow())
    with pytest.raises(TokenInvalid):  # a token made for another purpose
        links.signature_from_token(make_token(CONFIRM_ACCOUNT, [signature.id, "x"]), now=utcnow())

    # the row is deleted and its id reused by another mailbox: the old link names nothing
    db.session.delete(signature)
    db.session.commit()
    other = signing.sign(petition, data("other@example.org"), now=utcnow(), ip=None)
    db.session.commit()
    if other.id == signature.id:
        with pytest.raises(TokenInvalid):
            links.signature_from_token(token, now=utcnow())


def test_recount_finds_and_corrects_a_drifted_count(ctx) -> None:
    petition = make_petition()
    signature = signing.sign(petition, data(), now=utcnow(), ip=None)
    confirming.confirm(signature, now=utcnow())
    db.session.commit()
    petition = db.session.get(Petition, petition.id)
    petition.signature_count = 7
    db.session.get(CountryCount, (petition.id, "GB")).count = 0
    db.session.commit()

    diffs = counts.recount(petition, now=utcnow())
    db.session.commit()
    assert {(d.what, d.kept, d.actual) for d in diffs} == {("total", 7, 1), ("GB", 0, 1)}
    db.session.expire_all()
    assert db.session.get(Petition, petition.id).signature_count == 1
    assert counts.recount(db.session.get(Petition, petition.id), now=utcnow()) == []
