"""Signing and confirming: the rules that make a count credible."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import Row, bindparam, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm.attributes import set_committed_value

from . import counts, tokens
from .emails import canonical_email, normalize_email
from .exceptions import PetitionClosed, SignatureInvalidated, TokenInvalid
from .extensions import db
from .mail import external_url, queue_email
from .models import GroupDomain, Invalidation, Petition, Signature
from .models.petition import effective_status, open_at
from .netaddr import ip_key


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


def _token(signature_id: int, normalized: str, purpose: str) -> str:
    return tokens.make_token(purpose, [signature_id, _email_digest(normalized)])


def signature_token(signature: Signature, purpose: str = tokens.CONFIRM_SIGNATURE) -> str:
    """A token for a link about this signature, bound to its id, its mailbox and the purpose."""
    return _token(signature.id, signature.email_normalized, purpose)


def confirmation_token(signature: Signature) -> str:
    """The token in a signature's confirmation link."""
    return signature_token(signature, tokens.CONFIRM_SIGNATURE)


def _links(signature_id: int, normalized: str, updates: bool) -> dict[str, str | None]:
    links: dict[str, str | None] = {
        "confirm_url": external_url("public.verify", token=_token(signature_id, normalized, tokens.CONFIRM_SIGNATURE)),
        "withdraw_url": external_url("public.withdraw", token=_token(signature_id, normalized, tokens.WITHDRAW_SIGNATURE)),
        "unsubscribe_url": None,
    }
    if updates:  # the link to stop updates is only in the emails of signers who asked for them
        links["unsubscribe_url"] = external_url("public.unsubscribe", token=_token(signature_id, normalized, tokens.UNSUBSCRIBE))
    return links


def signer_links(signature: Signature) -> dict[str, str | None]:
    """The links every email to a signer carries: confirm, withdraw, and (when they asked for updates) stop updates."""
    return _links(signature.id, signature.email_normalized, signature.updates)


@dataclass(frozen=True)
class Signed:
    """What the confirmation email needs to know of a signature just stored."""

    id: int
    name: str
    updates: bool


_SIGNATURES = Signature.__table__
_PETITIONS = Petition.__table__
# What a new signature's INSERT sets; the rest (confirmed_at, invalidated_at, ...) start NULL.
_COLUMNS = (
    "petition_id", "name", "email", "email_normalized", "email_domain", "country", "postcode", "comment",
    "show_name", "updates", "ip_address", "ip_key", "created_at", "resend_count",
)


def _insert_statement(dialect: str):
    """INSERT ... SELECT <values> WHERE <the petition is open> ON CONFLICT DO NOTHING RETURNING id.

    Built once per dialect; the values come as parameters. The petition's being open is
    checked by the statement that stores, so a petition closed a moment ago takes nothing.
    """
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    petition_open = exists().where(
        _PETITIONS.c.id == bindparam("petition_id"), open_at(bindparam("now", type_=_PETITIONS.c.closes_at.type))
    )
    values = select(*[bindparam(c, type_=_SIGNATURES.c[c].type) for c in _COLUMNS]).where(petition_open)
    return (
        insert(_SIGNATURES)
        .from_select(list(_COLUMNS), values)
        .on_conflict_do_nothing(index_elements=["petition_id", "email_normalized"])
        .returning(_SIGNATURES.c.id)
    )


_INSERTS = {name: _insert_statement(name) for name in ("postgresql", "sqlite")}


def _is_open(petition_id: int, now: datetime) -> bool:
    row = db.session.execute(
        select(_PETITIONS.c.status, _PETITIONS.c.closes_at).where(_PETITIONS.c.id == petition_id)
    ).first()
    return row is not None and effective_status(row.status, row.closes_at, now) == "open"


def record(
    petition: Petition | Row, data: SignatureData, *, now: datetime, ip: str | None, suspected: str | None = None
) -> int:
    """Record a pending signature and queue its confirmation email, in the caller's transaction; return its id.

    A repeated signing by the same mailbox stores nothing new and, up to a few times, emails
    that mailbox again (the link once more, or "you have already signed"), and returns the
    existing signature's id. The caller answers both cases the same way, so the response
    never tells who has signed. A `suspected` signing (see abuse.KINDS) is stored and can be
    confirmed, but is not counted unless an administrator reverses its automatic batch.
    Raises PetitionClosed when the petition does not take signatures (now, in the database).

    `petition` needs only id and title: the signing view passes a light row, possibly a
    second old. The new row is written with one statement, outside the unit of work; this
    is the hottest path there is.
    """
    normalized = normalize_email(data.email)
    values = {
        "petition_id": petition.id,
        "name": data.name.strip(),
        "email": canonical_email(data.email),
        "email_normalized": normalized,
        "email_domain": normalized.rpartition("@")[2],
        "country": data.country,
        "postcode": (data.postcode or "").strip().upper() or None,
        "comment": (data.comment or "").strip() or None,
        "show_name": data.show_name,
        "updates": data.updates,
        "ip_address": ip,
        "ip_key": ip_key(ip),
        "created_at": now,
        "resend_count": 0,
        "now": now,
    }
    # One statement decides, on every database and under any concurrency: the unique
    # constraint on (petition, mailbox) either takes the row or answers nothing, and nothing
    # is taken for a petition that is not open.
    statement = _INSERTS[db.session.get_bind().dialect.name]
    for _ in range(3):
        signature_id = db.session.execute(statement, values).scalar()
        if signature_id is not None:
            break
        if not _is_open(petition.id, now):
            raise PetitionClosed()
        existing = _find(petition.id, normalized)
        if existing is not None:
            _answer_repeat(existing, now=now)
            return existing.id
        # the row that conflicted was withdrawn meanwhile: try again
    else:  # pragma: no cover - withdrawn three times in a row
        raise RuntimeError("could not store the signature")
    if suspected:
        from .abuse import mark_suspected

        mark_suspected(signature_id, petition.id, suspected, now)
    queue_email(
        values["email"],
        f"Please confirm your signature: {petition.title}"[:255],
        "confirm_signature",
        now=now,
        petition=petition,
        signature=Signed(signature_id, values["name"], data.updates),
        **_links(signature_id, normalized, data.updates),
    )
    return signature_id


def sign(
    petition: Petition | Row, data: SignatureData, *, now: datetime, ip: str | None, suspected: str | None = None
) -> Signature:
    """record(), returning the signature as an object for callers that go on to use it (the CLI, tests)."""
    return db.session.get(Signature, record(petition, data, now=now, ip=ip, suspected=suspected))


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
    if claimed.rowcount != 1 or signature.invalidated_at is not None:
        return
    petition = signature.petition
    if signature.confirmed_at is not None:
        queue_email(
            signature.email,
            f"You have already signed: {petition.title}"[:255],
            "already_signed",
            now=now,
            petition=petition,
            petition_url=external_url("public.petition", slug=petition.slug),
            **signer_links(signature),
        )
    else:
        queue_email(
            signature.email,
            f"Please confirm your signature: {petition.title}"[:255],
            "confirm_signature",
            now=now,
            petition=petition,
            signature=signature,
            **signer_links(signature),
        )


def _link(token: str, *, purpose: str, now: datetime, max_age: int | None) -> tuple[int, str]:
    """(signature id, mailbox digest) of a genuine, unexpired link; raises TokenInvalid or TokenExpired."""
    if max_age is None:
        max_age = current_app.config["SIGNATURE_TOKEN_MAX_AGE"]
    payload = tokens.read_token(purpose, token, max_age=max_age, now=now)
    try:
        return int(payload[0]), str(payload[1])
    except (TypeError, ValueError, IndexError, KeyError):
        raise TokenInvalid() from None


def signature_from_token(
    token: str, *, now: datetime, purpose: str = tokens.CONFIRM_SIGNATURE, max_age: int | None = None
) -> Signature:
    """The signature a link names; raises TokenInvalid or TokenExpired."""
    signature_id, digest = _link(token, purpose=purpose, now=now, max_age=max_age)
    signature = db.session.get(Signature, signature_id)
    if signature is None or _email_digest(signature.email_normalized) != digest:
        raise TokenInvalid()
    return signature


def held_as_suspected(signature: Signature) -> bool:
    """True when the site itself holds the signature as suspected (not an administrator's invalidation)."""
    if signature.invalidated_at is None or signature.invalidation_id is None:
        return False
    batch = db.session.get(Invalidation, signature.invalidation_id)
    return batch is not None and batch.actor_id is None


_STATUS = select(_PETITIONS.c.status).where(_PETITIONS.c.id == bindparam("pid"))
CONFIRMABLE = ("open", "closed", "hidden")
_GROUP_DOMAINS = GroupDomain.__table__
# What confirming by link needs, in one read: the signature, its petition, whether it has groups.
_LINKED = (
    select(
        _SIGNATURES.c.id, _SIGNATURES.c.email_normalized, _SIGNATURES.c.invalidated_at,
        _PETITIONS.c.id.label("petition_id"), _PETITIONS.c.slug, _PETITIONS.c.status,
        exists().where(_GROUP_DOMAINS.c.petition_id == _PETITIONS.c.id).label("has_groups"),
    )
    .join_from(_SIGNATURES, _PETITIONS, _SIGNATURES.c.petition_id == _PETITIONS.c.id)
    .where(_SIGNATURES.c.id == bindparam("sid"))
)


def confirm_link(token: str, *, now: datetime) -> tuple[bool, Row]:
    """Confirm the signature a confirmation link names: (newly counted?, its petition's id, slug and status).

    What every viral confirmation does, a pending and valid signature, costs one read, one
    UPDATE and one statement for the counters; anything else (held as suspected, already
    confirmed, withdrawn meanwhile) takes the long way through confirm(), with the same
    answers. Raises TokenInvalid, TokenExpired, PetitionClosed or SignatureInvalidated.
    """
    signature_id, digest = _link(token, purpose=tokens.CONFIRM_SIGNATURE, now=now, max_age=None)
    row = db.session.execute(_LINKED, {"sid": signature_id}).first()
    if row is None or _email_digest(row.email_normalized) != digest:
        raise TokenInvalid()
    if row.status not in CONFIRMABLE:
        raise PetitionClosed()
    done = None
    if row.invalidated_at is None:
        done = db.session.execute(_CONFIRM, {"signature_id": signature_id, "confirm_at": now}).first()
    if done is None:
        return confirm(db.session.get(Signature, signature_id), now=now, petition_status=row.status), row
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
    if signature.invalidated_at is not None:
        batch = db.session.get(Invalidation, signature.invalidation_id) if signature.invalidation_id else None
        if batch is None or batch.actor_id is not None:
            raise SignatureInvalidated()
        # Suspected by the site itself: the signer sees the same confirmation, the count does not move.
        # An administrator who reverses the batch counts it then.
        held = db.session.execute(
            update(Signature)
            .where(Signature.id == signature.id, Signature.confirmed_at.is_(None), Signature.invalidation_id == batch.id)
            .values(confirmed_at=now)
            .execution_options(synchronize_session=False)
        )
        db.session.expire(signature)
        current = db.session.get(Signature, signature.id)
        if current is None:  # withdrawn or purged meanwhile
            raise TokenInvalid()
        if held.rowcount == 1:
            return True
        if current.invalidated_at is not None:
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
    .where(_SIGNATURES.c.id == bindparam("signature_id"), _SIGNATURES.c.confirmed_at.is_(None), _SIGNATURES.c.invalidated_at.is_(None))
    .values(confirmed_at=bindparam("confirm_at", type_=_SIGNATURES.c.confirmed_at.type))
    .returning(_SIGNATURES.c.petition_id, _SIGNATURES.c.country, _SIGNATURES.c.email_domain, _SIGNATURES.c.confirmed_at)
)


def withdraw(signature: Signature, *, now: datetime) -> None:
    """Delete a signature at its signer's request; if it was counted, every count drops by one.

    The row is locked first, so a confirmation pressed at the same moment either counts
    before and is taken back here, or finds the row gone.
    """
    locked = db.session.scalar(select(Signature).where(Signature.id == signature.id).with_for_update())
    if locked is None:
        raise TokenInvalid()
    db.session.refresh(locked)
    if locked.counts:
        counts.apply([counts.Counted.of(locked)], -1, now=now)
    db.session.delete(locked)
    db.session.flush()


def unsubscribe(signature: Signature) -> None:
    """Stop update emails to this signer."""
    signature.updates = False
    db.session.flush()
