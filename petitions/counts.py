"""Counts: kept in step with the signature rows, read in O(1), and checkable against them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .extensions import db
from .models import CountryCount, Petition, Signature


def adjust(petition_id: int, country: str, delta: int, *, now: datetime) -> None:
    """Add delta to a petition's total and to its country's count, atomically in the database.

    Called in the same transaction as the change to the signature row, so the counters and
    the rows commit or roll back together. The updates are relative (count = count + delta),
    so concurrent confirmations never overwrite each other.
    """
    db.session.execute(
        update(Petition)
        .where(Petition.id == petition_id)
        .values(signature_count=Petition.signature_count + delta, count_updated_at=now)
        .execution_options(synchronize_session=False)
    )
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    table = CountryCount.__table__
    stmt = insert(table).values(petition_id=petition_id, country=country, count=delta)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.petition_id, table.c.country],
        set_={"count": table.c.count + stmt.excluded.count},
    )
    db.session.execute(stmt)


def counted() -> list:
    """The conditions under which a signature counts."""
    return [Signature.confirmed_at.is_not(None), Signature.invalidated_at.is_(None)]


def by_country(petition_id: int) -> dict[str, int]:
    """The kept counts by country of a petition, largest first, without zeros."""
    rows = db.session.execute(
        select(CountryCount.country, CountryCount.count)
        .where(CountryCount.petition_id == petition_id, CountryCount.count > 0)
        .order_by(CountryCount.count.desc(), CountryCount.country)
    )
    return {country: count for country, count in rows}


@dataclass(frozen=True)
class Difference:
    """A kept count that did not match the rows, and what it was corrected to."""

    slug: str
    what: str  # "total" or a country code
    kept: int
    actual: int


def recount(petition: Petition, *, now: datetime) -> list[Difference]:
    """Recompute a petition's counts from its rows, correct any that differ, and report them.

    The petition's row is locked first (on PostgreSQL), so a confirmation committing meanwhile
    waits for us and then adds itself on top of the corrected number.
    """
    db.session.execute(select(Petition.id).where(Petition.id == petition.id).with_for_update())
    db.session.refresh(petition)
    actual_by_country = {
        country: n
        for country, n in db.session.execute(
            select(Signature.country, func.count())
            .where(Signature.petition_id == petition.id, *counted())
            .group_by(Signature.country)
        )
    }
    actual_total = sum(actual_by_country.values())
    kept_by_country = {
        c.country: c for c in db.session.scalars(select(CountryCount).where(CountryCount.petition_id == petition.id))
    }
    diffs: list[Difference] = []
    if petition.signature_count != actual_total:
        diffs.append(Difference(petition.slug, "total", petition.signature_count, actual_total))
        petition.signature_count = actual_total
        petition.count_updated_at = now
    for country in sorted(set(actual_by_country) | set(kept_by_country)):
        actual = actual_by_country.get(country, 0)
        row = kept_by_country.get(country)
        kept = row.count if row else 0
        if kept != actual:
            diffs.append(Difference(petition.slug, country, kept, actual))
            if row is None:
                db.session.add(CountryCount(petition_id=petition.id, country=country, count=actual))
            else:
                row.count = actual
    db.session.flush()
    return diffs
