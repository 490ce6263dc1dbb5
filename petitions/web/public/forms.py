"""The signing form and the confirmation button."""

from __future__ import annotations

from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from petitions.extensions import lazy_text as _l
from petitions.infra.countries import countries, is_country
from petitions.models.signature import JOB_TITLE_MAX, ORGANISATION_MAX
from petitions.moderation.abuse import is_disposable
from petitions.signatures.mailboxes import canonical_email
from petitions.web.fields import LineField, email_field, name_field, strip, valid_email


class SignForm(FlaskForm):
    """Name, email, country, and the optional rest; the field names are in CONTRACT.md.

    Its CSRF token is checked once, by CSRFProtect before the view runs (a failure comes
    back as the filled-in form, see errors.handle_csrf), and the page puts the token in
    with csrf_token(): the form itself neither checks it a second time nor signs a new one
    for a POST that is not shown again, the hottest request there is.
    """

    class Meta:
        csrf = False

    name = name_field()
    email = email_field(
        description=_l("We email you a link to confirm. It is never shown publicly."), render_kw={"inputmode": "email"}
    )
    country = SelectField(_l("Country"), validate_choice=False, render_kw={"autocomplete": "country"})
    postcode = LineField(
        _l("Postcode (optional)"),
        filters=[strip],
        validators=[
            Optional(),
            Length(max=16, message=_l("Please keep the postcode under 16 characters.")),
            Regexp(
                r"^[A-Za-z0-9][A-Za-z0-9 -]*$", message=_l("A postcode has only letters, digits, spaces and dashes.")
            ),
        ],
        render_kw={"autocomplete": "postal-code"},
    )
    comment = TextAreaField(
        _l("Why are you signing? (optional)"),
        filters=[strip],
        validators=[Optional(), Length(max=500, message=_l("Please keep your comment under 500 characters."))],
    )
    # Asked only when the petition asks for them (see ask()): an open letter's signers say where they work.
    organisation = LineField(
        _l("Organisation"),
        filters=[strip],
        validators=[Length(max=ORGANISATION_MAX, message=_l("Please keep the organisation under 100 characters."))],
        description=_l("Shown beside your name only if you choose to show your name."),
        render_kw={"autocomplete": "organization"},
    )
    job_title = LineField(
        _l("Job title"),
        filters=[strip],
        validators=[Length(max=JOB_TITLE_MAX, message=_l("Please keep the job title under 100 characters."))],
        description=_l("Shown beside your name only if you choose to show your name."),
        render_kw={"autocomplete": "organization-title"},
    )
    show_name = BooleanField(_l("Show my name on the petition"))
    updates = BooleanField(_l("Email me updates about this campaign"))
    # No person sees or fills these: a honeypot, and when the form was shown (signed).
    website = LineField(_l("Leave this field empty"), render_kw={"tabindex": "-1", "autocomplete": "off"})
    started = HiddenField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Fill the country list."""
        super().__init__(*args, **kwargs)
        # The extra fields the petition asks for, by field name (see ask()): none until told.
        self.asked: dict[str, bool] = {"organisation": False, "job_title": False}
        # Named in the page's language and sorted by those names (Babel's CLDR names).
        self.country.choices = [("", _("Choose your country"))] + countries(str(get_locale() or "en"))

    def ask(self, petition: Any) -> SignForm:
        """Ask for the extra fields as the petition says (its ask_organisation, ask_job_title: a
        Petition or the signing view's light row); a field it does not ask for is neither shown
        nor validated, and whatever a request sends in it is dropped. Returns the form."""
        extras = (
            (
                self.organisation,
                petition.ask_organisation,
                _l("Organisation (optional)"),
                _l("Please give your organisation."),
            ),
            (self.job_title, petition.ask_job_title, _l("Job title (optional)"), _l("Please give your job title.")),
        )
        for field, mode, optional_label, missing in extras:
            self.asked[field.name] = mode != "off"
            if mode == "required":
                field.validators = [DataRequired(missing), *field.validators]
                field.flags.required = True
            elif mode == "optional":
                field.validators = [Optional(), *field.validators]
                field.label.text = optional_label
            else:
                field.validators = []
                field.data = None
        return self

    def asked_value(self, field: LineField) -> str | None:
        """The value of an extra field the petition asks for, None when empty or not asked for."""
        return (field.data or None) if self.asked.get(field.name) else None

    def validate_email(self, field: EmailField) -> None:
        """Throwaway mailboxes cannot confirm anything lasting; ask for a real one."""
        try:
            domain = canonical_email(field.data or "").rpartition("@")[2]
        except ValueError:
            return  # the Email validator says what is wrong
        if domain and is_disposable(domain):
            raise ValidationError(_("Please use a permanent email address: throwaway mailboxes are not accepted."))

    def validate_country(self, field: SelectField) -> None:
        """Only assigned ISO 3166-1 alpha-2 codes."""
        code = (field.data or "").strip().upper()
        if not code:
            raise ValidationError(_("Please choose your country."))
        if not is_country(code):
            raise ValidationError(_("Please choose a country from the list."))
        field.data = code


class ConfirmForm(FlaskForm):
    """The one button on the confirmation page; only its CSRF token is checked."""


class MyDataForm(FlaskForm):
    """The address whose signatures to show."""

    email = EmailField(
        _l("Email address you signed with"),
        filters=[strip],
        validators=[DataRequired(_l("Please enter your email address.")), Length(max=254), valid_email],
        render_kw={"autocomplete": "email"},
    )
