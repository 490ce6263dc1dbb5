"""Signing: a pending signature and its confirmation email, or a repeat answered, in one statement.

The signing view calls record(); on PostgreSQL one statement stores the signature (or finds
the mailbox's earlier one and answers it, see repeats.py), claims the form's stamp and queues
the email. Confirming is confirming.py, withdrawing withdrawing.py, the links and the emails
links.py.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    Row,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.dml import ReturningInsert
from sqlalchemy.sql.elements import Cast, ColumnElement
from sqlalchemy.sql.selectable import CTE, Exists, Select

from petitions.exceptions import PetitionClosed
from petitions.extensions import db
from petitions.infra.database import AutocommitStatement, is_postgresql, rowcount, session_in_transaction
from petitions.infra.mail import queue_late_email
from petitions.infra.netaddr import ip_key
from petitions.infra.tlog.entries import new_nonce
from petitions.models import FormStamp, OutboxMessage, Petition, Signature
from petitions.models.petition import effective_status, open_at
from petitions.models.types import UTCDateTime
from petitions.signatures.links import CONFIRMATION_EMAIL, email_digest, signer_context, subject
from petitions.signatures.mailboxes import canonical_email, normalize_email
from petitions.signatures.repeats import answer_repeat, claim_repeat, repeat_email_rows, resend_parameters


@dataclass(frozen=True)
class SignatureData:
    """What a signer typed into the form, already validated for shape."""

    name: str
    email: str
    country: str
    postcode: str | None = None
    comment: str | None = None
    # Given only when the petition asks for them (an open letter); None otherwise.
    organisation: str | None = None
    job_title: str | None = None
    show_name: bool = False
    updates: bool = False
    # The language of the page signed on (a code of LANGUAGES): the emails to the signer are in it.
    locale: str | None = None


_SIGNATURES = Signature.__table__
_PETITIONS = Petition.__table__
# What a new signature's INSERT sets from its parameters; invalidated_at and suspected are set
# when the signing is suspected; the rest (confirmed_at, ...) start NULL, and log_live false.
# log_nonce is the secret of the signer's commitment in the petition's public log (made here, so
# the log's worker only reads it; its receipt gives it to the signer).
_COLUMNS = (
    "petition_id",
    "name",
    "email",
    "email_normalized",
    "email_domain",
    "country",
    "postcode",
    "comment",
    "organisation",
    "job_title",
    "show_name",
    "updates",
    "ip_address",
    "ip_key",
    "created_at",
    "resend_count",
    "log_nonce",
    "locale",
)
_STAMPS = FormStamp.__table__
STAMP_REUSED = "stamp-reused"


def _petition_open() -> Exists:
    """EXISTS: the signing's petition takes signatures at :now."""
    return exists().where(
        _PETITIONS.c.id == bindparam("new_petition_id"), open_at(bindparam("now", type_=_PETITIONS.c.closes_at.type))
    )


def _now_value() -> Cast[Any]:
    """:now as the naive timestamp UTCDateTime stores."""
    stored = typing.cast(UTCDateTime, _SIGNATURES.c.created_at.type).impl
    return cast(bindparam("now", type_=_SIGNATURES.c.created_at.type), stored)


def _stamp_claim() -> CTE:
    """PostgreSQL: INSERT the form stamp's nonce (:stamp) into form_stamps unless a signing used it before.

    The primary key decides, under any concurrency: of a burst of signings with one stamp,
    exactly one claims it; the others find it taken.
    """
    stamp = cast(bindparam("stamp", type_=String()), _STAMPS.c.nonce.type)
    return (
        pg_insert(_STAMPS)
        .from_select(["nonce", "used_at"], select(stamp, _now_value()).where(stamp.is_not(None)))
        .on_conflict_do_nothing(index_elements=["nonce"])
        .returning(_STAMPS.c.nonce)
        .cte("claim")
    )


def _insert_statement(dialect: str, claim: CTE | None = None) -> ReturningInsert[Any]:
    """INSERT ... SELECT <values> WHERE <the petition is open> ON CONFLICT DO NOTHING RETURNING id.

    Built once per dialect; the values come as parameters named new_<column> (not <column>:
    an UPDATE in the same statement would take those as values to set). The petition's being open is
    checked by the statement that stores, so a petition closed a moment ago takes nothing.

    A suspected signing is stored by the same statement as any other, with `suspected` (why)
    and `invalidated_at` set: it touches no other row. With `claim` (PostgreSQL, see
    _stamp_claim) the statement itself decides that a signing whose form stamp was used
    before is suspected; elsewhere the caller has decided and passes new_suspected and
    new_invalidated_at.
    """
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    values = [bindparam(f"new_{c}", type_=_SIGNATURES.c[c].type) for c in _COLUMNS]
    suspected: ColumnElement[Any]
    invalidated_at: ColumnElement[Any]
    if claim is None:
        suspected = bindparam("new_suspected", type_=_SIGNATURES.c.suspected.type)
        invalidated_at = bindparam("new_invalidated_at", type_=_SIGNATURES.c.invalidated_at.type)
    else:
        given = cast(bindparam("new_suspected", type_=String()), _SIGNATURES.c.suspected.type)
        stamp = cast(bindparam("stamp", type_=String()), _STAMPS.c.nonce.type)
        suspected = case(
            (given.is_not(None), given),
            (and_(stamp.is_not(None), ~exists(select(claim.c.nonce))), literal(STAMP_REUSED)),
            else_=null(),
        )
        invalidated_at = case((suspected.is_not(None), _now_value()), else_=null())
    return (
        insert(_SIGNATURES)
        .from_select(
            [*_COLUMNS, "suspected", "invalidated_at"],
            select(*values, suspected, invalidated_at).where(_petition_open()),
        )
        .on_conflict_do_nothing(index_elements=["petition_id", "email_normalized"])
        .returning(_SIGNATURES.c.id)
    )


# Built once, at import, like _SIGN_OR_REPEAT below: every signing runs it, and would otherwise
# build it again and compute its cache key before SQLAlchemy finds its compiled SQL.
_SQLITE_INSERT = _insert_statement("sqlite")
_OUTBOX = OutboxMessage.__table__


def _sign_or_repeat_statement() -> Select[Any]:
    """PostgreSQL: a signing, new or repeated, and the email it sends, in ONE statement.

    - `claim`: the form stamp's first use (see _stamp_claim);
    - `signed`: the new signature (INSERT ... SELECT ... WHERE <open> ON CONFLICT DO NOTHING),
      suspected when the verdict says so or its stamp was used before;
    - `existing`: otherwise, this mailbox's signature on this petition, if the petition is open;
    - `repeated`: its resend counter, moved while under SIGNATURE_MAX_RESENDS (the claim,
      repeats.claim_repeat);
    - `queued`: the outbox row: the confirmation email for a new signature; for a claimed
      repeat, what repeats.py says (repeat_email_rows), rendered by the mail worker like the first.

    A repeat thus costs what a first signing costs, one statement: the answer's timing does
    not tell that an address has signed. The result row says which case it was; neither id
    (a closed petition, or a conflict with a signing not yet committed) sends the caller to
    the long path. Petition-level bind parameters: petition_title, petition_slug, digest,
    and repeats.resend_parameters; the stamp's nonce (or None): stamp.
    """
    claim = _stamp_claim()
    signed = _insert_statement("postgresql", claim).cte("signed")
    existing = (
        select(_SIGNATURES.c.id)
        .where(
            _SIGNATURES.c.petition_id == bindparam("new_petition_id"),
            _SIGNATURES.c.email_normalized == bindparam("new_email_normalized"),
            ~exists(select(signed.c.id)),
            _petition_open(),
        )
        .cte("existing")
    )
    repeated = claim_repeat(existing)
    now = bindparam("now", type_=_OUTBOX.c.created_at.type)
    headers, attempts = literal({}, _OUTBOX.c.headers.type), literal(0)
    confirm_subject = bindparam("mail_subject", type_=_OUTBOX.c.subject.type)
    first = select(
        bindparam("new_email", type_=_OUTBOX.c.to_addr.type),
        confirm_subject,
        literal(CONFIRMATION_EMAIL),
        bindparam("mail_context", type_=_OUTBOX.c.context.type),
        headers,
        now,
        now,
        attempts,
        signed.c.id,
    ).select_from(signed)
    again = repeat_email_rows(repeated, headers=headers, now=now, attempts=attempts)
    columns = [
        "to_addr",
        "subject",
        "template",
        "context",
        "headers",
        "created_at",
        "next_attempt_at",
        "attempts",
        "signature_id",
    ]
    queued = insert(_OUTBOX).from_select(columns, union_all(first, again)).returning(_OUTBOX.c.id).cte("queued")
    # `queued` is read only so that the statement includes it (a CTE nobody reads is not written out).
    return select(
        select(signed.c.id).scalar_subquery().label("signed_id"),
        select(existing.c.id).scalar_subquery().label("existing_id"),
        select(func.count()).select_from(queued).scalar_subquery().label("queued"),
        select(func.count()).select_from(claim).scalar_subquery().label("claimed"),
    )


class _SignOrRepeat(Protocol):
    """The row _SIGN_OR_REPEAT answers (a driver's named tuple when run alone)."""

    signed_id: int | None
    existing_id: int | None
    claimed: int


# Built once, at import: every signing on PostgreSQL runs it, and AutocommitStatement compiles it
# once per process.
_SIGN_OR_REPEAT = _sign_or_repeat_statement()
_SIGN_OR_REPEAT_ALONE = AutocommitStatement(_SIGN_OR_REPEAT)


def _is_open(petition_id: int, now: datetime) -> bool:
    row = db.session.execute(
        select(_PETITIONS.c.status, _PETITIONS.c.closes_at).where(_PETITIONS.c.id == petition_id)
    ).first()
    return row is not None and effective_status(row.status, row.closes_at, now) == "open"


def record(
    petition: Petition | Row,
    data: SignatureData,
    *,
    now: datetime,
    ip: str | None,
    suspected: str | None = None,
    stamp: str | None = None,
    commit: bool = False,
) -> int:
    """Record a pending signature and queue its confirmation email, in the caller's transaction; return its id.

    With `commit`, the signing is committed before this returns: a new signature on
    PostgreSQL, while the session has no transaction open, by one statement that is its own
    transaction (see database.AutocommitStatement), the signing view's case.

    A repeated signing by the same mailbox stores nothing new and, up to a few times, emails
    that mailbox again (the link once more, or "you have already signed"), and returns the
    existing signature's id. The caller answers both cases the same way, so the response
    never tells who has signed. A `suspected` signing (see abuse.KINDS) is stored and can be
    confirmed, but is not counted unless an administrator reverses its automatic batch; it is
    stored by the same one statement, and joins that batch later (abuse.assign_suspected).
    `stamp` is the nonce of the form's stamp: the first signing that uses it is remembered
    (form_stamps), and any later one is suspected ("stamp-reused").
    Raises PetitionClosed when the petition does not take signatures (now, in the database).

    `petition` needs only id and title: the signing view passes a light row, possibly a
    second old. The new row is written with one statement, outside the unit of work; this
    is the hottest path there is.
    """
    normalized = normalize_email(data.email)
    values: dict[str, Any] = {
        "new_petition_id": petition.id,
        "new_name": data.name.strip(),
        "new_email": canonical_email(data.email),
        "new_email_normalized": normalized,
        "new_email_domain": normalized.rpartition("@")[2],
        "new_country": data.country,
        "new_postcode": (data.postcode or "").strip().upper() or None,
        "new_comment": (data.comment or "").strip() or None,
        "new_organisation": (data.organisation or "").strip() or None,
        "new_job_title": (data.job_title or "").strip() or None,
        "new_show_name": data.show_name,
        "new_updates": data.updates,
        "new_ip_address": ip,
        "new_ip_key": ip_key(ip),
        "new_created_at": now,
        "new_resend_count": 0,
        "new_log_nonce": new_nonce(),
        "new_locale": data.locale,
        "new_suspected": suspected,
        "now": now,
    }
    digest = email_digest(normalized)
    context = signer_context(values["new_name"], petition, digest, data.updates, data.locale)
    # One statement decides, on every database and under any concurrency: the unique
    # constraint on (petition, mailbox) either takes the row or answers nothing, and nothing
    # is taken for a petition that is not open. On PostgreSQL the same statement queues the
    # email and answers a repeat (see _sign_or_repeat_statement); elsewhere the steps are
    # separate statements in the same transaction.
    postgresql = is_postgresql()
    if postgresql:
        values.update(
            mail_context=context,
            mail_subject=subject(CONFIRMATION_EMAIL, petition.title, data.locale),
            petition_title=petition.title,
            petition_slug=petition.slug,
            digest=digest,
            **resend_parameters(petition.title),
        )
        values["stamp"] = stamp
    elif stamp is not None and not _claim_stamp(stamp, now) and suspected is None:
        values["new_suspected"] = STAMP_REUSED
    # A signing from the view runs alone, committed by itself (see AutocommitStatement).
    alone = postgresql and commit and not session_in_transaction()
    for _ in range(3):
        if not postgresql:
            values["new_invalidated_at"] = now if values["new_suspected"] else None
        if postgresql:
            outcome: _SignOrRepeat
            if alone:
                outcome = _SIGN_OR_REPEAT_ALONE.first(values)
            else:
                outcome = db.session.execute(_SIGN_OR_REPEAT, values).one()
            if outcome.signed_id is not None:
                if alone:
                    return outcome.signed_id
                signature_id = outcome.signed_id
                break
            if outcome.existing_id is not None:  # a repeat, answered (its email queued) by the statement
                if commit:
                    db.session.commit()
                return outcome.existing_id
            alone = False  # a second try runs in the session
            if values["stamp"] is not None:  # the stamp's use is decided: the first try claimed it, or not
                if not outcome.claimed and values["new_suspected"] is None:
                    values["new_suspected"] = STAMP_REUSED
                values["stamp"] = None
        else:
            signature_id = db.session.execute(_SQLITE_INSERT, values).scalar()
            if signature_id is not None:
                break
        if not _is_open(petition.id, now):
            raise PetitionClosed()
        existing = _find(petition.id, normalized)
        if existing is not None:
            answer_repeat(existing, now=now)
            if commit:
                db.session.commit()
            return existing.id
        # the row that conflicted was withdrawn meanwhile: try again
    else:  # pragma: no cover - withdrawn three times in a row
        raise RuntimeError("could not store the signature")
    if not postgresql:
        queue_late_email(
            values["new_email"],
            subject(CONFIRMATION_EMAIL, petition.title, data.locale),
            CONFIRMATION_EMAIL,
            context,
            now=now,
            signature_id=signature_id,
        )
    if commit:
        db.session.commit()
    return signature_id


def sign(
    petition: Petition | Row,
    data: SignatureData,
    *,
    now: datetime,
    ip: str | None,
    suspected: str | None = None,
    stamp: str | None = None,
) -> Signature:
    """record(), returning the signature as an object for callers that go on to use it (the CLI, tests)."""
    return db.session.get_one(Signature, record(petition, data, now=now, ip=ip, suspected=suspected, stamp=stamp))


def _claim_stamp(stamp: str, now: datetime) -> bool:
    """Remember a form stamp's first use (SQLite; see _stamp_claim); False when a signing used it before."""
    claimed = db.session.execute(
        sqlite_insert(_STAMPS).values(nonce=stamp, used_at=now).on_conflict_do_nothing(index_elements=["nonce"])
    )
    return rowcount(claimed) == 1


def _find(petition_id: int, normalized: str) -> Signature | None:
    return db.session.scalar(
        select(Signature).where(Signature.petition_id == petition_id, Signature.email_normalized == normalized)
    )
