"""Open letters: a petition asks its signers for an organisation and a job title, off, optional or required.

The fields are shown only when asked for, hold one line each (folded like the name), are
length-limited with a clear error and nothing stored, and signing with them sends the very
same statements as signing without them.
"""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from petitions.extensions import db
from petitions.models import Petition, PetitionRevision, Signature
from tests.helpers import csrf_from, is_postgres, login, make_petition, make_user, post_form, sign_form, started_from

ORG_INPUT = 'name="organisation"'
TITLE_INPUT = 'name="job_title"'


def petition_asking(app, organisation: str = "off", job_title: str = "off") -> str:
    """A new open petition whose signing form asks as told; its slug."""
    with app.app_context():
        petition = make_petition()
        petition.ask_organisation, petition.ask_job_title = organisation, job_title
        db.session.commit()
        return petition.slug


def stored(app) -> list[tuple[str, str | None, str | None]]:
    with app.app_context():
        return [
            tuple(r) for r in db.session.execute(select(Signature.name, Signature.organisation, Signature.job_title))
        ]


def test_fields_not_asked_for_are_neither_shown_nor_stored(app, client) -> None:
    slug = petition_asking(app)
    page = client.get(f"/petitions/{slug}").text
    assert ORG_INPUT not in page and TITLE_INPUT not in page
    # a crafted POST sends them anyway: dropped
    assert sign_form(client, slug, organisation="Acme", job_title="Boss").status_code == 303
    assert stored(app) == [("Sam Signer", None, None)]


def test_optional_fields_are_shown_as_optional_and_may_stay_empty(app, client) -> None:
    slug = petition_asking(app, "optional", "optional")
    page = client.get(f"/petitions/{slug}").text
    assert ORG_INPUT in page and TITLE_INPUT in page
    assert "Organisation (optional)" in page and "Job title (optional)" in page
    assert "Shown beside your name only if you choose to show your name." in page
    assert sign_form(client, slug, email="a@example.org", name="Ann").status_code == 303
    response = sign_form(
        client, slug, email="b@example.org", name="Bea", organisation="  Acme Ltd ", job_title="Engineer"
    )
    assert response.status_code == 303
    assert sorted(stored(app)) == [("Ann", None, None), ("Bea", "Acme Ltd", "Engineer")]


def test_a_required_field_left_empty_gets_a_clear_error_and_nothing_is_stored(app, client) -> None:
    slug = petition_asking(app, "required", "optional")
    page = client.get(f"/petitions/{slug}").text
    assert 'autocomplete="organization" id="organisation" maxlength="100" name="organisation" required' in page
    assert "Job title (optional)" in page
    response = sign_form(client, slug, organisation="   ")
    assert response.status_code == 422
    assert "Please give your organisation." in response.text
    assert stored(app) == []
    assert sign_form(client, slug, organisation="Acme").status_code == 303
    assert stored(app) == [("Sam Signer", "Acme", None)]


def test_required_job_title(app, client) -> None:
    slug = petition_asking(app, "off", "required")
    response = sign_form(client, slug)
    assert response.status_code == 422 and "Please give your job title." in response.text
    assert ORG_INPUT not in response.text
    assert stored(app) == []


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("organisation", "Please keep the organisation under 100 characters."),
        ("job_title", "Please keep the job title under 100 characters."),
    ],
)
def test_too_long_gets_a_clear_error_and_nothing_is_stored(app, client, field, message) -> None:
    slug = petition_asking(app, "optional", "required")
    fields = {"organisation": "Acme", "job_title": "Engineer", field: "x" * 101}
    response = sign_form(client, slug, **fields)
    assert response.status_code == 422
    assert message in response.text
    assert "x" * 101 not in response.text  # the page gives back no more than the field allows
    assert stored(app) == []
    fields[field] = "x" * 100
    assert sign_form(client, slug, **fields).status_code == 303
    assert len(stored(app)) == 1


def test_line_breaks_and_control_characters_fold_onto_one_line_like_the_name(app, client) -> None:
    slug = petition_asking(app, "optional", "optional")
    response = sign_form(
        client, slug, organisation="Acme\r\nBcc: mallory@example.org", job_title="Chief\x0bof\tstaff\x1b[31m"
    )
    assert response.status_code == 303
    assert stored(app) == [("Sam Signer", "Acme Bcc: mallory@example.org", "Chief of staff [31m")]


def test_a_nul_byte_is_refused_with_a_clear_page_and_nothing_stored(app, client) -> None:
    slug = petition_asking(app, "optional", "optional")
    response = sign_form(client, slug, organisation="Acme\x00Ltd")
    assert response.status_code == 400
    assert stored(app) == []


def test_the_campaigner_chooses_the_fields_and_they_apply_at_once_without_review(app, client) -> None:
    """Under MODERATION=pre an edit of a public petition's text waits for review; the asked fields
    are the site's own, like the goal, and apply at once."""
    app.config["MODERATION"] = "pre"
    with app.app_context():
        make_user()
    assert login(client).status_code == 303
    fields = {
        "title": "An open letter to our board",
        "target": "The board",
        "summary": "We, the employees, ask.",
        "body": "Text.",
        "goal": "100",
        "ask_organisation": "required",
        "ask_job_title": "optional",
    }
    created = post_form(client, "/petitions/new", fields)
    assert created.status_code == 303
    slug = created.headers["Location"].rsplit("/", 1)[1]
    with app.app_context():
        petition = db.session.scalar(select(Petition))
        assert (petition.ask_organisation, petition.ask_job_title) == ("required", "optional")
        petition.status, petition.opened_at = "open", petition.created_at  # approved
        db.session.commit()
    edit = client.get(f"/petitions/{slug}/edit").text
    assert '<option selected value="required">Ask, required</option>' in edit
    bad = post_form(client, f"/petitions/{slug}/edit", {**fields, "ask_job_title": "sometimes"})
    assert bad.status_code == 422 and "Please choose one of the options." in bad.text
    with app.app_context():
        assert db.session.scalar(select(Petition.ask_job_title)) == "optional"
    saved = post_form(client, f"/petitions/{slug}/edit", {**fields, "ask_organisation": "off"})
    assert saved.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Petition.ask_organisation)) == "off"
        assert db.session.scalar(select(func.count()).select_from(PetitionRevision)) == 0  # nothing queued


def test_signing_with_the_fields_sends_the_same_statements_as_without(app, client, monkeypatch) -> None:
    """The hot path: the fields' settings come with the cached light row of the petition, and the
    values go into the one INSERT; no statement is added, on either database."""
    from sqlalchemy.engine import Engine

    from petitions.infra.database import AutocommitStatement

    # The light rows stay cached for the whole test, however slow the machine: a row re-read after
    # its second would be one more statement whichever petition it was, and hide nothing here.
    app.config["PETITION_CACHE_SECONDS"] = 3600
    plain = petition_asking(app)
    letter = petition_asking(app, "required", "required")
    sent: list[str] = []

    def before(conn, cursor, statement, *args):
        sent.append(statement)

    run_alone = AutocommitStatement.first

    def first_recorded(self, params):  # the hot writes go to the driver without SQLAlchemy's events
        sent.append(str(self.statement.compile(dialect=db.engine.dialect)))
        return run_alone(self, params)

    monkeypatch.setattr(AutocommitStatement, "first", first_recorded)

    def statements_of(slug: str, email: str, **fields) -> list[str]:
        page = client.get(f"/petitions/{slug}").text
        data = {
            "name": "Sam",
            "email": email,
            "country": "GB",
            "csrf_token": csrf_from(page),
            "started": started_from(page),
            **fields,
        }
        sent.clear()
        event.listen(Engine, "before_cursor_execute", before)
        try:
            assert client.post(f"/petitions/{slug}/sign", data=data).status_code == 303
        finally:
            event.remove(Engine, "before_cursor_execute", before)
        return list(sent)

    statements_of(plain, "warm1@example.org")  # the light rows cached, statements compiled
    statements_of(letter, "warm2@example.org", organisation="Acme", job_title="Engineer")
    without = statements_of(plain, "sam@example.org")
    with_fields = statements_of(letter, "sam@example.org", organisation="Acme", job_title="Engineer")
    assert with_fields == without
    # As many as a signing sent before the fields existed: on PostgreSQL the one statement that
    # signs; on SQLite the transaction's BEGIN, the stamp, the signature and its email.
    assert len(without) == (1 if is_postgres(app) else 4), without
    assert any("organisation" in s and "INSERT INTO signatures" in s for s in with_fields)
    with app.app_context():
        assert (
            db.session.scalar(
                select(Signature.organisation).where(
                    Signature.email == "sam@example.org", Signature.organisation.is_not(None)
                )
            )
            == "Acme"
        )
