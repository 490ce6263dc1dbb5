"""Forms of a petition, its updates to signers and its supporter groups."""

from datetime import UTC, date, datetime, time

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, IntegerField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from petitions.clock import utcnow
from petitions.extensions import lazy_text as _l
from petitions.web.fields import LineField, strip


class PetitionForm(FlaskForm):
    """title, target, summary, body (Markdown), goal, closes_at."""

    title = LineField(
        _l("Title"),
        filters=[strip],
        validators=[
            DataRequired(_l("Please give the petition a title.")),
            Length(min=5, max=150, message=_l("The title must be 5 to 150 characters.")),
        ],
        description=_l('What you ask for, in a few words: "Stop selling face recognition to governments".'),
    )
    target = LineField(
        _l("Addressed to"),
        filters=[strip],
        validators=[
            DataRequired(_l("Please say to whom the petition is addressed.")),
            Length(max=150, message=_l("Please keep this under 150 characters.")),
        ],
        description=_l('Who can make the change: "Amazon\'s board of directors".'),
    )
    summary = TextAreaField(
        _l("Summary"),
        filters=[strip],
        validators=[
            DataRequired(_l("Please write a short summary.")),
            Length(max=500, message=_l("Please keep the summary under 500 characters.")),
        ],
        description=_l("One or two sentences shown in lists and when the petition is shared."),
    )
    body = TextAreaField(
        _l("The petition"),
        validators=[
            DataRequired(_l("Please write the petition's text.")),
            Length(max=20000, message=_l("Please keep the text under 20,000 characters.")),
        ],
        description=_l("Markdown: **bold**, *italic*, [links](https://example.org), lists."),
    )
    goal = IntegerField(
        _l("Signature goal"),
        default=1000,
        validators=[
            DataRequired(_l("Please set a goal, a whole number of signatures.")),
            NumberRange(min=1, max=100_000_000, message=_l("The goal must be between 1 and 100,000,000.")),
        ],
    )
    auto_raise_goal = BooleanField(
        _l("Raise the goal when it is reached"),
        description=_l(
            "When the count reaches the goal, the goal moves up to the next round number"
            " (for example from 1,000 to 2,000) and you get an email."
        ),
    )
    closes_at = DateField(
        _l("Closing date (optional)"),
        validators=[Optional()],
        description=_l("The petition closes at the end of this day (UTC). Leave empty to keep it open."),
    )

    def validate_closes_at(self, field: DateField) -> None:
        """A closing date must be in the future."""
        if field.data is not None and field.data < utcnow().date():
            raise ValidationError(_("The closing date must be today or later."))

    def closes_at_utc(self) -> datetime | None:
        """The end of the chosen day, in UTC."""
        day: date | None = self.closes_at.data
        if day is None:
            return None
        return datetime.combine(day, time.max, tzinfo=UTC).replace(microsecond=0)


class UpdateForm(FlaskForm):
    """An email to the signers who asked for updates."""

    subject = LineField(
        _l("Subject"),
        filters=[strip],
        validators=[
            DataRequired(_l("Please write a subject.")),
            Length(max=150, message=_l("Please keep the subject under 150 characters.")),
        ],
    )
    body = TextAreaField(
        _l("Message"),
        validators=[
            DataRequired(_l("Please write the message.")),
            Length(max=20000, message=_l("Please keep the message under 20,000 characters.")),
        ],
        description=_l(
            "Markdown. Every email carries a link to stop updates; signer addresses are never shown to you."
        ),
    )


class GroupForm(FlaskForm):
    """A supporter group and its email domains."""

    name = LineField(
        _l("Group name"),
        filters=[strip],
        validators=[
            DataRequired(_l("Please name the group.")),
            Length(max=80, message=_l("Please keep the name under 80 characters.")),
        ],
        description=_l('Shown beside the count: "Amazon employees".'),
    )
    domains = TextAreaField(
        _l("Email domains"),
        validators=[DataRequired(_l("Please give at least one email domain.")), Length(max=5000)],
        description=_l("Separated by commas or new lines, e.g. amazon.com, aws.com. Subdomains count too."),
    )


class ImageForm(FlaskForm):
    """A petition's picture and what it shows, in words (its alt text)."""

    image = FileField(
        _l("Picture"),
        description=_l(
            "A JPEG, PNG or WebP picture, at most %(size)s. Shown at the top of the petition and when it is shared;"
            " a wide picture (1200 × 630 pixels or larger) looks best."
        ),
        render_kw={"accept": "image/jpeg,image/png,image/webp"},
    )
    alt = LineField(
        _l("What the picture shows"),
        filters=[strip],
        validators=[
            DataRequired(_l("Please describe the picture in a few words, for people who cannot see it.")),
            Length(max=300, message=_l("Please keep the description under 300 characters.")),
        ],
        description=_l(
            'Read aloud to people who cannot see the picture: "Protesters holding a banner outside the town hall".'
        ),
    )
