"""Form fields used by more than one form, so each is defined (and worded) once."""

from __future__ import annotations

from typing import Any

from wtforms import EmailField, Field, PasswordField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from .emails import InvalidEmail, canonical_email

VALID_EMAIL = "Please enter a valid email address, like name@example.org."


def strip(value: str | None) -> str | None:
    """A WTForms filter: surrounding spaces are never part of a value."""
    return value.strip() if isinstance(value, str) else value


def valid_email(_form: Any, field: Field) -> None:
    """A WTForms validator: the same syntax check (and its cached answer) that storing the address uses."""
    try:
        canonical_email(field.data or "")
    except InvalidEmail:
        raise ValidationError(VALID_EMAIL) from None


def name_field(label: str = "Your name") -> StringField:
    """A person's name, required, at most 100 characters."""
    return StringField(
        label,
        filters=[strip],
        validators=[DataRequired("Please enter your name."), Length(max=100, message="Please keep your name under 100 characters.")],
        render_kw={"autocomplete": "name"},
    )


def email_field(
    label: str = "Email address", *, required: str = "Please enter your email address.", autocomplete: str = "email", **kw
) -> EmailField:
    """An email address, required and checked for syntax (deliverability is proven by the link we send)."""
    return EmailField(
        label,
        filters=[strip],
        validators=[
            DataRequired(required),
            Length(max=254, message="That email address is too long."),
            valid_email,
        ],
        render_kw={"autocomplete": autocomplete, **kw.pop("render_kw", {})},
        **kw,
    )


def new_password_field(label: str = "Password", *, required: str = "Please choose a password.") -> PasswordField:
    """A password being chosen: at least 10 characters."""
    return PasswordField(
        label,
        validators=[
            DataRequired(required),
            Length(min=10, max=200, message="Please choose a password of at least 10 characters."),
        ],
        description="At least 10 characters.",
        render_kw={"autocomplete": "new-password"},
    )
