"""Views of the public "report this petition" form."""

from __future__ import annotations

from typing import Any

from flask import current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import EmailField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from petitions.clock import utcnow
from petitions.extensions import db, limiter
from petitions.extensions import lazy_text as _l
from petitions.moderation import reports
from petitions.web.fields import strip, valid_email
from petitions.web.public import bp
from petitions.web.queries import visible_petition_or_404


class ReportForm(FlaskForm):
    """reason (one of reports.REPORT_REASONS), details and email optional."""

    reason = SelectField(
        _l("What is wrong with this petition?"),
        validators=[DataRequired(_l("Please choose a reason."))],
        validate_choice=False,
    )
    details = TextAreaField(
        _l("Details (optional)"),
        filters=[strip],
        validators=[Optional(), Length(max=1000, message=_l("Please keep the details under 1,000 characters."))],
        description=_l("What should the moderators look at?"),
    )
    email = EmailField(
        _l("Your email address (optional)"),
        filters=[strip],
        validators=[
            Optional(),
            Length(max=254, message=_l("That email address is too long.")),
            valid_email,
        ],
        description=_l("Only if the moderators may contact you about this report. It is never shown publicly."),
        render_kw={"autocomplete": "email", "inputmode": "email"},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """The reasons to choose from, in the page's language."""
        super().__init__(*args, **kwargs)
        self.reason.choices = [("", _("Choose a reason"))] + [(k, str(v)) for k, v in reports.REPORT_REASONS.items()]

    def validate_reason(self, field: SelectField) -> None:
        """Only the listed reasons."""
        if field.data not in reports.REPORT_REASONS:
            raise ValidationError(_("Please choose a reason from the list."))


@bp.route("/petitions/<slug>/report", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_REPORT"], methods=["POST"], scope="RATELIMIT_REPORT")
def report(slug: str) -> Response | tuple[str, int]:
    """Report a petition to the moderators."""
    petition = visible_petition_or_404(slug)
    form = ReportForm()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("public/report.html", petition=petition, form=form), status
    reports.file_report(
        petition,
        reason=form.reason.data,
        details=form.details.data,
        email=form.email.data,
        ip=request.remote_addr,
        now=utcnow(),
    )
    db.session.commit()
    return redirect(url_for(".report_thanks", slug=petition.slug), 303)


@bp.get("/petitions/<slug>/report/thanks")
def report_thanks(slug: str) -> str:
    """Thank you: the moderators will look at it."""
    return render_template("public/report_thanks.html", petition=visible_petition_or_404(slug))
