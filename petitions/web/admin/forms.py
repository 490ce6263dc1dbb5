"""Forms of the admin pages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    SelectField,
    TextAreaField,
)
from wtforms.validators import AnyOf, DataRequired, Length, NumberRange, Optional
from wtforms.widgets import HiddenInput

from petitions.extensions import lazy_text as _l
from petitions.models import STATUSES
from petitions.moderation.reports import RESOLUTIONS
from petitions.web.fields import LineField, LineSearchField, strip
from petitions.web.i18n import status_name


def _slug(value: str | None) -> str | None:
    """A petition's address, also when its whole URL was pasted."""
    value = strip(value)
    if value and "/petitions/" in value:
        value = value.split("/petitions/", 1)[1].split("/", 1)[0].split("?", 1)[0]
    return value


_REASON = [
    DataRequired(_l("Please give a reason.")),
    Length(max=500, message=_l("Please keep the reason under 500 characters.")),
]
_DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]
_DATETIME_MESSAGE = _l("Please enter a date and time like 2024-05-01T13:00 (UTC).")


class PetitionFilterForm(FlaskForm):
    """Filters of the petition list (GET, no CSRF: it changes nothing)."""

    class Meta:
        csrf = False

    status = SelectField(_l("Status"), validate_choice=False)
    q = LineSearchField(_l("Title or address contains"), filters=[strip], validators=[Optional(), Length(max=100)])
    owner = LineSearchField(_l("Owner's email contains"), filters=[strip], validators=[Optional(), Length(max=254)])
    edited = BooleanField(_l("Only those edited since review"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """The statuses to choose from, in the page's language."""
        super().__init__(*args, **kwargs)
        self.status.choices = [("", _("Any status"))] + [(s, status_name(s)) for s in STATUSES]


class ReasonForm(FlaskForm):
    """A reason, required: hiding and rejecting."""

    reason = TextAreaField(
        _l("Reason"),
        filters=[strip],
        validators=_REASON,
        description=_l("The owner sees this and receives it by email."),
    )


class RestoreForm(FlaskForm):
    """Restoring a hidden petition; the note is for the audit log."""

    note = LineField(
        _l("Note for the log (optional)"),
        filters=[strip],
        validators=[Optional(), Length(max=500, message=_l("Please keep the note under 500 characters."))],
    )


class ResolveReportForm(FlaskForm):
    """Dismiss a report, or hide its petition, with a note; the button pressed gives the resolution."""

    note = TextAreaField(
        _l("Note"),
        filters=[strip],
        validators=[
            DataRequired(_l("Please write a note.")),
            Length(max=400, message=_l("Please keep the note under 400 characters.")),
        ],
        description=_l("Kept in the log. When you hide the petition, its owner reads this as the reason."),
    )
    # Not rendered as a field: each submit button carries its value.
    resolution = HiddenField(validators=[AnyOf(RESOLUTIONS, message=_l("Please choose Dismiss or Hide the petition."))])


class SignatureSearchForm(FlaskForm):
    """Which signatures: sent by GET to preview (no CSRF needed), and again with the invalidation."""

    class Meta:
        csrf = False

    petition = LineField(
        _l("Petition address (slug)"),
        filters=[_slug],
        validators=[Optional(), Length(max=200)],
        description=_l("For example stop-selling-rekognition; a pasted petition link works too."),
    )
    domain = LineField(
        _l("Email domain"),
        filters=[strip],
        validators=[Optional(), Length(max=253)],
        description=_l("Matches the domain and its subdomains: example.org matches mail.example.org too."),
    )
    network = LineField(
        _l("IP network"),
        filters=[strip],
        validators=[Optional(), Length(max=64)],
        description=_l("An address or a network: 203.0.113.7, 203.0.113.0/24 or 2001:db8::/32."),
    )
    created_from = DateTimeLocalField(
        _l("Signed from (UTC)"),
        format=_DATETIME_FORMATS,
        validators=[Optional()],
        description=_l("Signatures made at or after this time."),
    )
    created_before = DateTimeLocalField(
        _l("Signed before (UTC)"),
        format=_DATETIME_FORMATS,
        validators=[Optional()],
        description=_l("Signatures made before this time."),
    )

    def validate(self, extra_validators: Mapping[str, Sequence[Any]] | None = None) -> bool:
        """Validate, replacing WTForms' date message with one that shows the format."""
        ok: bool = super().validate(extra_validators)
        for f in (self.created_from, self.created_before):
            if f.errors:
                f.errors = [_DATETIME_MESSAGE]
        return ok

    def given(self) -> bool:
        """True when any criterion was typed."""
        return any(
            (f.raw_data or [""])[0].strip()
            for f in (self.petition, self.domain, self.network, self.created_from, self.created_before)
        )

    @staticmethod
    def utc(value: datetime | None) -> datetime | None:
        """A time typed in UTC, made aware."""
        return value.replace(tzinfo=UTC) if value is not None else None


class InvalidateForm(SignatureSearchForm):
    """The criteria again (as hidden fields), the number shown in the preview, and the reason; with CSRF."""

    class Meta:
        csrf = True

    expected = IntegerField(widget=HiddenInput(), validators=[Optional(), NumberRange(min=0)])
    reason = TextAreaField(
        _l("Reason for invalidating"),
        filters=[strip],
        validators=_REASON,
        description=_l("Kept with the batch and in the audit log."),
    )


class ReverseForm(FlaskForm):
    """Reversing an invalidation, with a reason."""

    reason = TextAreaField(_l("Reason for reversing"), filters=[strip], validators=_REASON)


class BlockForm(FlaskForm):
    """Block an email domain or an IP network."""

    value = LineField(
        _l("Email domain or IP network"),
        filters=[strip],
        validators=[DataRequired(_l("Give a domain (example.org) or a network (203.0.113.0/24).")), Length(max=253)],
        description=_l("Future signatures from it are kept as suspected and not counted; subdomains are included."),
    )
    reason = LineField(
        _l("Reason"),
        filters=[strip],
        validators=[DataRequired(_l("Please give the reason for the block.")), Length(max=500)],
    )


class PaperRejectForm(FlaskForm):
    """Why a batch of paper signatures is rejected (shown to the campaigner, kept in the audit log)."""

    reason = TextAreaField(_l("Reason"), filters=[strip], validators=_REASON)
