"""Confirming a signature: the first press counts it, every later one changes nothing.

Three paths, each deciding "who confirmed first" with `UPDATE ... WHERE confirmed_at IS NULL`:
- PostgreSQL's one statement (_CONFIRM_ONE), committed by itself, for what nearly every
  confirmation is: a pending, valid signature and a link to it;
- confirm_link's session path (one read, one UPDATE, the counters), elsewhere or inside a
  transaction;
- confirm(), the long way that gives every other case its answer: held as suspected,
  already confirmed, invalidated, withdrawn meanwhile.
Which signatures a confirmation counts, and which it only holds, is counting/rules.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, bindparam, exists, select, update
from sqlalchemy.orm.attributes import set_committed_value

from petitions.counting import counts
from petitions.counting.rules import AWAITING_CONFIRMATION_SQL, awaiting_confirmation, holding_as_suspected
from petitions.exceptions import PetitionClosed, SignatureInvalidated, TokenInvalid
from petitions.extensions import db
from petitions.infra import tokens
from petitions.infra.database import AutocommitStatement, is_postgresql, rowcount, session_in_transaction
from petitions.infra.live import publish_changed
from petitions.models import GroupDomain, Petition, Signature
from petitions.signatures.links import bound_to, email_digest_sql, read_link

_SIGNATURES = Signature.__table__
_PETITIONS = Petition.__table__

CONFIRMABLE = ("open", "closed", "hidden")  # a petition's statuses in which its signatures can be confirmed
_GROUP_DOMAINS = GroupDomain.__table__

# The statements below are built once, at import: they run on every confirmation, which
# would otherwise build each again and compute its cache key before SQLAlchemy finds its
# compiled SQL (and AutocommitStatement compiles _CONFIRM_ONE once per process).

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
# A pending, valid signature confirmed (rules.awaiting_confirmation), returning what the counters need.
_CONFIRM = (
    update(_SIGNATURES)
    .where(_SIGNATURES.c.id == bindparam("signature_id"), *awaiting_confirmation())
    .values(confirmed_at=bindparam("confirm_at", type_=_SIGNATURES.c.confirmed_at.type))
    .returning(_SIGNATURES.c.petition_id, _SIGNATURES.c.country, _SIGNATURES.c.email_domain, _SIGNATURES.c.confirmed_at)
)
_STATUS = select(_PETITIONS.c.status).where(_PETITIONS.c.id == bindparam("pid"))

# PostgreSQL: a pending, valid signature confirmed and counted by ONE statement, run on its own
# (autocommit), so it is its own transaction. The counter rows of a hot petition, which every
# confirmation waits for, are then locked only while PostgreSQL runs it and flushes the commit,
# never while the request's thread waits for its turn to run Python again. The signature is
# updated first (when rules.awaiting_confirmation holds, in its SQL text), then every counter
# as counts.COUNT_ONE_CTES moves it; the link's mailbox digest is checked in SQL
# (links.email_digest_sql). A link bound to the key a mailbox had before (links.bound_to)
# confirms nothing here and takes the session path.
_CONFIRM_ONE = counts.count_one_statement(
    f"""
        UPDATE signatures SET confirmed_at = :now FROM petitions
        WHERE signatures.id = :sid AND {AWAITING_CONFIRMATION_SQL}
          AND {email_digest_sql("signatures.email_normalized")} = :digest
          AND petitions.id = signatures.petition_id AND petitions.status = ANY(:confirmable)
        RETURNING signatures.petition_id, signatures.country, signatures.email_domain, petitions.slug, petitions.status
    """,  # noqa: S608 - constant SQL of counting/rules and links, never input
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
    signature_id, digest = read_link(token, purpose=tokens.CONFIRM_SIGNATURE, now=now, max_age=None)
    if is_postgresql() and not session_in_transaction():
        done = _confirm_in_one_statement(signature_id, digest, now)
        if done is not None:
            return True, done
    row = db.session.execute(_LINKED, {"sid": signature_id}).first()
    if row is None or not bound_to(digest, row.email_normalized, row.email):
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
            .where(Signature.id == signature.id, Signature.confirmed_at.is_(None), *holding_as_suspected())
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
