"""The CSV export: who may download it, what is in it, what never is, and that it streams."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from petitions.campaigns import exports
from petitions.clock import utcnow
from petitions.counting import counts
from petitions.extensions import db
from petitions.models import Petition, Signature
from petitions.signatures import confirming, signing
from tests.helpers import is_postgres, login, make_petition, make_user

OWNER = "owner@example.org"
OTHER = "other@example.org"
ADMIN = "admin@example.org"
HEADER = ["name", "country", "postcode", "comment", "confirmed_at", "organisation", "job_title"]


def add_signature(petition: Petition, email: str, *, at: datetime, confirm: bool = True, **fields) -> Signature:
    """A signature made and (unless told otherwise) confirmed at `at`; committed."""
    data = signing.SignatureData(
        name=fields.pop("name", "Sam Signer"), email=email, country=fields.pop("country", "GB"), **fields
    )
    signature = signing.sign(petition, data, now=at, ip=None)
    if confirm:
        confirming.confirm(signature, now=at)
    db.session.commit()
    return signature


def invalidate(signature: Signature, *, now: datetime) -> None:
    """Take a confirmed signature out of every count, as an administrator's invalidation does."""
    counts.apply([counts.Counted.of(signature)], -1, now=now)
    signature.invalidated_at = now
    db.session.commit()


def petition_of(slug: str) -> Petition:
    return db.session.scalar(select(Petition).where(Petition.slug == slug))


def signed_in(client: FlaskClient, email: str) -> FlaskClient:
    assert login(client, email).status_code == 303
    return client


def rows_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True), newline="")))


@contextmanager
def statements(app: Flask) -> Iterator[list[tuple[str, object]]]:
    """(SQL, cursor) of every statement sent to the database inside the block."""
    with app.app_context():
        engine = db.engine
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append((statement, cursor))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def slug(app: Flask) -> str:
    """The owner's open petition; another campaigner and an admin exist too."""
    with app.app_context():
        owner = make_user(OWNER)
        make_user(OTHER)
        make_user(ADMIN, admin=True)
        return make_petition(owner).slug


# --- who may download it --------------------------------------------------------------------


def test_only_the_owner_and_admins_may_download_the_signatures(app, client, slug) -> None:
    url = f"/petitions/{slug}/signatures.csv"
    assert client.get(url).status_code == 403  # anonymous
    signed_in(client, OTHER)
    assert client.get(url).status_code == 403
    assert client.get("/petitions/no-such-petition/signatures.csv").status_code == 404
    for who in (OWNER, ADMIN):
        response = signed_in(app.test_client(), who).get(url)
        assert response.status_code == 200
        assert rows_of(response) == [HEADER]


def test_a_hidden_petition_s_export_is_not_found_by_others(app, client, slug) -> None:
    with app.app_context():
        petition_of(slug).status = "hidden"
        db.session.commit()
    assert client.get(f"/petitions/{slug}/signatures.csv").status_code == 404
    assert signed_in(app.test_client(), OWNER).get(f"/petitions/{slug}/signatures.csv").status_code == 200


@pytest.mark.parametrize("bad", ["%00", "x" * 300, "%FF%FE", "a%0D%0Ab", "' OR 1=1 --"])
def test_garbage_slugs_are_404_never_500(client, slug, bad) -> None:
    signed_in(client, OWNER)
    # 404, or 400 where the site refuses the request outright (a NUL byte)
    assert client.get(f"/petitions/{bad}/signatures.csv").status_code in (400, 404)


# --- what is in it --------------------------------------------------------------------------


def test_confirmed_valid_signatures_in_confirmation_order_with_headers_for_a_download(app, client, slug) -> None:
    base = utcnow().replace(microsecond=0) - timedelta(days=2)
    with app.app_context():
        petition = petition_of(slug)
        add_signature(
            petition,
            "b@example.org",
            at=base + timedelta(hours=2),
            name="Second",
            country="FR",
            postcode="75001",
            comment="Merci, à bientôt",
        )
        add_signature(petition, "a@example.org", at=base, name="First, with a comma", comment='Say "no"\nTwice')
        add_signature(petition, "pending@example.org", at=base, confirm=False, name="Pending Person")
        gone = add_signature(petition, "gone@example.org", at=base + timedelta(hours=1), name="Invalidated Person")
        invalidate(gone, now=utcnow())
        add_signature(petition, "c@example.org", at=base + timedelta(hours=3), name="Third", postcode="sw1a 1aa")

    response = signed_in(client, OWNER).get(f"/petitions/{slug}/signatures.csv")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv" and response.mimetype_params["charset"] == "utf-8"
    assert response.headers["Content-Disposition"] == f"attachment; filename={slug}-signatures.csv"
    assert response.headers["Cache-Control"] == "no-store"
    iso = "%Y-%m-%dT%H:%M:%SZ"
    assert rows_of(response) == [
        HEADER,
        ["First, with a comma", "GB", "", 'Say "no"\nTwice', base.strftime(iso), "", ""],
        ["Second", "FR", "75001", "Merci, à bientôt", (base + timedelta(hours=2)).strftime(iso), "", ""],
        ["Third", "GB", "SW1A 1AA", "", (base + timedelta(hours=3)).strftime(iso), "", ""],
    ]
    body = response.get_data(as_text=True)
    for never in ["Pending Person", "Invalidated Person", "@example.org"]:
        assert never not in body


def test_signatures_confirmed_in_the_same_instant_come_in_the_order_they_were_stored(app, client, slug) -> None:
    at = utcnow()
    with app.app_context():
        petition = petition_of(slug)
        for i in range(5):
            add_signature(petition, f"s{i}@example.org", at=at, name=f"Signer {i}")
    rows = rows_of(signed_in(client, OWNER).get(f"/petitions/{slug}/signatures.csv"))
    assert [r[0] for r in rows[1:]] == [f"Signer {i}" for i in range(5)]


def test_cells_that_a_spreadsheet_would_run_as_formulas_are_defused(app, client, slug) -> None:
    nasty = ["=1+1", "+44 20", "-2+3", "@SUM(A1)", "\tTabbed", "\rCarriage"]
    with app.app_context():
        petition = petition_of(slug)
        for i, text in enumerate(nasty):
            signature = add_signature(petition, f"n{i}@example.org", at=utcnow() + timedelta(seconds=i), name="x")
            # signing strips what people type; rows from elsewhere (imports, old data) may still start so
            signature.name, signature.comment = f"{text} name", text
            db.session.commit()
        add_signature(
            petition, "plain@example.org", at=utcnow() + timedelta(seconds=10), name="Plain = fine", comment="a-b+c=d@e"
        )
    rows = rows_of(signed_in(client, OWNER).get(f"/petitions/{slug}/signatures.csv"))[1:]
    assert [r[3] for r in rows] == [f"'{t}" for t in nasty] + ["a-b+c=d@e"]
    assert [r[0] for r in rows] == [f"'{t} name" for t in nasty] + ["Plain = fine"]


def test_safe_cell() -> None:
    for dangerous in ["=cmd|' /C calc'!A0", "+1", "-1", "@x"]:
        assert exports.safe_cell(dangerous) == "'" + dangerous
    # A tab or a line break may also start a cell, so the formula behind it is defused too;
    # and importers that trim spaces would run " =1".
    assert exports.safe_cell("\t=1") == "'\t'=1" and exports.safe_cell("\r=1") == "'\r'=1"
    assert exports.safe_cell(" =1") == "' =1"
    for harmless in ["Ada", "1=1", "'=1", "O'Brien", "é"]:
        assert exports.safe_cell(harmless) == harmless
    assert exports.safe_cell(None) == exports.safe_cell("") == ""


# --- the email column ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowed", "query", "has_email"),
    [
        (False, "", False),
        (False, "?include=email", False),  # asked for, but the site does not allow it
        (True, "", False),  # allowed, but not asked for
        (True, "?include=name", False),
        (True, "?include=email", True),
        (True, "?include=postcode,email", True),
    ],
)
def test_emails_only_when_the_site_allows_it_and_the_request_asks(app, client, slug, allowed, query, has_email) -> None:
    app.config["EXPORT_INCLUDE_EMAIL"] = allowed
    with app.app_context():
        add_signature(petition_of(slug), "Ada.Lovelace@Example.org", at=utcnow(), name="Ada", comment="=2")
    rows = rows_of(signed_in(client, OWNER).get(f"/petitions/{slug}/signatures.csv{query}"))
    if has_email:
        assert rows[0] == [*HEADER, "email"]
        assert rows[1][0] == "Ada" and rows[1][3] == "'=2" and rows[1][7] == "Ada.Lovelace@example.org"
    else:
        assert rows[0] == HEADER and len(rows[1]) == len(HEADER)
        assert "@" not in "".join(rows[1])


def test_the_dashboard_links_to_the_email_export_only_when_the_site_allows_it(app, client, slug) -> None:
    signed_in(client, OWNER)
    assert "include=email" not in client.get(f"/account/petitions/{slug}").text
    app.config["EXPORT_INCLUDE_EMAIL"] = True
    assert f"/petitions/{slug}/signatures.csv?include=email" in client.get(f"/account/petitions/{slug}").text


# --- streaming and cost --------------------------------------------------------------------


def test_the_csv_comes_in_small_pieces(app, ctx, slug) -> None:
    petition = petition_of(slug)
    for i in range(60):
        add_signature(petition, f"s{i}@example.org", at=utcnow(), name=f"Signer number {i:03}", comment="x" * 40)
    pieces = list(exports.csv_chunks(petition, include_email=False, chunk_size=1024))
    assert len(pieces) > 3
    assert all(len(p) < 1024 + 200 for p in pieces)  # one row past the limit at most
    rows = list(csv.reader(io.StringIO(b"".join(pieces).decode(), newline="")))
    assert len(rows) == 61 and rows[0] == HEADER


def test_the_export_costs_the_same_queries_whatever_the_signatures_and_streams_on_postgres(app, client, slug) -> None:
    url = f"/petitions/{slug}/signatures.csv"
    with app.app_context():
        add_signature(petition_of(slug), "one@example.org", at=utcnow())
    signed_in(client, OWNER)
    assert len(rows_of(client.get(url))) == 2  # warm

    with statements(app) as few:
        assert len(rows_of(client.get(url))) == 2
    with app.app_context():
        petition = petition_of(slug)
        for i in range(30):
            add_signature(petition, f"s{i}@example.org", at=utcnow(), comment=f"c{i}")
    with statements(app) as many:
        assert len(rows_of(client.get(url))) == 32
    assert len(many) == len(few), ([s for s, _ in few], [s for s, _ in many])
    assert len(few) <= 8, [s for s, _ in few]

    (select_signatures,) = [(sql, cursor) for sql, cursor in many if "FROM signatures" in sql]
    assert "ORDER BY signatures.confirmed_at, signatures.id" in select_signatures[0]
    if is_postgres(app):
        # a named (server-side) cursor: rows are fetched in batches, never all at once
        assert getattr(select_signatures[1], "name", None), "the export did not use a server-side cursor"
