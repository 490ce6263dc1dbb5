"""Updates: a campaigner's email to the signers who asked for them, queued in batches, never twice."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import ColumnElement, exists, func, select

from petitions.counting import rules
from petitions.extensions import N_, db
from petitions.infra import tokens
from petitions.infra.mail import external_url, mail_locale, mail_text, queue_email
from petitions.infra.text import render_markdown
from petitions.models import Petition, PetitionResponse, PetitionUpdate, Signature, UpdateDelivery, User
from petitions.signatures.links import signature_token


def recipients(petition: Petition) -> list[ColumnElement[bool]]:
    """The condition for signers who get updates: confirmed, valid, and asked for them."""
    return [Signature.petition_id == petition.id, Signature.updates.is_(True), *rules.counted()]


def recipient_count(petition: Petition) -> int:
    """How many signers an update would reach now."""
    return db.session.execute(select(func.count()).select_from(Signature).where(*recipients(petition))).scalar_one()


def create_update(petition: Petition, author: User, *, subject: str, body: str, now: datetime) -> PetitionUpdate:
    """Record an update; the mail worker queues its emails in batches."""
    update = PetitionUpdate(
        petition_id=petition.id,
        author_id=author.id,
        subject=subject.strip(),
        body=body,
        created_at=now,
        recipient_count=0,
    )
    db.session.add(update)
    db.session.flush()
    return update


# The subjects of the update that announces a response, in each signer's language.
RESPONSE_SUBJECT = N_("The target responded: %(title)s")
WON_SUBJECT = N_("Victory: %(title)s")


def announce_response(petition: Petition, response: PetitionResponse, author: User, *, now: datetime) -> PetitionUpdate:
    """The update that tells signers of the target's response (and the victory), sent like every update.

    Its subject and body stay in the row for the campaigner's list of updates; each signer's email
    is written in their own language around the response's text (queue_batch).
    """
    update = create_update(
        petition,
        author,
        subject=mail_text(WON_SUBJECT if response.won else RESPONSE_SUBJECT, None, title=petition.title)[:150],
        body=response.text,
        now=now,
    )
    update.response_id = response.id
    db.session.flush()
    return update


def queue_batch(*, now: datetime, limit: int | None = None) -> int | None:
    """Queue the emails of one batch of one pending update: how many were queued, None if no update waits.

    The update's row is locked (SKIP LOCKED on PostgreSQL) so two workers never batch the
    same update at once; the primary key of update_deliveries makes a second email to the
    same signer for the same update impossible anyway. Signers are taken in id order: one
    who confirms after the batches have passed their place gets the next update, not this one.
    """
    limit = limit or current_app.config["UPDATE_BATCH_SIZE"]
    update = db.session.scalar(
        select(PetitionUpdate)
        .where(PetitionUpdate.queued_at.is_(None))
        .order_by(PetitionUpdate.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if update is None:
        return None
    petition = db.session.get_one(Petition, update.petition_id)
    # Each batch starts after the last signer the previous one queued (one primary-key lookup),
    # so an update to a million signers reads each of them once, instead of passing over every
    # already-queued signer again in each of its 2,000 batches.
    after = (
        db.session.scalar(select(func.max(UpdateDelivery.signature_id)).where(UpdateDelivery.update_id == update.id))
        or 0
    )
    already = exists().where(UpdateDelivery.update_id == update.id, UpdateDelivery.signature_id == Signature.id)
    batch = db.session.scalars(
        select(Signature)
        .where(*recipients(petition), Signature.id > after, ~already)
        .order_by(Signature.id)
        .limit(limit)
    ).all()
    petition_url = external_url("public.petition", slug=petition.slug)
    body_html = render_markdown(update.body)
    response = db.session.get(PetitionResponse, update.response_id) if update.response_id else None
    for signature in batch:
        unsubscribe_url = external_url("public.unsubscribe", token=signature_token(signature, tokens.UNSUBSCRIBE))
        subject = update.subject
        if response is not None:
            subject = mail_text(
                WON_SUBJECT if response.won else RESPONSE_SUBJECT, signature.locale, title=petition.title
            )[:255]
        message_id = queue_email(
            signature.email,
            subject,
            "response" if response is not None else "update",
            now=now,
            locale=signature.locale,
            headers={
                "List-Unsubscribe": f"<{unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
            update=update,
            response=response,
            lang=mail_locale(signature.locale),
            petition=petition,
            body_html=body_html,
            unsubscribe_url=unsubscribe_url,
            petition_url=petition_url,
        )
        db.session.add(UpdateDelivery(update_id=update.id, signature_id=signature.id, outbox_id=message_id))
    update.recipient_count += len(batch)
    if len(batch) < limit:
        update.queued_at = now
    db.session.flush()
    return len(batch)


def queue_all(*, now: datetime) -> int:
    """Queue batches until no update is pending (or another worker holds it), committing after each."""
    total = 0
    while (n := queue_batch(now=now)) is not None:
        db.session.commit()
        total += n
    db.session.commit()
    return total
