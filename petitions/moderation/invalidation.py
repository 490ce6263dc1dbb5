"""Invalidating signatures in bulk (fraud, bots), counted exactly, and reversing it.

An administrator describes the signatures (a petition, an email domain and its subdomains, an
IP network, a time window), sees how many match, then invalidates them with a reason. The rows
and every counter change in one transaction: the counters move only for the signatures that
were confirmed at the moment their rows were changed, which the UPDATE itself reports.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Row, Select, and_, case, delete, func, or_, select, update

from petitions.counting import counts
from petitions.counting.counts import Counted
from petitions.counting.rules import counted
from petitions.exceptions import DomainError
from petitions.extensions import db
from petitions.extensions import lazy_text as _l
from petitions.infra.database import rowcount
from petitions.infra.netaddr import network_range
from petitions.models import Invalidation, Petition, Signature, User
from petitions.moderation import audit
from petitions.transparency import removals

NO_CRITERIA = _l("Give at least one criterion: refusing to match every signature.")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class InvalidationError(DomainError):
    """An invalidation step that cannot be done; the message says why."""


class InvalidCriteria(InvalidationError):
    """A criterion that cannot be understood; `field` names the form field it came from (None: the whole form)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        """Keep the message and the field."""
        super().__init__(message)
        self.message = message
        self.field = field


class NothingToInvalidate(InvalidationError):
    """No signature that is still valid matches."""


class PreviewOutdated(InvalidationError):
    """The matching signatures changed between the preview and the confirmation."""

    def __init__(self, expected: int, actual: int) -> None:
        """Keep both numbers for the message."""
        super().__init__(
            _("%(actual)s signatures match now, not %(expected)s as in the preview.", actual=actual, expected=expected)
        )
        self.expected = expected
        self.actual = actual


class AlreadyReversed(InvalidationError):
    """The batch was reversed already."""


class ReasonRequired(InvalidationError):
    """Invalidating and reversing need a reason for the log."""


@dataclass(frozen=True)
class Criteria:
    """Which signatures: every given criterion must hold; at least one is given."""

    petition: Petition | None = None
    domain: str | None = None
    network: str | None = None
    created_from: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive

    def conditions(self) -> list[Any]:
        """The WHERE conditions, each on an indexed column."""
        conds: list[Any] = []
        if self.petition is not None:
            conds.append(Signature.petition_id == self.petition.id)
        if self.domain:
            # The domain and its subdomains; a domain holds no LIKE wildcards (checked in parse_domain).
            conds.append(or_(Signature.email_domain == self.domain, Signature.email_domain.like("%." + self.domain)))
        if self.network:
            lo, hi = network_range(self.network)
            conds.append(Signature.ip_key.between(lo, hi))
        if self.created_from is not None:
            conds.append(Signature.created_at >= self.created_from)
        if self.created_before is not None:
            conds.append(Signature.created_at < self.created_before)
        if not conds:  # never match every signature, whoever built these criteria
            raise InvalidCriteria(NO_CRITERIA)
        return conds

    def as_json(self) -> dict[str, Any]:
        """The criteria as stored with the batch and in the audit log."""
        data: dict[str, Any] = {}
        if self.petition is not None:
            data["petition"] = self.petition.slug
        if self.domain:
            data["domain"] = self.domain
        if self.network:
            data["network"] = self.network
        if self.created_from is not None:
            data["created_from"] = self.created_from.isoformat()
        if self.created_before is not None:
            data["created_before"] = self.created_before.isoformat()
        return data


def parse_domain(text: str) -> str:
    """A domain as signatures store it: lower case, IDNA-encoded, no '@' or dots around it."""
    domain = text.strip().lower()
    if "@" in domain:  # a whole address, or "@example.org"
        domain = domain.rpartition("@")[2]
    domain = domain.removeprefix("*.").strip(".")  # "*.example.org": subdomains match anyway
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidCriteria(_("%(text)s is not a domain like example.org.", text=repr(text)), "domain") from None
    labels = domain.split(".")
    if not domain or len(domain) > 253 or not all(_LABEL.match(label) for label in labels):
        raise InvalidCriteria(_("%(text)s is not a domain like example.org.", text=repr(text)), "domain")
    return domain


def parse_network(text: str) -> str:
    """A network in its normal form (203.0.113.0/24); a single address is a network of one."""
    try:
        network_range(text)
        return str(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError as exc:
        raise InvalidCriteria(str(exc), "network") from None


def criteria(
    *,
    slug: str | None = None,
    domain: str | None = None,
    network: str | None = None,
    created_from: datetime | None = None,
    created_before: datetime | None = None,
) -> Criteria:
    """Build and check the criteria from what an administrator typed. Raises InvalidCriteria.

    Refuses criteria that would match every signature.
    """
    petition = None
    if slug and slug.strip():
        petition = db.session.scalar(select(Petition).where(Petition.slug == slug.strip()))
        if petition is None:
            raise InvalidCriteria(_("No petition has the address %(slug)s.", slug=repr(slug.strip())), "petition")
    for name, value in (("created_from", created_from), ("created_before", created_before)):
        if value is not None and value.tzinfo is None:
            raise InvalidCriteria(_("Times must be given in UTC."), name)
    if created_from is not None and created_before is not None and created_from >= created_before:
        raise InvalidCriteria(_("The end of the time window must be after its start."), "created_before")
    result = Criteria(
        petition=petition,
        domain=parse_domain(domain) if domain and domain.strip() else None,
        network=parse_network(network) if network and network.strip() else None,
        created_from=created_from,
        created_before=created_before,
    )
    if (
        petition is None
        and not result.domain
        and not result.network
        and created_from is None
        and created_before is None
    ):
        raise InvalidCriteria(NO_CRITERIA)
    return result


@dataclass(frozen=True)
class Preview:
    """How many signatures match, before anything changes."""

    total: int
    confirmed: int  # valid and confirmed: these leave the counts
    pending: int  # valid, never confirmed
    invalid: int  # invalidated already; left as they are
    by_petition: list[tuple[Petition, int]]  # valid matches per petition, largest first

    @property
    def valid(self) -> int:
        """The signatures an invalidation would change."""
        return self.confirmed + self.pending


def preview(crit: Criteria, *, petitions_shown: int = 20) -> Preview:
    """Count the matching signatures; changes nothing."""
    conds = crit.conditions()
    valid = Signature.invalidated_at.is_(None)
    # Whole numbers as the database answers them: int, or Decimal for PostgreSQL's sums.
    total: Any
    confirmed: Any
    invalid: Any
    total, confirmed, invalid = db.session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((and_(*counted()), 1), else_=0)), 0),
            func.coalesce(func.sum(case((Signature.invalidated_at.is_not(None), 1), else_=0)), 0),
        ).where(*conds)
    ).one()
    rows = db.session.execute(
        select(Signature.petition_id, func.count().label("n"))
        .where(*conds, valid)
        .group_by(Signature.petition_id)
        .order_by(func.count().desc(), Signature.petition_id)
        .limit(petitions_shown)
    ).all()
    ids = [pid for pid, _ in rows]
    petitions = {p.id: p for p in db.session.scalars(select(Petition).where(Petition.id.in_(ids)))} if ids else {}
    return Preview(
        total=int(total),
        confirmed=int(confirmed),
        pending=int(total) - int(confirmed) - int(invalid),
        invalid=int(invalid),
        by_petition=[(petitions[pid], n) for pid, n in rows],
    )


def _lock_rows(*conds: Any) -> None:
    """Lock the rows about to change in id order (PostgreSQL), so two batches never deadlock each other.

    The UPDATE that follows is still the one that decides which rows change and what they were.
    SQLite takes the whole database for each writer (BEGIN IMMEDIATE) and ignores FOR UPDATE.
    """
    db.session.execute(select(Signature.id).where(*conds).order_by(Signature.id).with_for_update()).all()


def _counted(rows: Sequence[Row[int, str, str, datetime | None]]) -> list[Counted]:
    return [
        Counted(petition_id, country, email_domain, confirmed_at)
        for petition_id, country, email_domain, confirmed_at in rows
        if confirmed_at is not None
    ]


_RETURNED = (Signature.petition_id, Signature.country, Signature.email_domain, Signature.confirmed_at)


def invalidate(crit: Criteria, actor: User, *, reason: str, now: datetime, expected: int | None = None) -> Invalidation:
    """Invalidate every still-valid matching signature as one batch, and take the confirmed ones off the counts.

    `expected` is the number the administrator was shown; when the matches changed since,
    PreviewOutdated is raised and the caller rolls back. Raises ReasonRequired, NothingToInvalidate.
    """
    text = (reason or "").strip()[:500]
    if not text:
        raise ReasonRequired(_("Please give the reason for invalidating these signatures."))
    conds = [*crit.conditions(), Signature.invalidated_at.is_(None)]
    batch = Invalidation(
        petition_id=crit.petition.id if crit.petition is not None else None,
        actor_id=actor.id,
        reason=text,
        criteria=crit.as_json(),
        signature_count=0,
        created_at=now,
    )
    db.session.add(batch)
    db.session.flush()
    _lock_rows(*conds)
    # RETURNING gives each row as this UPDATE left it: a confirmation committed meanwhile is seen,
    # and one still to come finds invalidated_at set and confirms nothing (confirming.confirm).
    rows = db.session.execute(
        update(Signature)
        .where(*conds)
        .values(invalidated_at=now, invalidation_id=batch.id)
        .returning(*_RETURNED)
        .execution_options(synchronize_session=False)
    ).all()
    if not rows:
        raise NothingToInvalidate(_("No valid signature matches: nothing was invalidated."))
    if expected is not None and len(rows) != expected:
        raise PreviewOutdated(expected, len(rows))
    confirmed = _counted(rows)
    counts.apply(confirmed, -1, now=now)
    batch.signature_count = len(rows)
    audit.record(
        actor,
        "signatures.invalidate",
        "invalidation",
        batch.id,
        reason=text,
        details={**batch.criteria, "signatures": len(rows), "confirmed": len(confirmed)},
        now=now,
    )
    _reload()
    return batch


def reverse(batch: Invalidation, actor: User, *, reason: str, now: datetime) -> int:
    """Make a batch's signatures valid again and put the confirmed ones back on the counts. Returns how many.

    The batch's signatures that their signers withdrew meanwhile are deleted, not counted.

    Raises ReasonRequired, or AlreadyReversed (also when another administrator just did it).
    """
    text = (reason or "").strip()[:500]
    if not text:
        raise ReasonRequired(_("Please give the reason for reversing this invalidation."))
    claimed = db.session.execute(
        update(Invalidation)
        .where(Invalidation.id == batch.id, Invalidation.reversed_at.is_(None))
        .values(reversed_at=now, reversed_by_id=actor.id)
        .execution_options(synchronize_session=False)
    )
    if rowcount(claimed) != 1:
        raise AlreadyReversed(_("This invalidation was already reversed."))
    conds = [Signature.invalidation_id == batch.id]
    _lock_rows(*conds)
    rows = db.session.execute(
        update(Signature)
        .where(*conds, Signature.withdrawn_at.is_(None))
        .values(invalidated_at=None, invalidation_id=None, suspected=None)
        .returning(*_RETURNED)
        .execution_options(synchronize_session=False)
    ).all()
    # Signatures withdrawn while set aside were kept only to hold their mailbox (withdrawing.withdraw):
    # their signers asked for them to go, so they go now instead of counting again (and an add of
    # theirs still live in the public log, its removal not yet appended, is owed a remove).
    removals.note_removals(removals.WITHDRAWN, *conds, Signature.withdrawn_at.is_not(None))
    withdrawn = rowcount(
        db.session.execute(
            delete(Signature)
            .where(*conds, Signature.withdrawn_at.is_not(None))
            .execution_options(synchronize_session=False)
        )
    )
    confirmed = _counted(rows)
    counts.apply(confirmed, +1, now=now)
    audit.record(
        actor,
        "signatures.reverse",
        "invalidation",
        batch.id,
        reason=text,
        details={"signatures": len(rows), "confirmed": len(confirmed), "withdrawn": withdrawn},
        now=now,
    )
    _reload()
    return len(rows)


def _reload() -> None:
    """Rows and counters changed behind the session's back (bulk UPDATEs): flush, then reload anything read next."""
    db.session.flush()
    db.session.expire_all()


def batches() -> Select:
    """Invalidation batches, newest first."""
    return select(Invalidation).order_by(Invalidation.created_at.desc(), Invalidation.id.desc())
