"""A repeated signing: what the mailbox that signed before gets, written in Python and in SQL side by side.

A repeat stores nothing new and is answered exactly like a first signing, so the answer never
tells who has signed. Its mailbox is emailed again at most SIGNATURE_MAX_RESENDS times in all:
each repeat first claims one of the signature's resends (resend_count moves while under the
limit, invalidated or not), and a claimed repeat of a signature that is not invalidated gets
the confirmation link again while it is pending, or "you have already signed" once confirmed.
An invalidated signature (by an administrator, held as suspected, or withdrawn and kept for
its mailbox) gets nothing. The email goes to the address that signed first, with the name
it signed with, its choice about updates, and in the language it signed in (signatures.locale),
whatever the language of the page that repeated it.

The Python form (answer_repeat) answers a repeat on SQLite, and on PostgreSQL when the one
statement leaves it to the long path; the SQL form (claim_repeat, repeat_email_rows) is part
of PostgreSQL's one statement that signs or answers a repeat (signing._sign_or_repeat_statement),
so that a repeat costs what a first signing costs. tests/counting/test_rules.py holds them to
one table of cases.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import JSON, ColumnElement, Select, String, bindparam, case, func, literal, select, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import SQLCoreOperations
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import CTE

from petitions.extensions import db
from petitions.infra.database import rowcount
from petitions.infra.mail import queue_late_email
from petitions.models import OutboxMessage, Signature
from petitions.signatures.links import (
    ALREADY_SIGNED_EMAIL,
    CONFIRMATION_EMAIL,
    email_digest,
    signer_context,
    signer_context_sql,
    subject,
    subjects,
)

_SIGNATURES = Signature.__table__
_OUTBOX = OutboxMessage.__table__


def may_resend(resend_count: SQLCoreOperations[int], limit: ColumnElement[int] | int) -> ColumnElement[bool]:
    """The claim of one more resend, in both forms' UPDATE: the signature has had fewer than `limit`."""
    return resend_count < limit


def repeat_email(*, confirmed: bool, invalidated: bool) -> str | None:
    """The template a claimed repeat is answered with, or None for no email. The Python form of repeat_email_sql()."""
    if invalidated:
        return None
    return ALREADY_SIGNED_EMAIL if confirmed else CONFIRMATION_EMAIL


def repeat_email_sql(
    confirmed_at: ColumnElement[Any], invalidated_at: ColumnElement[Any], locale: ColumnElement[str | None]
) -> tuple[ColumnElement[str], ColumnElement[str], ColumnElement[bool]]:
    """The SQL form of repeat_email(): (the template, its subject in the signature's language `locale`,
    the condition for sending any email).

    The subjects are the parameters :confirm_subjects and :repeat_subjects, each a JSON object of
    a subject per language, and :default_locale for a language the site does not offer
    (resend_parameters): the Python form's subject(), mail_locale included.
    """
    pending = confirmed_at.is_(None)
    template = case((pending, literal(CONFIRMATION_EMAIL)), else_=literal(ALREADY_SIGNED_EMAIL))
    subject_sql = case(
        (pending, _in_language(bindparam("confirm_subjects", type_=JSON), locale)),
        else_=_in_language(bindparam("repeat_subjects", type_=JSON), locale),
    )
    return template, subject_sql, invalidated_at.is_(None)


def _in_language(texts: ColumnElement[Any], locale: ColumnElement[str | None]) -> ColumnElement[str]:
    """The text of `locale` from a JSON object of texts by language, else DEFAULT_LOCALE's (:default_locale).

    json_extract (SQLite) and ->> (PostgreSQL) both answer NULL for a key that is missing or NULL.
    """
    default = bindparam("default_locale", type_=String())
    return func.coalesce(_JsonText(texts, locale), _JsonText(texts, default))


class _JsonText(FunctionElement[str]):
    """A JSON object's member `key` as text, NULL when missing: `->>` on PostgreSQL, json_extract on SQLite."""

    type = String()
    name = "json_text"
    inherit_cache = True


@compiles(_JsonText)
def _json_text_sqlite(element: _JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    obj, key = element.clauses
    # A language code is letters and an underscore: a JSON path member as it is.
    return f"json_extract({compiler.process(obj, **kw)}, '$.' || {compiler.process(key, **kw)})"


@compiles(_JsonText, "postgresql")
def _json_text_postgresql(element: _JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    obj, key = element.clauses
    return f"(CAST({compiler.process(obj, **kw)} AS json) ->> {compiler.process(key, **kw)})"


def answer_repeat(signature: Signature, *, now: datetime) -> None:
    """Answer a repeated signing of `signature` in the session (the Python form of the rule)."""
    claimed = db.session.execute(
        update(Signature)
        .where(Signature.id == signature.id, may_resend(Signature.resend_count, _limit()))
        .values(resend_count=Signature.resend_count + 1)
        .execution_options(synchronize_session=False)
    )
    if rowcount(claimed) != 1:
        return
    template = repeat_email(
        confirmed=signature.confirmed_at is not None, invalidated=signature.invalidated_at is not None
    )
    if template is None:
        return
    petition = signature.petition
    digest, locale = email_digest(signature.email_normalized), signature.locale
    context = signer_context(signature.name, petition, digest, signature.updates, locale)
    queue_late_email(
        signature.email,
        subject(template, petition.title, locale),
        template,
        context,
        now=now,
        signature_id=signature.id,
    )


def _limit() -> int:
    limit: int = current_app.config["SIGNATURE_MAX_RESENDS"]
    return limit


def resend_parameters(title: str) -> dict[str, Any]:
    """The SQL form's parameters beside the signing's own: the limit, and the subjects of the two emails
    in every language (repeat_email_sql)."""
    return {
        "max_resends": _limit(),
        "confirm_subjects": subjects(CONFIRMATION_EMAIL, title),
        "repeat_subjects": subjects(ALREADY_SIGNED_EMAIL, title),
        "default_locale": current_app.config["DEFAULT_LOCALE"],
    }


def claim_repeat(existing: CTE) -> CTE:
    """The SQL form of answer_repeat's claim: the resend counter of the signature in `existing` (a CTE
    of its id) moved while under :max_resends; returns what repeat_email_rows needs of it."""
    return (
        update(_SIGNATURES)
        .where(
            _SIGNATURES.c.id.in_(select(existing.c.id)),
            may_resend(_SIGNATURES.c.resend_count, bindparam("max_resends")),
        )
        .values(resend_count=_SIGNATURES.c.resend_count + 1)
        .returning(
            _SIGNATURES.c.id,
            _SIGNATURES.c.email,
            _SIGNATURES.c.name,
            _SIGNATURES.c.updates,
            _SIGNATURES.c.confirmed_at,
            _SIGNATURES.c.invalidated_at,
            _SIGNATURES.c.locale,
        )
        .cte("repeated")
    )


def repeat_email_rows(repeated: CTE, *, headers: Any, now: Any, attempts: Any) -> Select[Any]:
    """The SQL form of answer_repeat's email: the outbox row (in _SIGN_OR_REPEAT's `queued` columns) of a
    claimed repeat, none for an invalidated signature."""
    template, subject_sql, send = repeat_email_sql(
        repeated.c.confirmed_at, repeated.c.invalidated_at, repeated.c.locale
    )
    return select(
        repeated.c.email,
        subject_sql,
        template,
        signer_context_sql(repeated.c.name, repeated.c.updates, repeated.c.locale),
        headers,
        now,
        now,
        attempts,
        repeated.c.id,
    ).where(send)
