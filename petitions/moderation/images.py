"""New pictures of public petitions waiting for review (MODERATION=pre): the list, approving, rejecting.

Each step takes the acting administrator and the clock, writes its audit entry in the caller's
transaction, flushes and never commits. A rejection's reason is emailed to the owner and shown on the
picture's page.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload

from petitions.campaigns.images import live_image
from petitions.counting.counts import lock
from petitions.extensions import N_, db
from petitions.infra.mail import external_url
from petitions.models import Petition, PetitionImage, User
from petitions.moderation import audit
from petitions.moderation.review import WrongStatus, email_owner, reason_text


def pending_images() -> Select:
    """New pictures of public petitions waiting for review, oldest first."""
    return (
        select(PetitionImage)
        .options(joinedload(PetitionImage.petition).joinedload(Petition.owner))
        .where(PetitionImage.status == "pending")
        .order_by(PetitionImage.created_at, PetitionImage.id)
    )


def _pending(image: PetitionImage) -> Petition:
    petition = image.petition
    lock(petition)
    db.session.refresh(image)  # the owner may have replaced or removed it meanwhile
    if image.status != "pending":
        raise WrongStatus(
            "This picture no longer waits for review: its owner has replaced or removed it, "
            "or another moderator has decided. Nothing was changed."
        )
    return petition


def approve_image(image: PetitionImage, actor: User, *, now: datetime) -> list[str]:
    """Show a waiting picture with its petition; returns the key of the picture it replaces, if any."""
    petition = _pending(image)
    replaced = []
    previous = live_image(petition)
    if previous is not None:
        previous.status = "replaced"
        replaced.append(previous.key)
        db.session.flush()  # before the new live one, for the one-live index
    image.status = "live"
    image.reviewed_at = now
    image.reviewer_id = actor.id
    petition.updated_at = now
    audit.record(actor, "petition.image_approve", "petition", petition.id, details={"image": image.id}, now=now)
    db.session.flush()
    return replaced


def reject_image(image: PetitionImage, actor: User, *, reason: str, now: datetime) -> None:
    """Refuse a waiting picture with a reason its owner is emailed; the petition keeps what it showed."""
    text = reason_text(reason)
    petition = _pending(image)
    image.status = "rejected"
    image.reason = text
    image.reviewed_at = now
    image.reviewer_id = actor.id
    audit.record(
        actor, "petition.image_reject", "petition", petition.id, reason=text, details={"image": image.id}, now=now
    )
    db.session.flush()
    email_owner(
        petition,
        N_("Your new picture was not approved: %(title)s"),
        "petition_image_rejected",
        now=now,
        reason=text,
        image_url=external_url("campaign.petition_image", slug=petition.slug),
    )
    db.session.flush()
