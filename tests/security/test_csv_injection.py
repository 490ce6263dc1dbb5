"""CSV injection: no cell of the signatures export runs as a formula, whatever separator opens it.

A spreadsheet set to ";" (the default in much of Europe) or to tabs splits our rows inside
quoted values, so "Bob;=1+1" would give a cell "=1+1". The export quotes every field and
puts an apostrophe before every place where a cell could start with a formula character.
"""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from petitions.campaigns import exports
from petitions.clock import utcnow
from petitions.extensions import db
from petitions.models import Signature
from petitions.signatures import confirming
from tests.helpers import login, make_petition, make_user, sign_form

OWNER = "owner@example.org"
FORMULA = ("=", "+", "-", "@")
SEPARATORS = (";", ",", "\t")

# What an attacker types into the signing form (it accepts all of these).
TYPED = [
    {"name": "Bob;=1+1", "comment": "plain", "organisation": '=HYPERLINK("http://x.example")', "job_title": "-2+3"},
    {
        "name": "Eve",
        "comment": "fine; -2+3+cmd|' /C calc'!A0",
        "organisation": "Acme; @SUM(A1)",
        "job_title": "+1 boss",
    },
    {"name": "Mal,@SUM(A1:A9)", "comment": 'quote;"=HYPERLINK(""http://x.example"")'},
    {"name": "Lines", "comment": "first line\n=1+1\n  +2\n@3"},
    {"name": "Spaces", "comment": "x;   =1+1"},
]  # five: a sixth signing from one address in ten minutes would be kept as suspected, not exported
# What rows from elsewhere (an import, old data) may hold in the fields the form checks.
STORED = {"country": "=1", "postcode": "-1;@2", "email": "=x;+y@example.org", "name": "Tab\t=1+1"}


def runnable(cell: str) -> bool:
    """True when a spreadsheet could take the cell as a formula (spaces and quotes are trimmed by some)."""
    return cell[:1] in ("\t", "\r") or cell.lstrip(' \t\r\n"')[:1] in FORMULA


def cells(text: str, delimiter: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) for cell in row]


@pytest.fixture
def export(app) -> str:
    """The owner's export (with emails) of a petition the attacker signed through the form."""
    app.config["EXPORT_INCLUDE_EMAIL"] = True
    with app.app_context():
        petition = make_petition(make_user(OWNER))
        petition.ask_organisation = petition.ask_job_title = "optional"  # an open letter's extra fields
        db.session.commit()
        slug = petition.slug
    for i, fields in enumerate(TYPED):
        assert sign_form(app.test_client(), slug, email=f"s{i}@example.org", **fields).status_code == 303
    with app.app_context():
        rows = db.session.scalars(select(Signature).order_by(Signature.id)).all()
        assert len(rows) == len(TYPED)
        for row in rows:
            confirming.confirm(row, now=utcnow())
        rows[0].country, rows[0].postcode, rows[0].email = STORED["country"], STORED["postcode"], STORED["email"]
        rows[3].name = STORED["name"]
        db.session.commit()
    client = app.test_client()
    assert login(client, OWNER).status_code == 303
    response = client.get(f"/petitions/{slug}/signatures.csv?include=email")
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.mark.parametrize("delimiter", SEPARATORS)
def test_no_cell_starts_a_formula_whatever_the_separator(export, delimiter) -> None:
    found = cells(export, delimiter)
    assert len(found) > len(TYPED)
    assert [c for c in found if runnable(c)] == []


def test_every_field_is_quoted_and_the_values_survive_a_comma_reader(export) -> None:
    rows = list(csv.reader(io.StringIO(export, newline="")))
    assert rows[0] == ["name", "country", "postcode", "comment", "confirmed_at", "organisation", "job_title", "email"]
    assert export.startswith(
        '"name","country","postcode","comment","confirmed_at","organisation","job_title","email"\r\n'
    )
    assert '"Bob;\'=1+1","\'=1","\'-1;\'@2","plain"' in export
    # Read as intended, each value is what was typed, with an apostrophe before each cell start.
    assert [r[0] for r in rows[1:]] == ["Bob;'=1+1", "Eve", "Mal,'@SUM(A1:A9)", "Tab\t'=1+1", "Spaces"]
    assert rows[2][3] == "fine;' -2+3+cmd|' /C calc'!A0"
    assert rows[4][3] == "first line\n'=1+1\n'  +2\n'@3"
    assert rows[5][3] == "x;'   =1+1"
    assert rows[1][7] == "'=x;'+y@example.org"
    assert rows[1][5:7] == ['\'=HYPERLINK("http://x.example")', "'-2+3"]
    assert rows[2][5:7] == ["Acme;' @SUM(A1)", "'+1 boss"]


def test_safe_cell_defuses_cell_starts_after_every_separator() -> None:
    for value, safe in [
        ("Bob;=1+1", "Bob;'=1+1"),
        (" =1", "' =1"),
        ('"=1', "'\"=1"),
        ("a\t@b", "a\t'@b"),
        ("a\r\n-b", "a\r'\n'-b"),
        ("x, +1", "x,' +1"),
    ]:
        assert exports.safe_cell(value) == safe
    for harmless in ["Ada", "1=1", "a-b+c=d@e", "O'Brien", "'=1", "Plain = fine", "x;y", "é"]:
        assert exports.safe_cell(harmless) == harmless
