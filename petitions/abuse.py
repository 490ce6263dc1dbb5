"""Defences of the count: bots, floods, blocked senders. Suspicious signatures are kept, not counted.

A signing that trips a defence still gets the same answer as any other (bots learn nothing),
and its signature is stored in a daily automatic invalidation batch of its petition: an
administrator sees the batch under /admin/invalidations and can reverse it, which counts the
confirmed ones. Only the honeypot, which no person can see, drops a submission outright.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from disposable_email_domains import blocklist as _disposable
from flask import current_app
from itsdangerous import BadSignature
from limits import parse_many
from sqlalchemy import select, update

from .counts import domain_suffixes
from .extensions import db, limiter
from .models import BlockedDomain, BlockedNetwork, Invalidation
from .netaddr import ip_key
from .tokens import serializer

FORM_STARTED = "sign-form-started"
KINDS = {
    "rate": "over the signing rate limit",
    "fast": "form sent faster than a person can",
    "blocked-domain": "email domain blocked by an administrator",
    "blocked-network": "network blocked by an administrator",
}


def form_started_token() -> str:
    """A signed stamp of when the signing form was shown, put in a hidden field."""
    return serializer(FORM_STARTED).dumps("s")


def form_age(token: str | None, now: datetime) -> float | None:
    """Seconds since the form with this stamp was shown, or None for a missing or forged stamp."""
    if not token:
        return None
    try:
        _, signed_at = serializer(FORM_STARTED).loads(
            token, return_timestamp=True
        )
    except BadSignature:
        return None
    return (now - signed_at).total_seconds()


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
                (first, last) for first, last in db.session.execute(select(BlockedNetwork.first_key, BlockedNetwork.last_key))
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
    return current_app.extensions.setdefault("blocks_cache", _Blocks())


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
    """What to do with a signing: drop it (a bot), keep it as suspected (with why), or count it."""

    drop: bool = False
    suspected: str | None = None


def judge(*, petition_id: int, email_domain: str, ip: str | None, form_started: str | None,
          honeypot: str | None, now: datetime) -> Verdict:
    """Decide how far to trust a signing before it is stored."""
    if honeypot:
        return Verdict(drop=True)
    if blocked_network(ip):
        return Verdict(suspected="blocked-network")
    if blocked_domain(email_domain):
        return Verdict(suspected="blocked-domain")
    age = form_age(form_started, now)
    if age is None or age < current_app.config["SIGN_MIN_SECONDS"]:
        return Verdict(suspected="fast")
    if over_rate_limit(ip, petition_id):
        return Verdict(suspected="rate")
    return Verdict()


def automatic_batch(petition_id: int, kind: str, now: datetime) -> Invalidation:
    """Today's automatic batch of suspected signatures of this kind on this petition."""
    reason = f"Suspected: {KINDS[kind]} ({now:%Y-%m-%d})"
    batch = db.session.scalar(
        select(Invalidation).where(
            Invalidation.petition_id == petition_id,
            Invalidation.actor_id.is_(None),
            Invalidation.reason == reason,
            Invalidation.reversed_at.is_(None),
        ).limit(1)
    )
    if batch is None:
        batch = Invalidation(
            petition_id=petition_id, actor_id=None, reason=reason, signature_count=0, created_at=now,
            criteria={"automatic": kind, "day": f"{now:%Y-%m-%d}"},
        )
        db.session.add(batch)
        db.session.flush()
    return batch


def mark_suspected(signature_id: int, petition_id: int, kind: str, now: datetime) -> None:
    """Put a new (unconfirmed) signature in today's automatic batch: stored, not counted."""
    for _ in range(3):
        batch = automatic_batch(petition_id, kind, now)
        # Only a batch nobody reversed meanwhile; the row lock makes this exact under concurrency.
        joined = db.session.execute(
            update(Invalidation)
            .where(Invalidation.id == batch.id, Invalidation.reversed_at.is_(None))
            .values(signature_count=Invalidation.signature_count + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        if joined == 1:
            break
        db.session.expire(batch)
    else:  # pragma: no cover - reversed three times in a row while we looked
        raise RuntimeError("could not find an open automatic batch")
    from .models import Signature

    db.session.execute(
        update(Signature)
        .where(Signature.id == signature_id)
        .values(invalidated_at=now, invalidation_id=batch.id)
        .execution_options(synchronize_session=False)
    )
