"""The public's reports of petitions: filing one, the lists moderators work from, resolving one.

Resolving takes the acting administrator and the clock, writes its audit entry in the caller's
transaction, flushes and never commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import Select, func, or_, select, update

from petitions.extensions import db
from petitions.extensions import lazy_text as _l
from petitions.models import Petition, Report, User
from petitions.moderation import audit
from petitions.moderation.review import ModerationError, WrongStatus, hide, reason_text

# What a member of the public may report a petition for, with the words shown to them.
# Shown on the report form and the admin pages: lazy, so each is read in the page's language.
REPORT_REASONS: dict[str, str] = {
    "spam": _l("Spam or advertising"),
    "hateful": _l("Hateful, abusive or harassing"),
    "misleading": _l("Misleading or false"),
    "illegal": _l("Illegal content"),
    "other": _l("Something else"),
}
# What an administrator may do with a report.
RESOLUTIONS = ("dismiss", "hide")


class ReportAlreadyResolved(ModerationError):
    """Another administrator resolved the report first."""


class InvalidReport(ModerationError):
    """A report with a reason outside REPORT_REASONS."""


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


def file_report(
    petition: Petition, *, reason: str, details: str | None, email: str | None, ip: str | None, now: datetime
) -> Report:
    """Store a report from the public for the moderators. Raises InvalidReport for an unknown reason."""
    if reason not in REPORT_REASONS:
        raise InvalidReport(_("Please choose one of the reasons."))
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
        raise ModerationError(_("Please choose what to do with the report."))
    text = reason_text(note)
    petition = db.session.get(Petition, report.petition_id)
    if petition is None:  # pragma: no cover - reports are deleted with their petition
        raise ModerationError(_("The petition of this report no longer exists."))
    if resolution == "hide" and petition.status == "draft":
        raise WrongStatus(_("This petition is a draft: it is not public, so there is nothing to hide."))
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
        raise ReportAlreadyResolved(_("Another administrator has already resolved this report."))
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
