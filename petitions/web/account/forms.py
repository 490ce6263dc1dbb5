"""Forms of the account settings page.

The settings page holds several forms at once; each has its own prefix, so field names and ids
never clash (the name field is `profile-name`, the email form's password `email-password`, ...).
"""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length, ValidationError

from petitions.web.fields import LineField, email_field, name_field, new_password_field, strip

DELETE_WORD = "DELETE"


def _email_field(label: str, *, autocomplete: str) -> EmailField:
    return email_field(label, required="Please enter an email address.", autocomplete=autocomplete)


def _current_password(label: str = "Your current password") -> PasswordField:
    return PasswordField(
        label,
        validators=[DataRequired("Please enter your current password."), Length(max=200)],
        render_kw={"autocomplete": "current-password"},
    )


def _new_password(label: str = "New password") -> PasswordField:
    return new_password_field(label, required="Please choose a new password.")


class NameForm(FlaskForm):
    """name (prefix `profile`)."""

    name = name_field()


class EmailChangeForm(FlaskForm):
    """new_email, password (prefix `email`)."""

    new_email = _email_field("New email address", autocomplete="email")
    password = _current_password()


class PasswordChangeForm(FlaskForm):
    """current_password, new_password (prefix `password`)."""

    current_password = _current_password()
    new_password = _new_password()


class DeleteAccountForm(FlaskForm):
    """password, confirm: the word DELETE (prefix `delete`)."""

    password = _current_password()
    confirm = LineField(
        f"Type {DELETE_WORD} to confirm",
        filters=[strip],
        validators=[DataRequired(f"Please type {DELETE_WORD} to confirm.")],
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"},
    )

    def validate_confirm(self, field: LineField) -> None:
        """Only the word itself, in capitals, confirms."""
        if field.data != DELETE_WORD:
            raise ValidationError(f"Please type {DELETE_WORD} in capital letters to confirm.")


class CancelForm(FlaskForm):
    """Only the CSRF token: cancelling a pending email change is a POST (prefix `cancel`)."""


class SignOutEverywhereForm(FlaskForm):
    """Only the CSRF token: signing out every other session is a POST (prefix `sessions`)."""
