"""Forms more than one blueprint shows: buttons that are only their CSRF token, and a webhook endpoint."""

from typing import Any

from flask_wtf import FlaskForm
from wtforms import SelectMultipleField
from wtforms.validators import DataRequired, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from petitions.extensions import lazy_text as _l
from petitions.web.fields import LineField


class ButtonForm(FlaskForm):
    """A form that is only a button (close, reopen, approve, delete): its CSRF token is all it carries."""


class LogoutForm(FlaskForm):
    """Only the CSRF token: signing out is a POST (every page's header carries the button)."""


class WebhookForm(FlaskForm):
    """A webhook endpoint: its URL and the events it receives (campaigners' and admins' pages)."""

    url = LineField(
        _l("Endpoint URL"),
        validators=[DataRequired(_l("Please give the URL to send events to.")), Length(max=2000)],
        description=_l(
            "http:// or https://, on a public address. We POST each event as JSON, signed"
            " with the endpoint's secret (Standard Webhooks)."
        ),
    )
    events = SelectMultipleField(
        _l("Events"),
        default=["milestone", "petition.closed", "petition.responded"],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Given here, as the other forms give theirs: WTForms warns about choices given to the field.
        self.events.choices = [
            ("milestone", _l("Milestones (100, 1,000, ... signatures and the goal)")),
            ("petition.closed", _l("The petition closes")),
            ("petition.responded", _l("The petition gets a response")),
        ]

    def validate_events(self, field: SelectMultipleField) -> None:
        """At least one event (a validator of its own: DataRequired would mark every box required)."""
        if not field.data:
            raise ValidationError(_l("Choose at least one event."))
