"""The CSV of a petition's confirmed, valid signatures, streamed in constant memory.

Rows come from a server-side cursor on PostgreSQL (`stream_results`, `yield_per`), so neither
the database driver nor the ORM holds more than one batch; each row is written by csv.writer
into a small buffer that is handed on whenever it passes CHUNK_SIZE. A million rows cost the
same memory as a hundred.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select

from petitions.counting.rules import counted
from petitions.extensions import db
from petitions.models import Petition, Signature

# organisation and job_title (open letters) come after the columns older files had, so a reader
# that takes columns by position still finds those where they were; empty when not given.
COLUMNS = ("name", "country", "postcode", "comment", "confirmed_at", "organisation", "job_title")
EMAIL_COLUMN = "email"
BATCH_SIZE = 2000  # rows fetched from the server-side cursor at a time
CHUNK_SIZE = 64 * 1024  # characters buffered before a piece of the response is sent

# A spreadsheet takes a cell starting with one of these as a formula (CSV injection, OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Where a spreadsheet may start a cell inside one of our values: at its start, and after any
# separator it might split on. Opened with ";" (the default in much of Europe) or tabs, our
# quoting no longer holds, and "Bob;=1+1" becomes a cell "=1+1". A formula character after
# such a place, even behind spaces or quotes (which some importers trim), is defused there.
_CELL_STARTS = re.compile(r'(?:\A|[,;\t\r\n])(?=[\s"]*[=+\-@])|\A(?=[\t\r])')


def safe_cell(value: str | None) -> str:
    """The value as CSV text no spreadsheet will run, whatever separator it reads it with.

    An apostrophe (OWASP's advice; spreadsheets show the rest as text) goes before every
    place where a cell could begin with a formula character: the start of the value, and
    right after a comma, semicolon, tab or line break, skipping spaces and quotes.
    """
    if not value:
        return ""
    return _CELL_STARTS.sub(lambda m: m.group(0) + "'", value)


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC to the second, with a Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def filename(petition: Petition) -> str:
    """The file name offered for download."""
    return f"{petition.slug}-signatures.csv"


def header(*, include_email: bool) -> tuple[str, ...]:
    """The column names, email last when it is included."""
    return (*COLUMNS, EMAIL_COLUMN) if include_email else COLUMNS


def signature_rows(petition: Petition, *, include_email: bool, batch_size: int = BATCH_SIZE) -> Iterator[tuple]:
    """The petition's confirmed, valid signatures in confirmation order, as tuples in `header` order."""
    columns = [
        Signature.name,
        Signature.country,
        Signature.postcode,
        Signature.comment,
        Signature.confirmed_at,
        Signature.organisation,
        Signature.job_title,
    ]
    if include_email:
        columns.append(Signature.email)
    stmt = (
        select(*columns)
        .where(Signature.petition_id == petition.id, *counted())
        .order_by(Signature.confirmed_at, Signature.id)
        .execution_options(stream_results=True, yield_per=batch_size)
    )
    # A Core execution on the session's connection: plain rows, nothing kept in the identity map.
    result = db.session.connection().execute(stmt)
    try:
        yield from result
    finally:
        result.close()


def csv_chunks(petition: Petition, *, include_email: bool, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The CSV document (header first) in UTF-8 pieces of about chunk_size characters."""
    buffer = io.StringIO()
    # Every field quoted: a separator inside a value never splits it for a reader that uses ours.
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    writer.writerow(header(include_email=include_email))
    for row in signature_rows(petition, include_email=include_email):
        name, country, postcode, comment, confirmed_at, organisation, job_title, *email = row
        writer.writerow(
            (
                safe_cell(name),
                safe_cell(country),
                safe_cell(postcode),
                safe_cell(comment),
                iso_utc(confirmed_at),
                safe_cell(organisation),
                safe_cell(job_title),
                *(safe_cell(e) for e in email),
            )
        )
        if buffer.tell() >= chunk_size:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
