"""Moderation of petitions: the lists moderators work from, hiding and restoring, the pre-moderation
queue's decisions, and clearing the "edited since review" flag.

Every function takes the acting administrator and the clock, writes its audit entry and any
email to the owner in the caller's transaction, flushes and never commits. Proposed edits to a
public petition are decided in `revisions`, the public's reports in `reports`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import joinedload

from petitions.counting.counts import lock
from petitions.exceptions import DomainError
from petitions.extensions import N_, db
from petitions.infra.mail import external_url, mail_text, queue_email
from petitions.models import STATUSES, AuditEntry, Petition, User
from petitions.moderation import audit

HIDE_ACTIONS = ("petition.hide", "petition.reject")


class ModerationError(DomainError):
    """A moderation step that the petition's or the report's state does not allow; the message says why."""


class WrongStatus(ModerationError):
    """The petition is not in a status this step applies to."""


class ReasonRequired(ModerationError):
    """Hiding, rejecting and resolving need a reason the owner or the log can read."""


def reason_text(reason: str | None) -> str:
    """The reason as stored (trimmed, at most 500 characters); raises ReasonRequired when there is none."""
    text = (reason or "").strip()
    if not text:
        raise ReasonRequired(_("Please give a reason."))
    return text[:500]


def _petition_url(petition: Petition) -> str:
    return external_url("public.petition", slug=petition.slug)


def email_owner(petition: Petition, subject: str, template: str, *, now: datetime, **context: Any) -> None:
    """Queue an email about their petition to its owner, in the caller's transaction; none once the account is gone.

    `subject` is a message id with `%(title)s` where the petition's title goes (mail_text fills it in).
    Written in the owner's language (their account setting, else DEFAULT_LOCALE).
    """
    owner = petition.owner
    if owner is None:  # the account was deleted; nobody to tell
        return
    queue_email(
        owner.email,
        mail_text(subject, owner.locale, title=petition.title)[:255],
        template,
        now=now,
        locale=owner.locale,
        user=owner,
        petition=petition,
        petition_url=_petition_url(petition),
        **context,
    )


# --- lists ----------------------------------------------------------------------------------


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def admin_petitions(
    status: str | None = None, q: str | None = None, owner_email: str | None = None, *, edited: bool = False
) -> Select:
    """Every petition, newest first, filtered (`edited`: only those changed since review); owners
    loaded in the same query."""
    stmt = select(Petition).options(joinedload(Petition.owner))
    if edited:
        stmt = stmt.where(Petition.edited_since_review_at.is_not(None))
    if status:
        stmt = stmt.where(Petition.status == status)
    if q:
        like = _like(q)
        stmt = stmt.where(
            or_(
                Petition.title.ilike(like, escape="\\"),
                Petition.slug.ilike(like, escape="\\"),
                Petition.summary.ilike(like, escape="\\"),
                Petition.target.ilike(like, escape="\\"),
            )
        )
    if owner_email:
        owners = select(User.id).where(User.email.ilike(_like(owner_email.strip()), escape="\\"))
        stmt = stmt.where(Petition.owner_id.in_(owners))
    return stmt.order_by(Petition.created_at.desc(), Petition.id.desc())


def status_counts() -> dict[str, int]:
    """How many petitions are in each status (every status present, zeros included)."""
    found = dict(db.session.execute(select(Petition.status, func.count()).group_by(Petition.status)).all())
    return {status: found.get(status, 0) for status in STATUSES}


def pending_petitions() -> Select:
    """The pre-moderation queue: petitions waiting for approval, oldest first."""
    return (
        select(Petition)
        .options(joinedload(Petition.owner))
        .where(Petition.status == "pending")
        .order_by(Petition.created_at, Petition.id)
    )


def edited_total() -> int:
    """How many petitions were changed by their owner since a moderator looked (MODERATION=post)."""
    return (
        db.session.scalar(
            select(func.count()).select_from(Petition).where(Petition.edited_since_review_at.is_not(None))
        )
        or 0
    )


# --- hiding and restoring -------------------------------------------------------------------


def hide(petition: Petition, actor: User, *, reason: str, now: datetime, action: str = "petition.hide") -> None:
    """Hide a petition from the public, with a reason its owner sees and is emailed.

    The previous status goes into the audit entry, so restoring can put it back.
    Raises ReasonRequired, or WrongStatus for a draft (not public anyway) or a hidden petition.
    """
    text = reason_text(reason)
    lock(petition)  # a concurrent moderator waits, then sees the new status
    if petition.status == "hidden":
        raise WrongStatus(_("This petition is already hidden."))
    if petition.status == "draft":
        raise WrongStatus(_("This petition is a draft: it is not public, so there is nothing to hide."))
    previous = petition.status
    petition.status = "hidden"
    petition.moderation_reason = text
    petition.edited_since_review_at = None  # reviewed: hidden as it reads now
    petition.updated_at = now
    audit.record(actor, action, "petition", petition.id, reason=text, details={"previous_status": previous}, now=now)
    email_owner(petition, N_("Your petition has been hidden: %(title)s"), "petition_hidden", now=now, reason=text)
    db.session.flush()


def reject(petition: Petition, actor: User, *, reason: str, now: datetime) -> None:
    """Refuse a petition waiting in the pre-moderation queue: it is hidden with the reason."""
    if petition.status != "pending":
        raise WrongStatus(_("Only a petition waiting for approval can be rejected."))
    hide(petition, actor, reason=reason, now=now, action="petition.reject")


def approve(petition: Petition, actor: User, *, now: datetime) -> None:
    """Open a petition waiting in the pre-moderation queue, and tell its owner."""
    lock(petition)
    if petition.status != "pending":
        raise WrongStatus(_("Only a petition waiting for approval can be approved."))
    petition.status = "open"
    petition.opened_at = now
    petition.moderation_reason = None
    petition.edited_since_review_at = None
    petition.updated_at = now
    audit.record(actor, "petition.approve", "petition", petition.id, details={"previous_status": "pending"}, now=now)
    email_owner(petition, N_("Your petition is approved: %(title)s"), "petition_approved", now=now)
    db.session.flush()


def status_before_hiding(petition: Petition, *, now: datetime) -> str:
    """Where restoring puts a hidden petition: back to the queue if it was pending, closed if it was
    closed or its closing time has passed, else open."""
    entry = db.session.scalar(
        select(AuditEntry)
        .where(
            AuditEntry.target_type == "petition",
            AuditEntry.target_id == petition.id,
            AuditEntry.action.in_(HIDE_ACTIONS),
        )
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .limit(1)
    )
    previous = (entry.details or {}).get("previous_status") if entry is not None else None
    if previous == "pending":
        return "pending"
    if previous == "closed" or (petition.closes_at is not None and petition.closes_at <= now):
        return "closed"
    return "open"


def restore(petition: Petition, actor: User, *, reason: str | None = None, now: datetime) -> str:
    """Show a hidden petition again, in the status it had before. Returns that status."""
    lock(petition)
    if petition.status != "hidden":
        raise WrongStatus(_("Only a hidden petition can be restored."))
    status = status_before_hiding(petition, now=now)
    petition.status = status
    petition.moderation_reason = None
    petition.edited_since_review_at = None  # reviewed: shown again as it reads now
    petition.updated_at = now
    if status == "open" and petition.opened_at is None:
        petition.opened_at = now
    if status == "closed" and petition.closed_at is None:
        petition.closed_at = petition.closes_at if petition.closes_at and petition.closes_at <= now else now
    audit.record(actor, "petition.restore", "petition", petition.id, reason=reason, details={"status": status}, now=now)
    if status != "pending":
        email_owner(petition, N_("Your petition is visible again: %(title)s"), "petition_restored", now=now)
    db.session.flush()
    return status


def mark_reviewed(petition: Petition, actor: User, *, now: datetime) -> None:
    """Clear the "edited since review" flag of a petition a moderator has read as it is now."""
    lock(petition)
    if petition.edited_since_review_at is None:
        raise WrongStatus(_("This petition has not been edited since it was last reviewed."))
    edited = petition.edited_since_review_at
    petition.edited_since_review_at = None
    audit.record(actor, "petition.review", "petition", petition.id, details={"edited_at": edited.isoformat()}, now=now)
    db.session.flush()
