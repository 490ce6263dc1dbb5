"""One-line fields stay on one line: a name or a title cannot write lines into an email.

The attack: sign with the name "Eve\\nBcc: …" (a browser's text box cannot hold a line break,
a crafted POST can) and the confirmation email reads "Hello Eve" then a line of the
attacker's choosing. Every one-line field of every form folds line breaks and other control
characters into spaces, and the email templates fold names and titles again, for rows stored
before.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from flask_wtf import FlaskForm
from sqlalchemy import select, update
from wtforms import EmailField, HiddenField, PasswordField, StringField, TextAreaField
from wtforms.fields.core import UnboundField

import petitions
from petitions.clock import utcnow
from petitions.extensions import db
from petitions.infra import mail
from petitions.infra.text import one_line
from petitions.models import Petition, PetitionUpdate, Signature, SupporterGroup, User
from petitions.signatures import confirming, signing
from petitions.signatures.mailboxes import InvalidEmail, canonical_email
from petitions.web.fields import LineField
from tests.helpers import body_of, csrf_from, deliver, login, make_petition, make_user, post_form, sign_form

INJECTED = "Eve\r\nBcc: mallory@example.org\n\nYour signature is void, sign again at http://evil.example/"
FOLDED = "Eve Bcc: mallory@example.org Your signature is void, sign again at http://evil.example/"
# Fields that are not one line of text: multi-line text, passwords (never shown, never
# stored as typed), and hidden fields that carry a signed stamp or a choice among known values.
NOT_ONE_LINE = (TextAreaField, PasswordField, HiddenField)


def all_form_classes() -> list[type[FlaskForm]]:
    """Every form class of the application, after importing every module of the package."""
    for module in pkgutil.walk_packages(petitions.__path__, "petitions."):
        importlib.import_module(module.name)
    found, todo = [], list(FlaskForm.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_one_line_field_of_every_form_folds_line_breaks() -> None:
    plain = []
    forms = all_form_classes()
    assert len(forms) > 15
    for form in forms:
        for name in dir(form):
            field = getattr(form, name, None)
            if not isinstance(field, UnboundField) or not issubclass(field.field_class, StringField):
                continue
            if issubclass(field.field_class, (LineField, *NOT_ONE_LINE)):
                continue
            if issubclass(field.field_class, EmailField):
                continue  # every address is parsed before use, which refuses it (below)
            plain.append(f"{form.__module__}.{form.__name__}.{name} ({field.field_class.__name__})")
    assert plain == []


@pytest.mark.parametrize(
    "address",
    [
        "a\n@example.org",
        "a@example.org\nBcc: b@example.org",
        '"a\r\nb"@example.org',
        "a\x0b@example.org",
        "a\u2028@example.org",
    ],
)
def test_an_email_address_with_a_line_break_or_control_character_is_refused(address: str) -> None:
    with pytest.raises(InvalidEmail):
        canonical_email(address)


def test_one_line_folds_every_kind_of_line_break_and_control_character() -> None:
    assert one_line(INJECTED) == FOLDED
    assert one_line("a\tb\x0bc\x0cd\x85e\u2028f\u2029g\x1b[31mh\x7fi") == "a b c d e f g [31mh i"
    assert one_line("Zoë  Ng") == "Zoë  Ng"  # ordinary spaces stay as typed
    assert one_line("Pourquoi\u00a0?") == "Pourquoi\u00a0?"  # so does a no-break space
    assert one_line("José 🙂 ‏مريم") == "José 🙂 ‏مريم"


def test_a_signers_name_with_line_breaks_stays_on_one_line_in_the_email_they_receive(app, client, mailbox) -> None:
    with app.app_context():
        slug = make_petition().slug
    response = sign_form(client, slug, name=INJECTED, email="eve@example.org", postcode="AB1\n2CD")
    assert response.status_code == 303
    with app.app_context():
        signature = db.session.scalar(select(Signature))
        assert (signature.name, signature.postcode) == (FOLDED, "AB1 2CD")
    deliver(app)
    (message,) = mailbox.to("eve@example.org")
    lines = body_of(message).splitlines()
    assert lines[0] == f"Hello {FOLDED},"
    assert not any(line.startswith(("Bcc:", "Your signature is void")) for line in lines)
    assert message["Bcc"] is None and "mallory@example.org" not in str(message["To"])


def test_names_and_titles_stored_with_line_breaks_are_folded_in_every_email(app, client, mailbox) -> None:
    """Rows written before the forms folded (or by other code) still give one-line greetings and titles."""
    with app.app_context():
        owner = make_user("owner@example.org")
        petition = make_petition(owner)
        db.session.execute(update(Petition).values(title="Stop\nBcc: x@example.org"))
        db.session.execute(update(User).values(name=INJECTED))
        db.session.commit()
        petition = db.session.get(Petition, petition.id)
        signing.sign(petition, signing.SignatureData(INJECTED, "eve@example.org", "GB"), now=utcnow(), ip=None)
        db.session.commit()
    post_form(client, "/forgot-password", {"email": "owner@example.org"})
    deliver(app)
    (confirm,) = mailbox.to("eve@example.org")
    assert body_of(confirm).splitlines()[:3] == [
        f"Hello {FOLDED},",
        "",
        'Thank you for signing "Stop Bcc: x@example.org".',
    ]
    html = confirm.get_body(("html",)).get_content()
    assert f"<p>Hello {FOLDED},</p>" in html
    (reset,) = mailbox.to("owner@example.org")
    assert body_of(reset).splitlines()[0] == f"Hello {FOLDED},"


def test_a_line_break_in_a_title_cannot_stall_the_mail(app, ctx, mailbox) -> None:
    petition = make_petition(title="Save it\r\nBcc: everyone@example.org")
    for i in range(3):
        signing.sign(petition, signing.SignatureData("A", f"s{i}@example.org", "GB"), now=utcnow(), ip=None)
    db.session.commit()
    assert mail.drain() == (3, 0)
    assert all("\n" not in m["Subject"] and m["Bcc"] is None for m in mailbox.messages)


def test_campaigner_forms_fold_line_breaks_in_names_titles_and_subjects(app, client) -> None:
    with app.app_context():
        make_user()
    assert (
        post_form(
            client, "/register", {"name": "Rae\nBcc: x", "email": "rae@example.org", "password": "a long password"}
        ).status_code
        == 303
    )
    assert login(client).status_code == 303
    token = csrf_from(client.get("/account/settings").text)
    assert (
        client.post(
            "/account/name", data={"profile-name": "Casey\r\nCampaigner", "profile-csrf_token": token}
        ).status_code
        == 303
    )
    created = post_form(
        client,
        "/petitions/new",
        {
            "title": "Stop\nselling Rekognition",
            "target": "Amazon's\r\nboard",
            "summary": "A summary.",
            "body": "Line one.\n\nLine two.",
            "goal": "100",
        },
    )
    assert created.status_code == 303
    slug = created.headers["Location"].rsplit("/", 1)[1]
    assert (
        post_form(
            client, f"/account/petitions/{slug}/groups", {"name": "Amazon\nemployees", "domains": "amazon.com"}
        ).status_code
        == 303
    )
    with app.app_context():
        petition = db.session.scalar(select(Petition))
        confirming.confirm(
            signing.sign(
                petition, signing.SignatureData("Sam", "sam@example.org", "GB", updates=True), now=utcnow(), ip=None
            ),
            now=utcnow(),
        )
        db.session.commit()
    sent = post_form(
        client, f"/account/petitions/{slug}/updates", {"subject": "News\r\nBcc: x@example.org", "body": "Hello\n\nall"}
    )
    assert sent.status_code == 303
    with app.app_context():
        names = dict(db.session.execute(select(User.email, User.name)).all())
        assert names == {"campaigner@example.org": "Casey Campaigner", "rae@example.org": "Rae Bcc: x"}
        petition = db.session.scalar(select(Petition))
        assert (petition.title, petition.target, petition.body) == (
            "Stop selling Rekognition",
            "Amazon's board",
            "Line one.\n\nLine two.",
        )
        assert db.session.scalar(select(SupporterGroup.name)) == "Amazon employees"
        update_row = db.session.scalar(select(PetitionUpdate))
        assert (update_row.subject, update_row.body) == ("News Bcc: x@example.org", "Hello\n\nall")
