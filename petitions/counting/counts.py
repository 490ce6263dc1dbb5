"""Counts: kept in step with the signature rows, read in O(1), and checkable against them.

Every counter (the total, by country, by supporter group, by hour) moves by relative updates
in the same transaction as the change to the signature rows, so they commit or roll back
together and concurrent changes never overwrite each other. Which signatures count, and
toward which supporter groups, is rules.py.
"""

from __future__ import annotations

import typing
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import TextClause, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from petitions.counting.rules import counted, domain_suffixes, group_match, in_group_sql
from petitions.extensions import db
from petitions.infra.database import is_postgresql
from petitions.models import CountryCount, GroupDomain, HourlyCount, Petition, Signature, SupporterGroup
from petitions.models.types import UTCDateTime


@dataclass(frozen=True)
class Counted:
    """What the counters need to know of a signature that starts or stops counting."""

    petition_id: int
    country: str
    email_domain: str
    confirmed_at: datetime

    @classmethod
    def of(cls, signature: Signature) -> Counted:
        """The counted facts of a confirmed signature."""
        if signature.confirmed_at is None:
            raise ValueError("only a confirmed signature is counted")
        return cls(signature.petition_id, signature.country, signature.email_domain, signature.confirmed_at)


def hour_of(moment: datetime) -> datetime:
    """The start of the hour."""
    return moment.replace(minute=0, second=0, microsecond=0)


def _upsert(model: type[CountryCount | HourlyCount], keys: dict[str, Any], delta: int) -> None:
    if delta < 0:  # a counted signature's row exists; an INSERT of a negative count would break the CHECK
        db.session.execute(
            update(model)
            .where(*[getattr(model, k) == v for k, v in keys.items()])
            .values(count=model.count + delta)
            .execution_options(synchronize_session=False)
        )
        return
    insert = pg_insert if is_postgresql() else sqlite_insert
    table = model.__table__
    stmt = insert(table).values(**keys, count=delta)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c[k] for k in keys], set_={"count": table.c.count + stmt.excluded.count}
    )
    db.session.execute(stmt)


def apply(changes: Iterable[Counted], delta: int, *, now: datetime, with_groups: bool = True) -> int:
    """Add delta (+1 or -1) to every counter of each signature in changes. Returns how many.

    What needs reading (the supporter groups' domains) is read first; then the counters are
    written, petitions first and the rest in a fixed order, so concurrent transactions never
    deadlock. Call it last before the commit: the counters of a popular petition are rows that
    every confirmation waits for, and their locks are held until the commit. `with_groups=False`
    says the caller has just seen, in this transaction, that the petitions have no groups. On
    PostgreSQL one signature's counters, its groups included, move in one statement (_COUNT_ONE).
    """
    totals: Counter[int] = Counter()
    countries: Counter[tuple[int, str]] = Counter()
    hours: Counter[tuple[int, datetime]] = Counter()
    domains: Counter[tuple[int, str]] = Counter()
    for c in changes:
        totals[c.petition_id] += delta
        countries[(c.petition_id, c.country)] += delta
        hours[(c.petition_id, hour_of(c.confirmed_at))] += delta
        domains[(c.petition_id, c.email_domain)] += delta
    if totals:
        from petitions.infra.live import mark_changed

        mark_changed(set(totals))
    one_kind = len(totals) == len(countries) == len(hours) == len(domains) == 1
    if one_kind and delta > 0 and is_postgresql():
        # One confirmation, the hottest write there is: every counter in one statement, so the
        # locks are taken and released within one round trip and the commit that follows.
        [(petition_id, n)], [(_, country)], [(_, hour)], [(_, domain)] = totals.items(), countries, hours, domains
        db.session.execute(
            _COUNT_ONE, {"pid": petition_id, "n": n, "now": now, "country": country, "hour": hour, "domain": domain}
        )
        return n
    groups = _group_changes(domains) if with_groups else Counter()
    for petition_id, n in sorted(totals.items()):
        db.session.execute(
            update(Petition)
            .where(Petition.id == petition_id)
            .values(signature_count=Petition.signature_count + n, count_updated_at=now)
            .execution_options(synchronize_session=False)
        )
    for (petition_id, country), n in sorted(countries.items()):
        _upsert(CountryCount, {"petition_id": petition_id, "country": country}, n)
    for (petition_id, hour), n in sorted(hours.items()):
        _upsert(HourlyCount, {"petition_id": petition_id, "hour": hour}, n)
    for gid, n in sorted(groups.items()):
        db.session.execute(
            update(SupporterGroup)
            .where(SupporterGroup.id == gid)
            .values(signature_count=SupporterGroup.signature_count + n)
            .execution_options(synchronize_session=False)
        )
    return sum(abs(n) for n in totals.values())


# PostgreSQL: every counter of ONE signature moved by :n, in one statement. The signature's
# facts (petition_id, country, email_domain) come from a CTE named `s` that the statement
# defines first: given values here, the confirming UPDATE itself in confirming._CONFIRM_ONE.
# PostgreSQL runs the parts in the order the final SELECT reads them: the petition, then the
# country, the hour and the groups, the same order as apply's statements, so none deadlocks.
# A group counts a signature whose domain is its domain or under one (rules.in_group, here
# in its SQL form).
COUNT_ONE_CTES = f"""
    p AS (
        UPDATE petitions SET signature_count = signature_count + :n, count_updated_at = :now
        WHERE id = (SELECT petition_id FROM s) RETURNING 1
    ), c AS (
        INSERT INTO petition_country_counts AS t (petition_id, country, count) SELECT petition_id, country, :n FROM s
        ON CONFLICT (petition_id, country) DO UPDATE SET count = t.count + excluded.count RETURNING 1
    ), h AS (
        INSERT INTO petition_hourly_counts AS t (petition_id, hour, count) SELECT petition_id, :hour, :n FROM s
        ON CONFLICT (petition_id, hour) DO UPDATE SET count = t.count + excluded.count RETURNING 1
    ), g AS (
        UPDATE supporter_groups SET signature_count = signature_count + :n
        WHERE id IN (
            SELECT d.group_id FROM group_domains d JOIN s ON d.petition_id = s.petition_id
            WHERE {in_group_sql("s.email_domain", "d.domain")}
        )
        RETURNING 1
    )"""  # noqa: S608 - constant SQL of this module and rules.in_group_sql, never input
_COUNT_ONE_READS = (
    "(SELECT count(*) FROM p) AS p, (SELECT count(*) FROM c) AS c,"
    " (SELECT count(*) FROM h) AS h, (SELECT count(*) FROM g) AS g"
)


def count_one_statement(signature: str, columns: str) -> TextClause:
    """WITH s AS (<signature>), <every counter of it moved by :n> SELECT <columns>, <what moved> FROM s.

    `signature` is SQL giving at most one row (petition_id, country, email_domain, ...);
    `columns` are those of its columns to answer. No row in s: nothing moves, no row comes
    back. Parameters: :n, :now, :hour and the signature's. Built once, from constant SQL.
    """
    sql = f"WITH s AS ({signature}), {COUNT_ONE_CTES} SELECT {columns}, {_COUNT_ONE_READS} FROM s"  # noqa: S608 - constant SQL of this module and its callers, never input
    return text(sql).bindparams(bindparam("now", type_=UTCDateTime()), bindparam("hour", type_=UTCDateTime()))


# Built once, at import: every confirmation on PostgreSQL that is not _CONFIRM_ONE runs it.
_COUNT_ONE = count_one_statement(
    "SELECT CAST(:pid AS integer) AS petition_id, CAST(:country AS varchar) AS country,"
    " CAST(:domain AS varchar) AS email_domain",
    "s.petition_id",
)


# Built once, at import: apply reads it for every change it counts outside _COUNT_ONE; the
# petitions come as one expanding parameter, so one statement serves any number of them.
_GROUP_DOMAINS = select(GroupDomain.petition_id, GroupDomain.domain, GroupDomain.group_id).where(
    GroupDomain.petition_id.in_(bindparam("pids", expanding=True))
)


def _group_changes(domains: Counter[tuple[int, str]]) -> Counter[int]:
    """How much each supporter group moves for these (petition, domain) changes."""
    by_group: Counter[int] = Counter()
    petitions = sorted({pid for pid, _ in domains})
    if not petitions:
        return by_group
    rows = db.session.execute(_GROUP_DOMAINS, {"pids": petitions}).all()
    if not rows:
        return by_group
    groups_of: dict[tuple[int, str], set[int]] = {}
    for pid, domain, gid in rows:
        groups_of.setdefault((pid, domain), set()).add(gid)
    for (pid, domain), n in domains.items():
        # rules.in_group, looked up: a signature counts once toward every group that has its
        # domain or one of its parent domains.
        matched: set[int] = set()
        for suffix in domain_suffixes(domain):
            matched |= groups_of.get((pid, suffix), set())
        for gid in matched:
            by_group[gid] += n
    return by_group


def by_country(petition_id: int) -> dict[str, int]:
    """The kept counts by country of a petition, largest first, without zeros."""
    rows = db.session.execute(
        select(CountryCount.country, CountryCount.count)
        .where(CountryCount.petition_id == petition_id, CountryCount.count > 0)
        .order_by(CountryCount.count.desc(), CountryCount.country)
    )
    return {country: count for country, count in rows}


def by_group(petition_id: int) -> list[tuple[str, int]]:
    """(group name, count) of a petition's supporter groups."""
    return [
        (name, n)
        for name, n in db.session.execute(
            select(SupporterGroup.name, SupporterGroup.signature_count)
            .where(SupporterGroup.petition_id == petition_id)
            .order_by(SupporterGroup.id)
        )
    ]


@dataclass(frozen=True)
class FewerThan:
    """A supporter group's count too small to publish: all anyone learns is that it is below `limit`.

    Pages, the widget and exports say it in their reader's language (web/i18n.thousands: "fewer
    than 5", "menos de 5"); the JSON gives the limit (public_groups_json).
    """

    limit: int


def _threshold(threshold: int | None) -> int:
    return current_app.config["GROUP_MIN_COUNT"] if threshold is None else threshold


def public_groups(petition_id: int, *, threshold: int | None = None) -> list[tuple[str, int | FewerThan]]:
    """(group name, count) of a petition's supporter groups as the public may see them.

    A group with fewer confirmed signatures than `threshold` (GROUP_MIN_COUNT, 5) shows
    FewerThan instead of its count, zero included: a group of one domain with one signer
    would otherwise say that this person signed, and the moment a count leaves zero says as
    much. The owner's own pages use by_group.
    """
    limit = _threshold(threshold)
    return [(name, FewerThan(limit) if limit > 1 and n < limit else n) for name, n in by_group(petition_id)]


def public_groups_json(petition_id: int, *, threshold: int | None = None) -> list[dict[str, object]]:
    """The supporter groups of the petition JSON: a group below the threshold has
    `"signature_count": null` and `"fewer_than": <threshold>`; the others are as they always were."""
    return [
        {"name": name, "signature_count": None, "fewer_than": n.limit}
        if isinstance(n, FewerThan)
        else {"name": name, "signature_count": n}
        for name, n in public_groups(petition_id, threshold=threshold)
    ]


def group_actual(group: SupporterGroup) -> int:
    """A group's count computed from the rows."""
    domains = [d.domain for d in group.domains]
    if not domains:
        return 0
    return db.session.execute(
        select(func.count())
        .select_from(Signature)
        .where(Signature.petition_id == group.petition_id, *counted(), group_match(domains))
    ).scalar_one()


@dataclass(frozen=True)
class Difference:
    """A kept count that did not match the rows, and what it was corrected to."""

    slug: str
    what: str  # "total", a country code, "hour <time>" or "group <name>"
    kept: int
    actual: int


def lock(petition: Petition) -> None:
    """Lock the petition's row (PostgreSQL) so counters are recomputed without a confirmation slipping between."""
    db.session.execute(select(Petition.id).where(Petition.id == petition.id).with_for_update())
    db.session.refresh(petition)


def recount(petition: Petition, *, now: datetime) -> list[Difference]:
    """Recompute a petition's counters from its rows, correct any that differ, and report them.

    The petition's row is locked first, so a confirmation committing meanwhile waits for us
    and then adds itself on top of the corrected numbers.
    """
    lock(petition)
    diffs: list[Difference] = []

    actual_countries = dict(
        db.session.execute(
            select(Signature.country, func.count())
            .where(Signature.petition_id == petition.id, *counted())
            .group_by(Signature.country)
        ).all()
    )
    actual_total = sum(actual_countries.values())
    if petition.signature_count != actual_total:
        diffs.append(Difference(petition.slug, "total", petition.signature_count, actual_total))
        petition.signature_count = actual_total
        petition.count_updated_at = now
    diffs += _fix(petition, CountryCount, "country", actual_countries, str)

    actual_hours: Counter[datetime] = Counter()
    for (confirmed_at,) in db.session.execute(
        select(Signature.confirmed_at).where(Signature.petition_id == petition.id, *counted())
    ).yield_per(10_000):
        actual_hours[hour_of(typing.cast(datetime, confirmed_at))] += 1  # counted() rows are confirmed
    diffs += _fix(petition, HourlyCount, "hour", dict(actual_hours), lambda h: f"hour {h:%Y-%m-%d %H:00}")

    for group in petition.groups:
        actual = group_actual(group)
        if group.signature_count != actual:
            diffs.append(Difference(petition.slug, f"group {group.name}", group.signature_count, actual))
            group.signature_count = actual
    db.session.flush()
    return diffs


# A per-country or per-hour counter row.
_Counter = TypeVar("_Counter", CountryCount, HourlyCount)


def _fix(
    petition: Petition,
    model: type[_Counter],
    key: str,
    actual: dict[Any, int],
    label: Callable[[Any], str],
) -> list[Difference]:
    kept: dict[Any, _Counter] = {
        getattr(row, key): row for row in db.session.scalars(select(model).where(model.petition_id == petition.id))
    }
    diffs = []
    for k in sorted(set(actual) | set(kept)):
        want = actual.get(k, 0)
        row = kept.get(k)
        have = row.count if row else 0
        if have != want:
            diffs.append(Difference(petition.slug, label(k), have, want))
            if row is None:
                db.session.add(model(petition_id=petition.id, **{key: k}, count=want))
            else:
                row.count = want
    return diffs
