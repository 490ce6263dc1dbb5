"""Forms of a petition, its updates to signers and its supporter groups."""

from datetime import UTC, date, datetime, time

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, IntegerField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # newer than the types-WTForms stubs
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from petitions.clock import utcnow
from petitions.extensions import lazy_text as _l
from petitions.models.outcome import PAPER_BATCH_MAX
from petitions.models.petition import FIELD_MODES
from petitions.web.fields import LineField, strip


def _ask_field(label: str) -> SelectField:
    """Whether the signing form asks for an extra field: not at all, optionally, or required."""
    return SelectField(
        label,
        choices=[
            SelectChoice("off", _l("Do not ask")),
            SelectChoice("optional", _l("Ask, optional")),
            SelectChoice("required", _l("Ask, required")),
        ],
        default="off",
        validate_choice=False,
        validators=[AnyOf(FIELD_MODES, message=_l("Please choose one of the options."))],
    )


class PetitionTextForm(FlaskForm):
    """title, target, summary, body (Markdown): what readers read, in any language."""

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


class PetitionForm(PetitionTextForm):
    """The text, with the goal, the closing date, and what the signing form asks."""

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

    # Open letters: signers give their organisation and job title, shown beside the names they let us show.
    ask_organisation = _ask_field(_l("Ask signers for their organisation"))
    ask_job_title = _ask_field(_l("Ask signers for their job title"))

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


class TranslationForm(PetitionTextForm):
    """The petition's text in another language (campaigns/translations)."""

    language = SelectField(_l("Language"), choices=[], validate_choice=True)


class LanguageForm(FlaskForm):
    """The language the petition is written in."""

    language = SelectField(_l("The petition is written in"), choices=[], validate_choice=True)


class PaperBatchForm(FlaskForm):
    """A batch of signatures collected on paper: how many, where, when, and a scan if there is one."""

    count = IntegerField(
        _l("Number of signatures"),
        validators=[
            # 0 is an answer (a wrong one), not a missing one: the range says what is wrong with it.
            InputRequired(_l("Please give the number of signatures.")),
            NumberRange(
                min=1,
                max=PAPER_BATCH_MAX,
                message=_l("The number of signatures in one batch must be between 1 and 100,000."),
            ),
        ],
        description=_l("Count the signatures on the sheets of this batch."),
    )
    location = LineField(
        _l("Where they were collected"),
        filters=[strip],
        validators=[
            DataRequired(_l("Please say where the signatures were collected.")),
            Length(max=200, message=_l("Please keep this under 200 characters.")),
        ],
        description=_l('For example "Town hall meeting, Leeds".'),
    )
    collected_on = DateField(
        _l("When they were collected"),
        validators=[DataRequired(_l("Please give the date the signatures were collected."))],
    )
    scan = FileField(
        _l("Scan of the sheets (optional)"),
        description=_l("A PDF, JPEG or PNG file. Only you and the site's administrators can open it."),
    )


class ResponseForm(FlaskForm):
    """The target's response, the day it came, and whether the petition won."""

    text = TextAreaField(
        _l("The response"),
        validators=[
            DataRequired(_l("Please write the response.")),
            Length(max=20000, message=_l("Please keep the response under 20,000 characters.")),
        ],
        description=_l("Markdown: **bold**, *italic*, [links](https://example.org), lists. No HTML."),
    )
    responded_on = DateField(
        _l("Date of the response"),
        validators=[DataRequired(_l("Please give the date of the response."))],
    )
    won = BooleanField(
        _l("The petition has won"),
        description=_l("Shows the petition as won and tells the signers who asked for updates."),
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
