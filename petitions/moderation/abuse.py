"""Defences of the count: bots, floods, blocked senders. Suspicious signatures are kept, not counted.

A signing that trips a defence still gets the same answer as any other (bots learn nothing),
and its signature is stored as suspected (invalidated, with why) by the same statement as any
signature; it joins a daily automatic invalidation batch of its petition afterwards
(assign_suspected): an administrator sees the batch under /admin/invalidations and can
reverse it, which counts the confirmed ones. Only the honeypot, which no person can see,
drops a submission outright.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from disposable_email_domains import blocklist as _disposable
from flask import current_app
from itsdangerous import BadSignature
from limits import parse_many
from sqlalchemy import delete, select, update

from petitions.counting.rules import domain_suffixes
from petitions.extensions import db, limiter
from petitions.infra.database import rowcount
from petitions.infra.netaddr import ip_key
from petitions.infra.tokens import serializer
from petitions.models import BlockedDomain, BlockedNetwork, FormStamp, Invalidation, Petition, Signature

FORM_STARTED = "sign-form-started"
KINDS = {
    "rate": "over the signing rate limit",
    "fast": "form sent faster than a person can",
    "stamp": "form stamp expired or not from this petition's form in this browser",
    "stamp-reused": "form stamp already used for another signing",
    "blocked-domain": "email domain blocked by an administrator",
    "blocked-network": "network blocked by an administrator",
}


def _binding(session_key: str | None) -> str:
    """What ties a stamp to one browser's session: a digest of its CSRF secret (never the secret)."""
    return hashlib.sha256((session_key or "").encode()).hexdigest()[:16]


def form_started_token(petition_id: int, session_key: str | None) -> str:
    """A signed stamp put in a hidden field of the signing form: when it was shown, for which
    petition, to which session (`session_key`, that session's CSRF secret), and a nonce of its own."""
    return serializer(FORM_STARTED).dumps([petition_id, _binding(session_key), secrets.token_urlsafe(12)])


@dataclass(frozen=True)
class Stamp:
    """What a signing form's stamp says: its age (None: missing or forged), whether it was made
    for this petition and session and is not too old, and its nonce (remembered once used)."""

    age: float | None
    valid: bool = False
    nonce: str | None = None


def read_stamp(token: str | None, *, petition_id: int, session_key: str | None, now: datetime) -> Stamp:
    """Check a stamp sent with a signing of `petition_id` by the session whose CSRF secret is `session_key`."""
    if not token:
        return Stamp(age=None)
    try:
        payload, signed_at = serializer(FORM_STARTED).loads(token, return_timestamp=True)
    except BadSignature:
        return Stamp(age=None)
    age = (now - signed_at).total_seconds()
    if not (isinstance(payload, list) and len(payload) == 3 and isinstance(payload[2], str) and len(payload[2]) <= 32):
        return Stamp(age=age)  # a stamp of the old kind, bound to nothing
    pid, binding, nonce = payload
    valid = pid == petition_id and binding == _binding(session_key) and age <= current_app.config["SIGN_STAMP_MAX_AGE"]
    return Stamp(age=age, valid=valid, nonce=nonce)


def is_disposable(domain: str) -> bool:
    """True for a throwaway-mailbox provider (or a subdomain of one)."""
    return any(d in _disposable for d in domain_suffixes(domain))


class _Blocks:
    """This process's copy of the block lists, read again every BLOCKS_REFRESH seconds.

    Blocks are few and change rarely; reading them per signing would cost two queries on the
    hottest path there is. One copy per application, kept in app.extensions.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.expires = 0.0
        self.lists: tuple[frozenset[str], tuple[tuple[str, str], ...]] = (frozenset(), ())

    def get(self) -> tuple[frozenset[str], tuple[tuple[str, str], ...]]:
        if time.monotonic() >= self.expires:
            domains = frozenset(db.session.scalars(select(BlockedDomain.domain)))
            networks = tuple(
                (first, last)
                for first, last in db.session.execute(select(BlockedNetwork.first_key, BlockedNetwork.last_key))
            )
            with self.lock:
                self.lists = (domains, networks)
                self.expires = time.monotonic() + float(current_app.config["BLOCKS_REFRESH"])
        return self.lists

    def forget(self) -> None:
        """Read the lists again on next use (after this process changed them)."""
        self.expires = 0.0


def blocks_cache() -> _Blocks:
    """The current application's copy of the block lists."""
    cache: _Blocks = current_app.extensions.setdefault("blocks_cache", _Blocks())
    return cache


def blocked_domain(domain: str) -> bool:
    """True when an administrator blocked this domain or a parent of it."""
    domains, _ = blocks_cache().get()
    return any(d in domains for d in domain_suffixes(domain))


def blocked_network(ip: str | None) -> bool:
    """True when the address lies in a network an administrator blocked."""
    _, networks = blocks_cache().get()
    if not networks:
        return False
    key = ip_key(ip)
    return key is not None and any(first <= key <= last for first, last in networks)


def over_rate_limit(ip: str | None, petition_id: int) -> bool:
    """Count this signing against the per-petition and per-address limits; True when over either.

    The limits live where Flask-Limiter stores them (Redis when REDIS_URL is set), so every
    process and machine shares them.
    """
    if not current_app.config["RATELIMIT_ENABLED"] or not ip:
        return False
    strategy = limiter.limiter
    over = False
    for item in parse_many(current_app.config["RATELIMIT_SIGN_PER_PETITION"]):
        over |= not strategy.hit(item, "sign-petition", ip, str(petition_id))
    for item in parse_many(current_app.config["RATELIMIT_SIGN_PER_ADDRESS"]):
        over |= not strategy.hit(item, "sign-address", ip)
    return over


@dataclass(frozen=True)
class Verdict:
    """What to do with a signing: drop it (a bot), keep it as suspected (with why), or count it.

    `stamp` is the form stamp's nonce: signing.record remembers its first use, and keeps a
    second signing with it as suspected ("stamp-reused").
    """

    drop: bool = False
    suspected: str | None = None
    stamp: str | None = None


def judge(
    *,
    petition_id: int,
    email_domain: str,
    ip: str | None,
    form_started: str | None,
    honeypot: str | None,
    now: datetime,
    session_key: str | None = None,
) -> Verdict:
    """Decide how far to trust a signing before it is stored.

    `session_key` is the signer's session's CSRF secret, which the form's stamp must be bound to.
    """
    if honeypot:
        return Verdict(drop=True)
    stamp = read_stamp(form_started, petition_id=petition_id, session_key=session_key, now=now)
    suspected = None
    if blocked_network(ip):
        suspected = "blocked-network"
    elif blocked_domain(email_domain):
        suspected = "blocked-domain"
    elif stamp.age is None or stamp.age < current_app.config["SIGN_MIN_SECONDS"]:
        suspected = "fast"
    elif not stamp.valid:
        suspected = "stamp"
    elif over_rate_limit(ip, petition_id):
        suspected = "rate"
    return Verdict(suspected=suspected, stamp=stamp.nonce)


def _reason(kind: str, day: date) -> str:
    return f"Suspected: {KINDS.get(kind, kind)} ({day:%Y-%m-%d})"


def automatic_batch(petition_id: int, kind: str, day: date, *, now: datetime) -> Invalidation:
    """The automatic batch of suspected signatures of this kind on this petition made on `day`, not reversed.

    Locked (PostgreSQL) until the commit, so a reversal waits for the signatures being put in
    it; a new one is made under the petition's row lock, so two callers never make two.
    """
    reason = _reason(kind, day)
    find = (
        select(Invalidation)
        .where(
            Invalidation.petition_id == petition_id,
            Invalidation.actor_id.is_(None),
            Invalidation.reason == reason,
            Invalidation.reversed_at.is_(None),
        )
        .order_by(Invalidation.id)
        .limit(1)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    batch = db.session.scalar(find)
    if batch is None:
        db.session.execute(select(Petition.id).where(Petition.id == petition_id).with_for_update())
        batch = db.session.scalar(find)
    if batch is None:
        batch = Invalidation(
            petition_id=petition_id,
            actor_id=None,
            reason=reason,
            signature_count=0,
            created_at=now,
            criteria={"automatic": kind, "day": f"{day:%Y-%m-%d}"},
        )
        db.session.add(batch)
        db.session.flush()
    return batch


def assign_suspected(*, now: datetime, limit: int = 1000) -> int:
    """Put suspected signatures not yet in a batch into their day's automatic batch; return how many.

    A suspected signing only marks its own row (see signing.record), so a flood of them costs
    what people's signings cost and never waits for one shared batch row; the worker and the
    administrator's pages call this to bring the batches up to date. At most `limit` groups
    (petition, kind, day) per call.
    """
    assigned = 0
    for _ in range(limit):
        first = db.session.execute(
            select(Signature.petition_id, Signature.suspected, Signature.created_at)
            .where(Signature.suspected.is_not(None), Signature.invalidation_id.is_(None))
            .limit(1)
        ).first()
        if first is None:
            break
        day = first.created_at.date()
        start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
        batch = automatic_batch(first.petition_id, first.suspected, day, now=now)
        n = rowcount(
            db.session.execute(
                update(Signature)
                .where(
                    Signature.petition_id == first.petition_id,
                    Signature.suspected == first.suspected,
                    Signature.invalidation_id.is_(None),
                    Signature.created_at >= start,
                    Signature.created_at < start + timedelta(days=1),
                )
                .values(invalidation_id=batch.id)
                .execution_options(synchronize_session=False)
            )
        )
        batch.signature_count += n
        db.session.flush()
        assigned += n
    return assigned


def purge_form_stamps(*, now: datetime) -> int:
    """Forget the uses of stamps older than SIGN_STAMP_MAX_AGE: such stamps are refused anyway."""
    cutoff = now - timedelta(seconds=current_app.config["SIGN_STAMP_MAX_AGE"])
    return rowcount(
        db.session.execute(
            delete(FormStamp).where(FormStamp.used_at < cutoff).execution_options(synchronize_session=False)
        )
    )
