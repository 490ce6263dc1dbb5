"""Admin views of the public's reports: the list, and resolving one (dismiss, or hide the petition)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.wrappers import Response

from petitions.clock import utcnow
from petitions.extensions import db
from petitions.models import Petition, Report, User
from petitions.moderation import reports as moderation_reports
from petitions.moderation import review
from petitions.web.admin import bp
from petitions.web.admin.common import PER_PAGE, Page, actor, by_id
from petitions.web.admin.forms import ResolveReportForm
from petitions.web.fields import required_value

# --- reports ----------------------------------------------------------------------------------


REPORT_STATES = ("open", "resolved", "all")


@bp.get("/reports")
def reports() -> str:
    """Reports from the public: the open ones first and oldest first, like a queue."""
    state = request.args.get("state", "open")
    if state not in REPORT_STATES:
        state = "open"
    page = db.paginate(moderation_reports.reports(state), per_page=PER_PAGE, error_out=False)
    return render_template(
        "admin/reports.html",
        page=page,
        state=state,
        petitions=by_id(Petition, (r.petition_id for r in page.items)),
        reasons=moderation_reports.REPORT_REASONS,
    )


def _report_or_404(report_id: int) -> Report:
    report = db.session.get(Report, report_id)
    if report is None:
        abort(404)
    return report


def _render_report(report: Report, form: ResolveReportForm, status: int = 200) -> Page:
    petition = db.session.get(Petition, report.petition_id)
    resolver = db.session.get(User, report.resolved_by_id) if report.resolved_by_id else None
    others = moderation_reports.open_report_counts([report.petition_id]).get(report.petition_id, 0)
    return (
        render_template(
            "admin/report.html",
            report=report,
            petition=petition,
            resolver=resolver,
            open_on_petition=others,
            form=form,
            reasons=moderation_reports.REPORT_REASONS,
        ),
        status,
    )


@bp.route("/reports/<int:report_id>", methods=["GET", "POST"])
def report(report_id: int) -> Response | Page:
    """One report, and the form that resolves it: dismiss, or hide the petition."""
    report = _report_or_404(report_id)
    form = ResolveReportForm()
    if request.method == "GET":
        return _render_report(report, form)
    if not form.validate_on_submit():
        return _render_report(report, form, 422)
    try:
        resolved = moderation_reports.resolve_report(
            report, actor(), resolution=required_value(form.resolution), note=required_value(form.note), now=utcnow()
        )
    except review.ModerationError as exc:
        db.session.rollback()
        form.form_errors.append(str(exc))
        return _render_report(report, form, 409)
    db.session.commit()
    if form.resolution.data == "hide":
        flash(
            ngettext(
                "The petition is hidden and %(num)s report(s) about it are resolved.",
                "The petition is hidden and %(num)s report(s) about it are resolved.",
                len(resolved),
            ),
            "success",
        )
    else:
        flash(_("The report is dismissed."), "success")
    return redirect(url_for(".reports"), 303)
