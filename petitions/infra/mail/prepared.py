"""Messages sent in a prepared form: built once by the email package, then only their changing parts filled.

Most of the worker's mail is one template sent to many people about one petition (a
confirmation per signing): rendering it with Jinja and building and flattening it with the
email package for every message costs the worker more CPU than the signing cost the web
(docs/SCALING.md). So a message whose template registered a Fill (render.rendered_late_filled)
is built ONCE per key, with markers in place of its slots, its To and its Message-ID, exactly
as the plain path builds it (render, message.compose, then flattened as smtplib flattens it),
and the bytes are cut at the markers. Each message is then those pieces joined with its own
values, escaped where Jinja escapes, the bytes smtplib would have sent.

The key is the template, its Fill's key (a petition's title, whether a paragraph is shown,
the signer's language), the language the message is rendered in (render.message_locale: the
row's context, which the Fill reads too), and whether each slot is ASCII (which decides a
part's Content-Transfer-Encoding): each language has its prepared form, and a message is
never cut from another language's.

Anything the prepared form cannot promise to write as the plain path would goes the plain
way (None from message_bytes): an address that is not ASCII (SMTPUTF8), extra headers, a line
longer than SMTP carries (quoted-printable), a value containing the MIME boundary, a template
that changes a marker.
"""

from __future__ import annotations

import io
import re
import secrets
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.utils import parseaddr
from functools import lru_cache

from flask import current_app
from markupsafe import escape

from petitions.infra.mail.message import compose, message_id
from petitions.infra.mail.render import Fill, OutboxRow, fill_of, html_escaped, mail_locale, message_locale, render

# bench/mail.py turns this off to time the plain path side by side with this one.
ENABLED = True
_SMTP_LINE = 998
_MAX_FORMS = 2048  # prepared forms kept per application; all are dropped past it (a new day's titles)
_TO, _ID = "to", "id"  # the slots every message has besides its Fill's


@dataclass(frozen=True)
class _Form:
    pieces: tuple[bytes | tuple[str, bool], ...]  # bytes as they are, or (slot, HTML-escaped)
    boundary: bytes  # the multipart boundary (b"" for a single part): no value may contain it
    longest: int  # the longest line's octets without its slots


def message_bytes(row: OutboxRow, sender: str, domain: str) -> bytes | None:
    """The message of an outbox row as smtplib would send it (CRLF line ends), from its prepared
    form; None when it is to be built by message.build_message instead.

    May raise what the row's Fill raises (render.Unsendable: its cause is gone).
    """
    if not ENABLED or row.headers or not row.to_addr.isascii() or not _ascii_address(sender):
        return None
    fill = fill_of(row)
    if fill is None:
        return None
    values = {**fill.slots, _TO: row.to_addr, _ID: message_id(row, domain)}
    forms: dict[tuple[object, ...], _Form | None] = current_app.extensions.setdefault("mail_prepared", {})
    locale = mail_locale(message_locale(row))
    key = (row.template, row.subject, sender, locale, fill.key, tuple((k, v.isascii()) for k, v in fill.slots.items()))
    if key in forms:
        form = forms[key]
    else:
        if len(forms) >= _MAX_FORMS:
            forms.clear()
        form = forms[key] = _prepare(row, sender, fill, locale)
    if form is None:
        return None
    encoded = {name: value.encode() for name, value in values.items()}
    if form.boundary and any(form.boundary in v for v in encoded.values()):
        return None
    if form.longest + sum(len(v) for v in encoded.values()) > _SMTP_LINE and _too_long(form, values):
        return None
    escaped: dict[str, bytes] = {}
    out: list[bytes] = []
    for piece in form.pieces:
        if isinstance(piece, bytes):
            out.append(piece)
        else:
            name, html = piece
            if html:
                value = escaped.get(name)
                if value is None:
                    value = escaped[name] = str(escape(values[name])).encode()
                out.append(value)
            else:
                out.append(encoded[name])
    return b"".join(out)


@lru_cache(maxsize=8)
def _ascii_address(sender: str) -> bool:
    """Whether the address of a From header is ASCII (else the message needs SMTPUTF8: the plain path)."""
    return parseaddr(sender)[1].isascii()


def _prepare(row: OutboxRow, sender: str, fill: Fill, locale: str) -> _Form | None:
    """The message cut at its markers, or None when it cannot be (the plain path sends it)."""
    tag = secrets.token_hex(6)
    names = [*fill.slots, _TO, _ID]

    def marker(i: int, part: str) -> str:
        name = names[i]
        # A slot that is not ASCII gets a marker that is not either: a part's encoding depends on it.
        wide = name in fill.slots and not fill.slots[name].isascii()
        return f"m{tag}{part}{i}{'é' if wide else ''}m"

    text_marks = {name: marker(i, "t") for i, name in enumerate(names) if name in fill.slots}
    html_marks = {name: marker(i, "h") for i, name in enumerate(names) if name in fill.slots}
    text, html = render(row.template or "", fill.context(text_marks), fill.context(html_marks), locale=locale)
    to, mid = marker(len(names) - 2, "t"), marker(len(names) - 1, "t")  # the Message-ID's marker is its whole value
    msg = compose(sender, to, row.subject, text, html, message_id=mid)
    out = io.BytesIO()
    BytesGenerator(out).flatten(msg, linesep="\r\n")  # as smtplib.send_message flattens it
    raw = out.getvalue()
    found = re.compile(rf"m{tag}([th])(\d+)(?:é)?m".encode())
    expected = sum(text.count(m) for m in text_marks.values()) + sum((html or "").count(m) for m in html_marks.values())
    if len(found.findall(raw)) != expected + 2:  # a marker changed on the way (encoded, folded): plain path
        return None
    escapes = html_escaped(row.template or "") if html else False
    parts = found.split(raw)  # bytes, then (part, slot index, bytes) for each marker
    pieces: list[bytes | tuple[str, bool]] = [parts[0]]
    for i in range(1, len(parts), 3):
        pieces.append((names[int(parts[i + 1])], parts[i] == b"h" and escapes))
        pieces.append(parts[i + 2])
    boundary = (msg.get_boundary() or "").encode()
    longest = max(map(len, found.sub(b"", raw).split(b"\r\n")))
    return _Form(tuple(p for p in pieces if p != b""), boundary, longest)


def _too_long(form: _Form, values: dict[str, str]) -> bool:
    """Whether a line of the filled message is longer than SMTP carries (exactly, for the rare long one)."""
    line = 0
    for piece in form.pieces:
        if isinstance(piece, bytes):
            chunks = piece.split(b"\r\n")
            line += len(chunks[0])
            for chunk in chunks[1:]:
                if line > _SMTP_LINE:
                    return True
                line = len(chunk)
        else:
            name, html = piece
            line += len((str(escape(values[name])) if html else values[name]).encode())
    return line > _SMTP_LINE
