"""Proposed changes to a public petition's text (MODERATION=pre): the ones waiting, approving, rejecting.

Like every moderation step, each takes the acting administrator and the clock, writes its audit
entry and the owner's email in the caller's transaction, flushes and never commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import joinedload

from petitions.campaigns.lifecycle import has_signatures
from petitions.counting.counts import lock
from petitions.extensions import N_, db
from petitions.infra.text import render_markdown
from petitions.models import Petition, PetitionRevision, User
from petitions.moderation import audit
from petitions.moderation.review import ModerationError, WrongStatus, email_owner, reason_text


def pending_revisions() -> Select:
    """Proposed changes to public petitions waiting for review (MODERATION=pre), oldest first."""
    return (
        select(PetitionRevision)
        .options(joinedload(PetitionRevision.petition).joinedload(Petition.owner))
        .where(PetitionRevision.status == "pending")
        .order_by(PetitionRevision.created_at, PetitionRevision.id)
    )


def pending_revision_total() -> int:
    """How many proposed changes wait for review."""
    return (
        db.session.scalar(
            select(func.count()).select_from(PetitionRevision).where(PetitionRevision.status == "pending")
        )
        or 0
    )


def _pending(revision: PetitionRevision) -> Petition:
    """The revision's petition, locked; raises WrongStatus unless the revision still waits."""
    petition = revision.petition
    lock(petition)
    db.session.refresh(revision)  # the owner may have replaced it meanwhile
    if revision.status != "pending":
        raise WrongStatus(
            "This change no longer waits for review: its owner has replaced or withdrawn it, "
            "or another moderator has decided. Nothing was changed."
        )
    return petition


def approve_revision(revision: PetitionRevision, actor: User, *, now: datetime) -> None:
    """Apply a proposed change to its petition's text, and tell the owner.

    Raises WrongStatus when it no longer waits, or ModerationError when it would change the
    title or the target of a petition people have signed since it was proposed.
    """
    petition = _pending(revision)
    changes = revision.changes(petition)
    locked = [name for name in ("title", "target") if name in changes]
    if locked and has_signatures(petition):
        raise ModerationError(
            f"People have signed since this change was proposed, so the {' and the '.join(locked)} can no longer "
            "change: they signed the petition as it reads. Reject the change with a reason."
        )
    for name in ("title", "target", "summary", "body"):
        setattr(petition, name, getattr(revision, name))
    petition.body_html = render_markdown(revision.body)
    petition.edited_since_review_at = None
    petition.updated_at = now
    revision.status = "approved"
    revision.reviewed_at = now
    revision.reviewer_id = actor.id
    audit.record(
        actor,
        "petition.edit_approve",
        "petition",
        petition.id,
        details={"revision": revision.id, "changed": changes},
        now=now,
    )
    email_owner(petition, N_("Your changes are approved: %(title)s"), "petition_edit_approved", now=now)
    db.session.flush()


def reject_revision(revision: PetitionRevision, actor: User, *, reason: str, now: datetime) -> None:
    """Discard a proposed change with a reason its owner sees and is emailed; the petition keeps its text."""
    text = reason_text(reason)
    petition = _pending(revision)
    revision.status = "rejected"
    revision.reason = text
    revision.reviewed_at = now
    revision.reviewer_id = actor.id
    audit.record(
        actor, "petition.edit_reject", "petition", petition.id, reason=text, details={"revision": revision.id}, now=now
    )
    email_owner(
        petition,
        N_("Your changes were not approved: %(title)s"),
        "petition_edit_rejected",
        now=now,
        reason=text,
        revision=revision,
    )
    db.session.flush()
