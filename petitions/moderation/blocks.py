"""Blocked email domains and networks, edited by administrators; every change is audited."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from flask_babel import gettext as _
from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError

from petitions.exceptions import DomainError
from petitions.extensions import db
from petitions.infra.netaddr import network_range
from petitions.models import BlockedDomain, BlockedNetwork, Petition, Signature, User
from petitions.moderation import audit
from petitions.moderation.abuse import blocks_cache
from petitions.moderation.invalidation import InvalidCriteria, parse_domain, parse_network


class BlockError(DomainError):
    """The block cannot be added as asked; the message says why."""


def _reason(text: str) -> str:
    text = (text or "").strip()[:500]
    if not text:
        raise BlockError(_("Please give the reason for the block."))
    return text


def block_domain(domain: str, actor: User, *, reason: str, now: datetime) -> BlockedDomain:
    """Keep future signatures from this domain (and its subdomains) as suspected."""
    text = _reason(reason)
    try:
        domain = parse_domain(domain)
    except InvalidCriteria as exc:
        raise BlockError(exc.message) from None
    row = BlockedDomain(domain=domain, reason=text, created_at=now, created_by_id=actor.id)
    return _add(row, domain, actor, action="block.domain", details={"domain": domain}, now=now)


def block_network(cidr: str, actor: User, *, reason: str, now: datetime) -> BlockedNetwork:
    """Keep future signatures from this IP network as suspected."""
    text = _reason(reason)
    try:
        cidr = parse_network(cidr)
    except InvalidCriteria as exc:
        raise BlockError(exc.message) from None
    first, last = network_range(cidr)
    row = BlockedNetwork(cidr=cidr, first_key=first, last_key=last, reason=text, created_at=now, created_by_id=actor.id)
    return _add(row, cidr, actor, action="block.network", details={"network": cidr}, now=now)


# A block row of either kind.
_Block = TypeVar("_Block", BlockedDomain, BlockedNetwork)


def _add(row: _Block, what: str, actor: User, *, action: str, details: dict[str, Any], now: datetime) -> _Block:
    """Store a block (its unique constraint refuses a second one), audit it, and make this process see it."""
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        raise BlockError(_("%(what)s is blocked already.", what=what)) from None
    audit.record(actor, action, row.__tablename__, row.id, reason=row.reason, details=details, now=now)
    blocks_cache().forget()
    return row


def unblock(row: BlockedDomain | BlockedNetwork, actor: User, *, now: datetime) -> None:
    """Lift a block (signatures already kept as suspected stay so until their batch is reversed)."""
    what = row.domain if isinstance(row, BlockedDomain) else row.cidr
    audit.record(actor, "block.remove", row.__tablename__, row.id, reason=None, details={"blocked": what}, now=now)
    db.session.delete(row)
    db.session.flush()
    blocks_cache().forget()


def trending(
    *, now: datetime, window: timedelta = timedelta(hours=1), minimum: int = 20, share: float = 0.3
) -> list[dict[str, Any]]:
    """Petitions that received unusually many signatures from one email domain or one network in the window.

    "Unusually many": at least `minimum` signatures, making up at least `share` of the
    petition's signatures in the window. Networks are IPv4 /24 and IPv6 /48 (the first 30 or
    12 hex digits of the key). Big free-mail providers are left out of the domain check.
    """
    since = now - window
    recent = (
        select(Signature.petition_id, func.count().label("n"))
        .where(Signature.created_at >= since)
        .group_by(Signature.petition_id)
        .subquery()
    )
    found: list[dict[str, Any]] = []
    # (petition id, domain or network prefix, its signatures, all the petition's signatures)
    by_domain: Sequence[tuple[int, str, int, int]] = db.session.execute(
        select(Signature.petition_id, Signature.email_domain, func.count().label("n"), recent.c.n)
        .join(recent, recent.c.petition_id == Signature.petition_id)
        .where(Signature.created_at >= since, Signature.email_domain.not_in(COMMON_PROVIDERS))
        .group_by(Signature.petition_id, Signature.email_domain, recent.c.n)
        .having(func.count() >= minimum)
    ).all()
    for petition_id, domain, n, total in by_domain:
        if n >= share * total:
            found.append({"petition_id": petition_id, "kind": "domain", "value": domain, "count": n, "total": total})
    v4 = case(
        (Signature.ip_key.like(V4_MAPPED + "%"), func.substr(Signature.ip_key, 1, 30)),
        else_=func.substr(Signature.ip_key, 1, 12),
    )
    by_net: Sequence[tuple[int, str, int, int]] = db.session.execute(
        select(Signature.petition_id, v4.label("prefix"), func.count().label("n"), recent.c.n)
        .join(recent, recent.c.petition_id == Signature.petition_id)
        .where(Signature.created_at >= since, Signature.ip_key.is_not(None))
        .group_by(Signature.petition_id, v4, recent.c.n)
        .having(func.count() >= minimum)
    ).all()
    for petition_id, prefix, n, total in by_net:
        if n >= share * total:
            found.append(
                {
                    "petition_id": petition_id,
                    "kind": "network",
                    "value": _network_of(prefix),
                    "count": n,
                    "total": total,
                }
            )
    slugs = dict(
        db.session.execute(
            select(Petition.id, Petition.slug).where(Petition.id.in_({f["petition_id"] for f in found}))
        ).all()
    )
    for f in found:
        f["slug"] = slugs.get(f["petition_id"])
    return sorted(found, key=lambda f: -f["count"])


V4_MAPPED = "00000000000000000000ffff"


def _network_of(prefix: str) -> str:
    """The network a grouping prefix of keys stands for: an IPv4 /24 or an IPv6 /48."""
    value = int(prefix.ljust(32, "0"), 16)
    if prefix.startswith(V4_MAPPED):
        return str(ipaddress.IPv4Network((value & 0xFFFFFFFF, 24)))
    return str(ipaddress.IPv6Network((value, 48)))


COMMON_PROVIDERS = (
    "gmail.com",
    "outlook.com",
    "hotmail.com",
    "yahoo.com",
    "icloud.com",
    "live.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "yahoo.co.uk",
    "hotmail.co.uk",
    "orange.fr",
    "free.fr",
    "mail.ru",
    "yandex.ru",
    "qq.com",
    "163.com",
)
