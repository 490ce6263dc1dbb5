"""Form fields used by more than one form, so each is defined (and worded) once."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from wtforms import EmailField, Field, PasswordField, StringField
from wtforms.validators import DataRequired, Length, ValidationError
from wtforms.widgets import SearchInput

from petitions.extensions import lazy_text as _l
from petitions.infra.text import one_line
from petitions.signatures.mailboxes import InvalidEmail, canonical_email

VALID_EMAIL = _l("Please enter a valid email address, like name@example.org.")


_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)


class _Field(Protocol[_T_co]):
    name: str

    @property
    def data(self) -> _T_co | None: ...


def required_value(field: _Field[_T]) -> _T:
    """The value of a field that a validator requires (DataRequired, AnyOf), once its form has validated.

    WTForms types every field's value as optional, since it is None until the form is filled in;
    after validation a required field's is not, and this says so to the type checker.
    """
    value = field.data
    if value is None:
        raise RuntimeError(f"the form's {field.name} field has no value: validate the form first")
    return value


def strip(value: str | None) -> str | None:
    """A WTForms filter: surrounding spaces are never part of a value."""
    return value.strip() if isinstance(value, str) else value


class LineField(StringField):
    """A one-line text field (a name, a title, a postcode): whatever a request sends, its value holds
    no line break and no other control character (see text.one_line), so it can never add a line
    to an email, a header or an export. Every one-line field of every form is one of these."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        """Read the submitted value, then fold it onto one line (before any filter or validator)."""
        super().process_formdata(valuelist)
        if isinstance(self.data, str):
            self.data = one_line(self.data)


class LineSearchField(LineField):
    """A LineField shown as a search box."""

    widget = SearchInput()


def valid_email(_form: Any, field: Field) -> None:
    """A WTForms validator: the same syntax check (and its cached answer) that storing the address uses."""
    try:
        canonical_email(field.data or "")
    except InvalidEmail:
        raise ValidationError(VALID_EMAIL) from None


def name_field(label: str = _l("Your name")) -> LineField:
    """A person's name, on one line, required, at most 100 characters."""
    return LineField(
        label,
        filters=[strip],
        validators=[
            DataRequired(_l("Please enter your name.")),
            Length(max=100, message=_l("Please keep your name under 100 characters.")),
        ],
        render_kw={"autocomplete": "name"},
    )


def email_field(
    label: str = _l("Email address"),
    *,
    required: str = _l("Please enter your email address."),
    autocomplete: str = "email",
    **kw: Any,
) -> EmailField:
    """An email address, required and checked for syntax (deliverability is proven by the link we send)."""
    return EmailField(
        label,
        filters=[strip],
        validators=[
            DataRequired(required),
            Length(max=254, message=_l("That email address is too long.")),
            valid_email,
        ],
        render_kw={"autocomplete": autocomplete, **kw.pop("render_kw", {})},
        **kw,
    )


def new_password_field(
    label: str = _l("Password"), *, required: str = _l("Please choose a password.")
) -> PasswordField:
    """A password being chosen: at least 10 characters."""
    return PasswordField(
        label,
        validators=[
            DataRequired(required),
            Length(min=10, max=200, message=_l("Please choose a password of at least 10 characters.")),
        ],
        description=_l("At least 10 characters."),
        render_kw={"autocomplete": "new-password"},
    )
