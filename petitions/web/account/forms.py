"""Forms of the account settings page.

The settings page holds several forms at once; each has its own prefix, so field names and ids
never clash (the name field is `profile-name`, the email form's password `email-password`, ...).
"""

from typing import Any

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField
from wtforms.validators import DataRequired, Length, ValidationError

from petitions.extensions import lazy_text as _l
from petitions.web.fields import LineField, email_field, name_field, new_password_field, strip
from petitions.web.i18n import language_name, languages

DELETE_WORD = "DELETE"


def _email_field(label: str, *, autocomplete: str) -> EmailField:
    return email_field(label, required=_l("Please enter an email address."), autocomplete=autocomplete)


def _current_password(label: str = _l("Your current password")) -> PasswordField:
    return PasswordField(
        label,
        validators=[DataRequired(_l("Please enter your current password.")), Length(max=200)],
        render_kw={"autocomplete": "current-password"},
    )


def _new_password(label: str = _l("New password")) -> PasswordField:
    return new_password_field(label, required=_l("Please choose a new password."))


class NameForm(FlaskForm):
    """name (prefix `profile`)."""

    name = name_field()


class LanguageForm(FlaskForm):
    """locale: one of LANGUAGES, or empty for the browser's language (prefix `language`)."""

    locale = SelectField(_l("Language of this site"), validate_choice=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Offer the site's languages, each named in itself."""
        super().__init__(*args, **kwargs)
        self.locale.choices = [("", _l("The language your browser asks for"))] + [
            (code, language_name(code)) for code in languages()
        ]


class EmailChangeForm(FlaskForm):
    """new_email, password (prefix `email`)."""

    new_email = _email_field(_l("New email address"), autocomplete="email")
    password = _current_password()


class PasswordChangeForm(FlaskForm):
    """current_password, new_password (prefix `password`)."""

    current_password = _current_password()
    new_password = _new_password()


class DeleteAccountForm(FlaskForm):
    """password, confirm: the word DELETE (prefix `delete`)."""

    password = _current_password()
    confirm = LineField(
        _l("Type %(word)s to confirm", word=DELETE_WORD),
        filters=[strip],
        validators=[DataRequired(_l("Please type %(word)s to confirm.", word=DELETE_WORD))],
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"},
    )

    def validate_confirm(self, field: LineField) -> None:
        """Only the word itself, in capitals, confirms."""
        if field.data != DELETE_WORD:
            raise ValidationError(_("Please type %(word)s in capital letters to confirm.", word=DELETE_WORD))


class CancelForm(FlaskForm):
    """Only the CSRF token: cancelling a pending email change is a POST (prefix `cancel`)."""


class SignOutEverywhereForm(FlaskForm):
    """Only the CSRF token: signing out every other session is a POST (prefix `sessions`)."""
