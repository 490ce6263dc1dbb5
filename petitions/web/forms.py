"""Forms more than one blueprint shows: buttons that are only their CSRF token, and a webhook endpoint."""

from flask_wtf import FlaskForm
from wtforms import SelectMultipleField
from wtforms.validators import DataRequired, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from petitions.web.fields import LineField


class ButtonForm(FlaskForm):
    """A form that is only a button (close, reopen, approve, delete): its CSRF token is all it carries."""


class LogoutForm(FlaskForm):
    """Only the CSRF token: signing out is a POST (every page's header carries the button)."""


class WebhookForm(FlaskForm):
    """A webhook endpoint: its URL and the events it receives (campaigners' and admins' pages)."""

    url = LineField(
        "Endpoint URL",
        validators=[DataRequired("Please give the URL to send events to."), Length(max=2000)],
        description="http:// or https://, on a public address. We POST each event as JSON, signed"
        " with the endpoint's secret (Standard Webhooks).",
    )
    events = SelectMultipleField(
        "Events",
        choices={
            "milestone": "Milestones (100, 1,000, ... signatures and the goal)",
            "petition.closed": "The petition closes",
            "petition.responded": "The petition gets a response",
        },
        default=["milestone", "petition.closed", "petition.responded"],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )

    def validate_events(self, field: SelectMultipleField) -> None:
        """At least one event (a validator of its own: DataRequired would mark every box required)."""
        if not field.data:
            raise ValidationError("Choose at least one event.")
