"""Moderation: hiding and restoring petitions, the pre-moderation queue, changes to public petitions, reports.

Every function takes the acting administrator and the clock, writes its audit entry and any
email to the owner in the caller's transaction, flushes and never commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.orm import joinedload

from petitions.campaigns.lifecycle import has_signatures
from petitions.counting.counts import lock
from petitions.exceptions import DomainError
from petitions.extensions import db
from petitions.infra.mail import external_url, queue_email
from petitions.infra.text import render_markdown
from petitions.models import STATUSES, AuditEntry, Petition, PetitionRevision, Report, User
from petitions.moderation import audit

# What a member of the public may report a petition for, with the words shown to them.
REPORT_REASONS: dict[str, str] = {
    "spam": "Spam or advertising",
    "hateful": "Hateful, abusive or harassing",
    "misleading": "Misleading or false",
    "illegal": "Illegal content",
    "other": "Something else",
}
# What an administrator may do with a report.
RESOLUTIONS = ("dismiss", "hide")

HIDE_ACTIONS = ("petition.hide", "petition.reject")


class ModerationError(DomainError):
    """A moderation step that the petition's or the report's state does not allow; the message says why."""


class WrongStatus(ModerationError):
    """The petition is not in a status this step applies to."""


class ReasonRequired(ModerationError):
    """Hiding, rejecting and resolving need a reason the owner or the log can read."""


class ReportAlreadyResolved(ModerationError):
    """Another administrator resolved the report first."""


class InvalidReport(ModerationError):
    """A report with a reason outside REPORT_REASONS."""


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise ReasonRequired("Please give a reason.")
    return text[:500]


def _petition_url(petition: Petition) -> str:
    return external_url("public.petition", slug=petition.slug)


def _email_owner(petition: Petition, subject: str, template: str, *, now: datetime, **context: Any) -> None:
    owner = petition.owner
    if owner is None:  # the account was deleted; nobody to tell
        return
    queue_email(
        owner.email,
        f"{subject}: {petition.title}"[:255],
        template,
        now=now,
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


def open_report_counts(petition_ids: Iterable[int]) -> dict[int, int]:
    """Open reports of each of these petitions, in one query."""
    ids = sorted(set(petition_ids))
    if not ids:
        return {}
    return dict(
        db.session.execute(
            select(Report.petition_id, func.count())
            .where(Report.petition_id.in_(ids), Report.resolved_at.is_(None))
            .group_by(Report.petition_id)
        ).all()
    )


def pending_petitions() -> Select:
    """The pre-moderation queue: petitions waiting for approval, oldest first."""
    return (
        select(Petition)
        .options(joinedload(Petition.owner))
        .where(Petition.status == "pending")
        .order_by(Petition.created_at, Petition.id)
    )


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


def edited_total() -> int:
    """How many petitions were changed by their owner since a moderator looked (MODERATION=post)."""
    return (
        db.session.scalar(
            select(func.count()).select_from(Petition).where(Petition.edited_since_review_at.is_not(None))
        )
        or 0
    )


def reports(state: str = "open") -> Select:
    """Reports, open ones oldest first (a queue), resolved or all newest first."""
    stmt = select(Report)
    if state == "open":
        return stmt.where(Report.resolved_at.is_(None)).order_by(Report.created_at, Report.id)
    if state == "resolved":
        stmt = stmt.where(Report.resolved_at.is_not(None))
    return stmt.order_by(Report.created_at.desc(), Report.id.desc())


def open_report_total() -> int:
    """How many reports wait for an administrator."""
    return db.session.scalar(select(func.count()).select_from(Report).where(Report.resolved_at.is_(None))) or 0


# --- hiding and restoring -------------------------------------------------------------------


def hide(petition: Petition, actor: User, *, reason: str, now: datetime, action: str = "petition.hide") -> None:
    """Hide a petition from the public, with a reason its owner sees and is emailed.

    The previous status goes into the audit entry, so restoring can put it back.
    Raises ReasonRequired, or WrongStatus for a draft (not public anyway) or a hidden petition.
    """
    text = _reason(reason)
    lock(petition)  # a concurrent moderator waits, then sees the new status
    if petition.status == "hidden":
        raise WrongStatus("This petition is already hidden.")
    if petition.status == "draft":
        raise WrongStatus("This petition is a draft: it is not public, so there is nothing to hide.")
    previous = petition.status
    petition.status = "hidden"
    petition.moderation_reason = text
    petition.edited_since_review_at = None  # reviewed: hidden as it reads now
    petition.updated_at = now
    audit.record(actor, action, "petition", petition.id, reason=text, details={"previous_status": previous}, now=now)
    _email_owner(petition, "Your petition has been hidden", "petition_hidden", now=now, reason=text)
    db.session.flush()


def reject(petition: Petition, actor: User, *, reason: str, now: datetime) -> None:
    """Refuse a petition waiting in the pre-moderation queue: it is hidden with the reason."""
    if petition.status != "pending":
        raise WrongStatus("Only a petition waiting for approval can be rejected.")
    hide(petition, actor, reason=reason, now=now, action="petition.reject")


def approve(petition: Petition, actor: User, *, now: datetime) -> None:
    """Open a petition waiting in the pre-moderation queue, and tell its owner."""
    lock(petition)
    if petition.status != "pending":
        raise WrongStatus("Only a petition waiting for approval can be approved.")
    petition.status = "open"
    petition.opened_at = now
    petition.moderation_reason = None
    petition.edited_since_review_at = None
    petition.updated_at = now
    audit.record(actor, "petition.approve", "petition", petition.id, details={"previous_status": "pending"}, now=now)
    _email_owner(petition, "Your petition is approved", "petition_approved", now=now)
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
        raise WrongStatus("Only a hidden petition can be restored.")
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
        _email_owner(petition, "Your petition is visible again", "petition_restored", now=now)
    db.session.flush()
    return status


# --- changes to a public petition's text ----------------------------------------------------


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
    _email_owner(petition, "Your changes are approved", "petition_edit_approved", now=now)
    db.session.flush()


def reject_revision(revision: PetitionRevision, actor: User, *, reason: str, now: datetime) -> None:
    """Discard a proposed change with a reason its owner sees and is emailed; the petition keeps its text."""
    text = _reason(reason)
    petition = _pending(revision)
    revision.status = "rejected"
    revision.reason = text
    revision.reviewed_at = now
    revision.reviewer_id = actor.id
    audit.record(
        actor, "petition.edit_reject", "petition", petition.id, reason=text, details={"revision": revision.id}, now=now
    )
    _email_owner(
        petition, "Your changes were not approved", "petition_edit_rejected", now=now, reason=text, revision=revision
    )
    db.session.flush()


def mark_reviewed(petition: Petition, actor: User, *, now: datetime) -> None:
    """Clear the "edited since review" flag of a petition a moderator has read as it is now."""
    lock(petition)
    if petition.edited_since_review_at is None:
        raise WrongStatus("This petition has not been edited since it was last reviewed.")
    edited = petition.edited_since_review_at
    petition.edited_since_review_at = None
    audit.record(actor, "petition.review", "petition", petition.id, details={"edited_at": edited.isoformat()}, now=now)
    db.session.flush()


# --- reports --------------------------------------------------------------------------------


def file_report(
    petition: Petition, *, reason: str, details: str | None, email: str | None, ip: str | None, now: datetime
) -> Report:
    """Store a report from the public for the moderators. Raises InvalidReport for an unknown reason."""
    if reason not in REPORT_REASONS:
        raise InvalidReport("Please choose one of the reasons.")
    report = Report(
        petition_id=petition.id,
        reason=reason,
        details=(details or "").strip()[:1000] or None,
        reporter_email=(email or "").strip()[:254] or None,
        ip_address=ip,
        created_at=now,
    )
    db.session.add(report)
    db.session.flush()
    return report


def resolve_report(report: Report, actor: User, *, resolution: str, note: str, now: datetime) -> list[int]:
    """Dismiss a report, or hide its petition and close every open report about it, with a note.

    Returns the ids of the reports resolved. Raises ReasonRequired, ReportAlreadyResolved,
    or ModerationError for an unknown resolution.
    """
    if resolution not in RESOLUTIONS:
        raise ModerationError("Please choose what to do with the report.")
    text = _reason(note)
    petition = db.session.get(Petition, report.petition_id)
    if petition is None:  # pragma: no cover - reports are deleted with their petition
        raise ModerationError("The petition of this report no longer exists.")
    if resolution == "hide" and petition.status == "draft":
        raise WrongStatus("This petition is a draft: it is not public, so there is nothing to hide.")
    hidden_now = False
    if resolution == "hide" and petition.status != "hidden":
        hide(petition, actor, reason=text, now=now)
        hidden_now = True
    targets = [Report.id == report.id]
    if resolution == "hide":
        targets.append(Report.petition_id == petition.id)
    # Only rows still open change: of two administrators resolving at once, one wins.
    resolved = sorted(
        db.session.execute(
            update(Report)
            .where(or_(*targets), Report.resolved_at.is_(None))
            .values(resolved_at=now, resolved_by_id=actor.id, resolution=f"{resolution}: {text}"[:500])
            .returning(Report.id)
            .execution_options(synchronize_session=False)
        ).scalars()
    )
    if report.id not in resolved:
        raise ReportAlreadyResolved("Another administrator has already resolved this report.")
    audit.record(
        actor,
        f"report.{resolution}",
        "report",
        report.id,
        reason=text,
        details={"petition_id": petition.id, "reports": resolved, "petition_hidden": hidden_now},
        now=now,
    )
    db.session.expire(report)
    db.session.flush()
    return resolved
