"""Forms more than one blueprint shows: each is only its CSRF token, behind a button."""

from flask_wtf import FlaskForm


class ButtonForm(FlaskForm):
    """A form that is only a button (close, reopen, approve, delete): its CSRF token is all it carries."""


class LogoutForm(FlaskForm):
    """Only the CSRF token: signing out is a POST (every page's header carries the button)."""
