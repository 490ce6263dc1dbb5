"""Signing and confirming: the rules that make a count credible."""

from __future__ import annotations

import hashlib
import typing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from flask import current_app
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
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.dml import ReturningInsert
from sqlalchemy.sql.elements import Cast, ColumnElement
from sqlalchemy.sql.selectable import CTE, Exists, Select

from petitions.counting import counts
from petitions.exceptions import PetitionClosed, SignatureInvalidated, TokenInvalid
from petitions.extensions import db
from petitions.infra import tokens
from petitions.infra.database import AutocommitStatement, is_postgresql, rowcount, session_in_transaction
from petitions.infra.live import publish_changed
from petitions.infra.mail import OutboxRow, external_url, queue_late_email, rendered_late
from petitions.infra.netaddr import ip_key
from petitions.models import FormStamp, GroupDomain, OutboxMessage, Petition, Signature
from petitions.models.petition import effective_status, open_at
from petitions.models.types import UTCDateTime
from petitions.signatures.mailboxes import canonical_email, legacy_key, normalize_email


@dataclass(frozen=True)
class SignatureData:
    """What a signer typed into the form, already validated for shape."""

    name: str
    email: str
    country: str
    postcode: str | None = None
    comment: str | None = None
    show_name: bool = False
    updates: bool = False


def _email_digest(normalized: str) -> str:
    return hashlib.sha256(normalized.encode()).hexdigest()[:16]


def _token(signature_id: int, digest: str, purpose: str) -> str:
    return tokens.make_token(purpose, [signature_id, digest])


def signature_token(signature: Signature, purpose: str = tokens.CONFIRM_SIGNATURE) -> str:
    """A token for a link about this signature, bound to its id, its mailbox and the purpose."""
    return _token(signature.id, _email_digest(signature.email_normalized), purpose)


def confirmation_token(signature: Signature) -> str:
    """The token in a signature's confirmation link."""
    return signature_token(signature, tokens.CONFIRM_SIGNATURE)


def _links(signature_id: int, digest: str, updates: bool) -> dict[str, str | None]:
    links: dict[str, str | None] = {
        "confirm_url": external_url("public.verify", token=_token(signature_id, digest, tokens.CONFIRM_SIGNATURE)),
        "withdraw_url": external_url("public.withdraw", token=_token(signature_id, digest, tokens.WITHDRAW_SIGNATURE)),
        "unsubscribe_url": None,
    }
    if updates:  # the link to stop updates is only in the emails of signers who asked for them
        links["unsubscribe_url"] = external_url(
            "public.unsubscribe", token=_token(signature_id, digest, tokens.UNSUBSCRIBE)
        )
    return links


def signer_links(signature: Signature) -> dict[str, str | None]:
    """The links every email to a signer carries: confirm, withdraw, and (when they asked for updates) stop updates."""
    return _links(signature.id, _email_digest(signature.email_normalized), signature.updates)


CONFIRMATION_EMAIL = "confirm_signature"
ALREADY_SIGNED_EMAIL = "already_signed"


def _signer_context(name: str, petition: Petition | Row, digest: str, updates: bool) -> dict[str, Any]:
    """What an email to a signer, rendered by the worker, needs to know (the same keys as the SQL in
    _sign_or_repeat_statement builds for a repeat)."""
    return {"name": name, "title": petition.title, "slug": petition.slug, "digest": digest, "updates": updates}


def _late_context(message: OutboxRow) -> tuple[int, dict[str, Any]]:
    """The signature an email to a signer is about, and the context its request stored."""
    context = message.context
    if message.signature_id is None or not context:
        raise ValueError("an email to a signer without its signature or context")
    return message.signature_id, context


@rendered_late(CONFIRMATION_EMAIL)
def _confirmation_context(message: OutboxRow) -> dict[str, Any]:
    """The context of a new signature's confirmation email, made by the mail worker when it sends it.

    The signing request stored only what the email says (the signer's name, the petition's
    title, whether they asked for updates) and the digest of the mailbox the links are bound
    to; the links are signed now, so they are valid for their whole lifetime from arrival.
    """
    signature_id, context = _late_context(message)
    return {
        "signature": {"name": context["name"], "updates": context["updates"]},
        "petition": {"title": context["title"]},
        **_links(signature_id, context["digest"], bool(context["updates"])),
    }


@rendered_late(ALREADY_SIGNED_EMAIL)
def _already_signed_context(message: OutboxRow) -> dict[str, Any]:
    """The context of "you have already signed", queued by a repeated signing of a confirmed signature."""
    signature_id, context = _late_context(message)
    return {
        "petition": {"title": context["title"]},
        "petition_url": external_url("public.petition", slug=context["slug"]),
        **_links(signature_id, context["digest"], bool(context["updates"])),
    }


_SIGNATURES = Signature.__table__
_PETITIONS = Petition.__table__
# What a new signature's INSERT sets from its parameters; invalidated_at and suspected are set
# when the signing is suspected; the rest (confirmed_at, ...) start NULL.
_COLUMNS = (
    "petition_id",
    "name",
    "email",
    "email_normalized",
    "email_domain",
    "country",
    "postcode",
    "comment",
    "show_name",
    "updates",
    "ip_address",
    "ip_key",
    "created_at",
    "resend_count",
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


_SQLITE_INSERT = _insert_statement("sqlite")
_OUTBOX = OutboxMessage.__table__


def _sign_or_repeat_statement() -> Select[Any]:
    """PostgreSQL: a signing, new or repeated, and the email it sends, in ONE statement.

    - `claim`: the form stamp's first use (see _stamp_claim);
    - `signed`: the new signature (INSERT ... SELECT ... WHERE <open> ON CONFLICT DO NOTHING),
      suspected when the verdict says so or its stamp was used before;
    - `existing`: otherwise, this mailbox's signature on this petition, if the petition is open;
    - `repeated`: its resend counter, moved while under SIGNATURE_MAX_RESENDS (the claim);
    - `queued`: the outbox row: the confirmation email for a new signature; for a claimed
      repeat that is not invalidated, the link again (pending) or "already signed" (confirmed),
      rendered by the mail worker like the first.

    A repeat thus costs what a first signing costs, one statement: the answer's timing does
    not tell that an address has signed. The result row says which case it was; neither id
    (a closed petition, or a conflict with a signing not yet committed) sends the caller to
    the long path. Petition-level bind parameters: petition_title, petition_slug, digest;
    the stamp's nonce (or None): stamp.
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
    repeated = (
        update(_SIGNATURES)
        .where(_SIGNATURES.c.id.in_(select(existing.c.id)), _SIGNATURES.c.resend_count < bindparam("max_resends"))
        .values(resend_count=_SIGNATURES.c.resend_count + 1)
        .returning(
            _SIGNATURES.c.id,
            _SIGNATURES.c.email,
            _SIGNATURES.c.name,
            _SIGNATURES.c.updates,
            _SIGNATURES.c.confirmed_at,
            _SIGNATURES.c.invalidated_at,
        )
        .cte("repeated")
    )
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
    pending = repeated.c.confirmed_at.is_(None)
    again = select(
        repeated.c.email,
        case((pending, confirm_subject), else_=bindparam("repeat_subject", type_=_OUTBOX.c.subject.type)),
        case((pending, literal(CONFIRMATION_EMAIL)), else_=literal(ALREADY_SIGNED_EMAIL)),
        func.json_build_object(
            "name",
            repeated.c.name,
            "title",
            bindparam("petition_title", type_=String()),
            "slug",
            bindparam("petition_slug", type_=String()),
            "digest",
            bindparam("digest", type_=String()),
            "updates",
            repeated.c.updates,
        ),
        headers,
        now,
        now,
        attempts,
        repeated.c.id,
    ).where(repeated.c.invalidated_at.is_(None))
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
        "new_show_name": data.show_name,
        "new_updates": data.updates,
        "new_ip_address": ip,
        "new_ip_key": ip_key(ip),
        "new_created_at": now,
        "new_resend_count": 0,
        "new_suspected": suspected,
        "now": now,
    }
    digest = _email_digest(normalized)
    subject = f"Please confirm your signature: {petition.title}"[:255]
    context = _signer_context(values["new_name"], petition, digest, data.updates)
    # One statement decides, on every database and under any concurrency: the unique
    # constraint on (petition, mailbox) either takes the row or answers nothing, and nothing
    # is taken for a petition that is not open. On PostgreSQL the same statement queues the
    # email and answers a repeat (see _sign_or_repeat_statement); elsewhere the steps are
    # separate statements in the same transaction.
    postgresql = is_postgresql()
    if postgresql:
        values.update(
            mail_subject=subject,
            mail_context=context,
            petition_title=petition.title,
            petition_slug=petition.slug,
            digest=digest,
            repeat_subject=f"You have already signed: {petition.title}"[:255],
            max_resends=current_app.config["SIGNATURE_MAX_RESENDS"],
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
            _answer_repeat(existing, now=now)
            if commit:
                db.session.commit()
            return existing.id
        # the row that conflicted was withdrawn meanwhile: try again
    else:  # pragma: no cover - withdrawn three times in a row
        raise RuntimeError("could not store the signature")
    if not postgresql:
        queue_late_email(values["new_email"], subject, CONFIRMATION_EMAIL, context, now=now, signature_id=signature_id)
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


def _answer_repeat(signature: Signature, *, now: datetime) -> None:
    """Email the mailbox of a repeated signing, at most SIGNATURE_MAX_RESENDS times in all."""
    limit = current_app.config["SIGNATURE_MAX_RESENDS"]
    claimed = db.session.execute(
        update(Signature)
        .where(Signature.id == signature.id, Signature.resend_count < limit)
        .values(resend_count=Signature.resend_count + 1)
        .execution_options(synchronize_session=False)
    )
    if rowcount(claimed) != 1 or signature.invalidated_at is not None:
        return
    petition = signature.petition
    context = _signer_context(signature.name, petition, _email_digest(signature.email_normalized), signature.updates)
    if signature.confirmed_at is not None:
        subject, template = f"You have already signed: {petition.title}", ALREADY_SIGNED_EMAIL
    else:
        subject, template = f"Please confirm your signature: {petition.title}", CONFIRMATION_EMAIL
    queue_late_email(signature.email, subject[:255], template, context, now=now, signature_id=signature.id)


def _link(token: str, *, purpose: str, now: datetime, max_age: int | None) -> tuple[int, str]:
    """(signature id, mailbox digest) of a genuine, unexpired link; raises TokenInvalid or TokenExpired."""
    if max_age is None:
        max_age = current_app.config["SIGNATURE_TOKEN_MAX_AGE"]
    payload = tokens.read_token(purpose, token, max_age=max_age, now=now)
    try:
        return int(payload[0]), str(payload[1])
    except (TypeError, ValueError, IndexError, KeyError):
        raise TokenInvalid() from None


def _bound_to(digest: str, email_normalized: str, email: str) -> bool:
    """True when a link's mailbox digest is this signature's: of its key, or of the key it had
    before the provider rules (links sent then stay valid; migration 0008)."""
    return digest == _email_digest(email_normalized) or digest == _email_digest(legacy_key(email))


def signature_from_token(
    token: str, *, now: datetime, purpose: str = tokens.CONFIRM_SIGNATURE, max_age: int | None = None
) -> Signature:
    """The signature a link names; raises TokenInvalid or TokenExpired."""
    signature_id, digest = _link(token, purpose=purpose, now=now, max_age=max_age)
    signature = db.session.get(Signature, signature_id)
    if signature is None or not _bound_to(digest, signature.email_normalized, signature.email):
        raise TokenInvalid()
    return signature


def held_as_suspected(signature: Signature) -> bool:
    """True when the site itself holds the signature as suspected (not an administrator's invalidation)."""
    return signature.invalidated_at is not None and signature.suspected is not None and signature.withdrawn_at is None


_STATUS = select(_PETITIONS.c.status).where(_PETITIONS.c.id == bindparam("pid"))
CONFIRMABLE = ("open", "closed", "hidden")
_GROUP_DOMAINS = GroupDomain.__table__
# What confirming by link needs, in one read: the signature, its petition, whether it has groups.
_LINKED = (
    select(
        _SIGNATURES.c.id,
        _SIGNATURES.c.email_normalized,
        _SIGNATURES.c.email,
        _SIGNATURES.c.invalidated_at,
        _PETITIONS.c.id.label("petition_id"),
        _PETITIONS.c.slug,
        _PETITIONS.c.status,
        exists().where(_GROUP_DOMAINS.c.petition_id == _PETITIONS.c.id).label("has_groups"),
    )
    .join_from(_SIGNATURES, _PETITIONS, _SIGNATURES.c.petition_id == _PETITIONS.c.id)
    .where(_SIGNATURES.c.id == bindparam("sid"))
)


# PostgreSQL: a pending, valid signature confirmed and counted by ONE statement, run on its own
# (autocommit), so it is its own transaction. The counter rows of a hot petition, which every
# confirmation waits for, are then locked only while PostgreSQL runs it and flushes the commit,
# never while the request's thread waits for its turn to run Python again. The signature is
# updated first, then every counter as counts.COUNT_ONE_CTES moves it; the link's mailbox
# digest is checked in SQL (_email_digest's sha256).
_CONFIRM_ONE = counts.count_one_statement(
    """
        UPDATE signatures SET confirmed_at = :now FROM petitions
        WHERE signatures.id = :sid AND signatures.confirmed_at IS NULL AND signatures.invalidated_at IS NULL
          AND left(encode(sha256(convert_to(signatures.email_normalized, 'UTF8')), 'hex'), 16) = :digest
          AND petitions.id = signatures.petition_id AND petitions.status = ANY(:confirmable)
        RETURNING signatures.petition_id, signatures.country, signatures.email_domain, petitions.slug, petitions.status
    """,
    "s.petition_id, s.slug, s.status",
)
_CONFIRM_ONE_ALONE = AutocommitStatement(_CONFIRM_ONE)


def _confirm_in_one_statement(signature_id: int, digest: str, now: datetime) -> Any:
    """PostgreSQL's fast path of confirm_link, committed at once; None when it confirmed nothing."""
    params = {
        "sid": signature_id,
        "digest": digest,
        "now": now,
        "hour": counts.hour_of(now.astimezone(UTC)),
        "n": 1,
        "confirmable": list(CONFIRMABLE),
    }
    row = _CONFIRM_ONE_ALONE.first(params)
    if row is not None:
        publish_changed({row.petition_id})
    return row


def confirm_link(token: str, *, now: datetime) -> tuple[bool, Row]:
    """Confirm the signature a confirmation link names: (newly counted?, its petition's id, slug and status).

    What every viral confirmation does, a pending and valid signature, is on PostgreSQL one
    statement, committed by itself (see _CONFIRM_ONE); elsewhere one read, one UPDATE and
    the counters. Anything else (held as suspected, already confirmed, withdrawn meanwhile,
    a wrong link) takes the long way through confirm(), which gives each its answer.
    Raises TokenInvalid, TokenExpired, PetitionClosed or SignatureInvalidated.
    """
    signature_id, digest = _link(token, purpose=tokens.CONFIRM_SIGNATURE, now=now, max_age=None)
    if is_postgresql() and not session_in_transaction():
        done = _confirm_in_one_statement(signature_id, digest, now)
        if done is not None:
            return True, done
    row = db.session.execute(_LINKED, {"sid": signature_id}).first()
    if row is None or not _bound_to(digest, row.email_normalized, row.email):
        raise TokenInvalid()
    if row.status not in CONFIRMABLE:
        raise PetitionClosed()
    done = None
    if row.invalidated_at is None:
        done = db.session.execute(_CONFIRM, {"signature_id": signature_id, "confirm_at": now}).first()
    if done is None:
        return confirm(db.session.get_one(Signature, signature_id), now=now, petition_status=row.status), row
    counted = counts.Counted(done.petition_id, done.country, done.email_domain, done.confirmed_at)
    counts.apply([counted], +1, now=now, with_groups=bool(row.has_groups))
    return True, row


def confirm(signature: Signature, *, now: datetime, petition_status: str | None = None) -> bool:
    """Confirm a signature and count it. Returns False when it was already confirmed.

    The UPDATE only matches an unconfirmed row, so of two concurrent presses exactly one
    counts; the counter moves in the same transaction. `petition_status`, when the caller
    has just read it in this transaction, saves reading it again.
    """
    if petition_status is None:
        petition_status = db.session.execute(_STATUS, {"pid": signature.petition_id}).scalar()
    if petition_status not in CONFIRMABLE:
        raise PetitionClosed()
    if signature.withdrawn_at is not None:
        raise TokenInvalid()
    if signature.invalidated_at is not None:
        if signature.suspected is None:
            raise SignatureInvalidated()
        # Suspected by the site itself: the signer sees the same confirmation, the count does not move.
        # An administrator who reverses the batch counts it then.
        held = db.session.execute(
            update(Signature)
            .where(
                Signature.id == signature.id,
                Signature.confirmed_at.is_(None),
                Signature.suspected.is_not(None),
                Signature.withdrawn_at.is_(None),
            )
            .values(confirmed_at=now)
            .execution_options(synchronize_session=False)
        )
        db.session.expire(signature)
        current = db.session.get(Signature, signature.id)
        if current is None or current.withdrawn_at is not None:  # withdrawn or purged meanwhile
            raise TokenInvalid()
        if rowcount(held) == 1:
            return True
        if current.invalidated_at is not None:
            if current.suspected is None:
                raise SignatureInvalidated()
            return False  # already confirmed, still held
    if signature.invalidated_at is not None:
        raise SignatureInvalidated()
    row = db.session.execute(_CONFIRM, {"signature_id": signature.id, "confirm_at": now}).first()
    if row is None:
        db.session.expire(signature)
        current = db.session.get(Signature, signature.id)
        if current is None:  # withdrawn meanwhile
            raise TokenInvalid()
        if current.invalidated_at is not None:
            raise SignatureInvalidated()
        return False
    set_committed_value(signature, "confirmed_at", row.confirmed_at)
    # Last before the commit: a popular petition's counters are the rows every confirmation
    # waits for, so they are locked for as short a time as possible.
    counts.apply([counts.Counted(row.petition_id, row.country, row.email_domain, row.confirmed_at)], +1, now=now)
    return True


_CONFIRM = (
    update(_SIGNATURES)
    .where(
        _SIGNATURES.c.id == bindparam("signature_id"),
        _SIGNATURES.c.confirmed_at.is_(None),
        _SIGNATURES.c.invalidated_at.is_(None),
    )
    .values(confirmed_at=bindparam("confirm_at", type_=_SIGNATURES.c.confirmed_at.type))
    .returning(_SIGNATURES.c.petition_id, _SIGNATURES.c.country, _SIGNATURES.c.email_domain, _SIGNATURES.c.confirmed_at)
)


def withdraw(signature: Signature, *, now: datetime) -> bool:
    """Withdraw a signature at its signer's request; if it was counted, every count drops by one.

    A valid signature is deleted. An invalidated or suspected one stops counting for nothing,
    so deleting it would only let its mailbox sign again as new and be counted: its row is
    kept, emptied of everything but the mailbox and the invalidation, with `withdrawn_at` set
    (a second withdrawal changes nothing). Returns True when the row was kept so.

    The row is locked first, so a confirmation pressed at the same moment either counts
    before and is taken back here, or finds the row gone.
    """
    locked = db.session.scalar(select(Signature).where(Signature.id == signature.id).with_for_update())
    if locked is None:
        raise TokenInvalid()
    db.session.refresh(locked)
    if locked.withdrawn_at is not None:
        return True
    if locked.invalidated_at is not None:
        locked.withdrawn_at = now
        locked.name, locked.comment, locked.postcode = "", None, None
        locked.ip_address = locked.ip_key = None
        locked.show_name = locked.updates = False
        db.session.flush()
        return True
    if locked.counts:
        counts.apply([counts.Counted.of(locked)], -1, now=now)
    db.session.delete(locked)
    db.session.flush()
    return False


def unsubscribe(signature: Signature) -> None:
    """Stop update emails to this signer."""
    signature.updates = False
    db.session.flush()
