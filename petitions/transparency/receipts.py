"""The receipt a signer gets once their signature is in the petition's log: its entry and their nonce.

With the entry's index, the nonce and their own address, a signer can recompute their
commitment and check that the entry holds it and is included in the signed log, on the
petition's verify page or with `python -m petitions.verify --receipt`. The link carries the
index and the nonce in its fragment (`#entry=N&nonce=...`), which a browser never sends to
the server.

The receipt is queued by the sequencer as a template name and a small context, one outbox row
per add, and rendered by the worker when it sends it (mail.rendered_late_filled). The nonce is not
stored in the outbox: it is read from the signature row when the message is rendered, so a
signature erased before its receipt went out takes its nonce with it, and the receipt is
dropped (mail.Unsendable).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, select, text

from petitions.extensions import N_, db
from petitions.infra.database import is_postgresql
from petitions.infra.mail import (
    Fill,
    LateEmail,
    OutboxRow,
    Unsendable,
    external_url,
    mail_text,
    mail_texts,
    queue_late_emails,
    rendered_late_filled,
)
from petitions.models import Signature
from petitions.models.types import UTCDateTime

RECEIPT_EMAIL = "log_receipt"


def receipt(to: str, signature_id: int, slug: str, title: str, entry: int, locale: str | None) -> LateEmail:
    """The receipt email of a signature whose add is entry `entry` of the log of petition `slug`, in its signer's
    language `locale` (the Python form of the statement queue() runs on PostgreSQL)."""
    context = {"slug": slug, "title": title, "entry": entry, "locale": locale}
    return LateEmail(to, subject(title, locale), RECEIPT_EMAIL, context, signature_id)


def queue(slug: str, title: str, added: Sequence[tuple[int, int]], *, now: datetime) -> None:
    """Queue the receipts of new adds to a petition's log: (signature id, entry) each, in the caller's transaction.

    On PostgreSQL one statement writes them all (the SQL form of receipt(), the address read from
    each row, and the subject in its language from a JSON object of the subject in each language);
    elsewhere queue_late_emails writes receipt()'s messages.
    """
    if not added:
        return
    if is_postgresql():
        ids, indices = ",".join(str(i) for i, _ in added), ",".join(str(n) for _, n in added)
        db.session.execute(
            _QUEUE_PG,
            {
                "ids": ids,
                "entries": indices,
                "slug": slug,
                "title": title,
                "subjects": json.dumps(mail_texts(_SUBJECT, title=title)),
                "default_locale": current_app.config["DEFAULT_LOCALE"],
                "template": RECEIPT_EMAIL,
                "now": now,
            },
        )
        return
    signers = {
        row.id: row
        for row in db.session.execute(
            select(Signature.id, Signature.email, Signature.locale).where(Signature.id.in_([i for i, _ in added]))
        )
    }
    queue_late_emails([receipt(signers[i].email, i, slug, title, n, signers[i].locale) for i, n in added], now=now)


_QUEUE_PG = text(
    "INSERT INTO outbox_messages (to_addr, subject, template, context, headers, created_at, next_attempt_at,"
    " attempts, signature_id)"
    " SELECT s.email,"
    " COALESCE(CAST(:subjects AS json) ->> s.locale, CAST(:subjects AS json) ->> CAST(:default_locale AS text)),"
    " :template,"
    " json_build_object('slug', CAST(:slug AS text), 'title', CAST(:title AS text), 'entry', v.entry,"
    " 'locale', s.locale),"
    " CAST('{}' AS json), :now, :now, 0, s.id"
    " FROM unnest(CAST(string_to_array(:ids, ',') AS integer[]), CAST(string_to_array(:entries, ',') AS integer[]))"
    " AS v(id, entry) JOIN signatures AS s ON s.id = v.id"
).bindparams(bindparam("now", type_=UTCDateTime()))


_SUBJECT = N_("Your signature is in the public log: %(title)s")


def subject(title: str, locale: str | None) -> str:
    """The receipt's subject in the signer's language, cut to the column's 255 characters."""
    return mail_text(_SUBJECT, locale, title=title)[:255]


def verify_url(slug: str, entry: int | None = None, nonce: str | None = None) -> str:
    """The petition's verify page; with a receipt, its entry and nonce in the fragment."""
    url = external_url("public.petition", slug=slug) + "/verify"
    if entry is not None and nonce is not None:
        url += f"#entry={entry}&nonce={nonce}"
    return url


@rendered_late_filled(RECEIPT_EMAIL)
def _receipt_fill(message: OutboxRow) -> Fill:
    """The receipt's context, made by the mail worker: the nonce is read from the signature now.

    Every confirmed signer gets one, so it is sent in a prepared form (mail/prepared.py), as the
    confirmation is: built once per petition and language, with the entry, the nonce and the
    verify link filled in.
    """
    context = message.context or {}
    row = None
    if message.signature_id is not None:
        row = db.session.execute(
            select(Signature.log_nonce, Signature.log_entry).where(Signature.id == message.signature_id)
        ).one_or_none()
    if row is None or row.log_nonce is None or row.log_entry != context.get("entry"):
        raise Unsendable("the signature was withdrawn or erased before its receipt was sent")
    entry, slug, title = row.log_entry, context["slug"], context["title"]
    petition_url = external_url("public.petition", slug=slug)

    def make(slots: dict[str, str]) -> dict[str, Any]:
        return {
            "petition": {"title": title},
            "petition_url": petition_url,
            "log_url": petition_url + "/log/checkpoint",
            **slots,
        }

    slots = {"entry": str(entry), "nonce": row.log_nonce, "verify_url": verify_url(slug, entry, row.log_nonce)}
    return Fill(key=(title, slug, context.get("locale")), slots=slots, context=make)
