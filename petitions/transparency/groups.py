"""Supporter groups in the public log: a group's domain enters it once the group's count is shown.

The pages show a group's count exactly only from GROUP_MIN_COUNT (5) signatures, and "fewer
than 5" before, even at zero, so that nobody learns when a small group (a company's handful of
employees) got its first signer. The log must not tell it either: an add carries its group's
domain only once the group is shown, and the adds of that group logged before then get a
`group` entry each, so that from then on the log's count for the group is the site's. A group
once shown stays shown (its number was public), even if withdrawals take it below the threshold.

The same marking covers a domain added to a group after signatures from it were logged: it is
not disclosed yet, so its earlier entries are marked when the sequencer next runs.
GroupDomain.log_disclosed says a domain's earlier entries are all marked; Signature.log_domain
says which domain a row's entry counts toward in the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import InstrumentedAttribute, aliased

from petitions.counting import rules
from petitions.extensions import db
from petitions.infra.database import is_postgresql
from petitions.models import GroupDomain, Signature, SupporterGroup


def shown() -> ColumnElement[bool]:
    """A supporter group whose count is shown exactly, now (GROUP_MIN_COUNT) or before (a domain disclosed)."""
    sibling = aliased(GroupDomain)
    disclosed = select(sibling.id).where(sibling.group_id == SupporterGroup.id, sibling.log_disclosed).exists()
    threshold: ColumnElement[bool] = SupporterGroup.signature_count >= current_app.config["GROUP_MIN_COUNT"]
    return threshold | disclosed


def petitions_to_mark() -> Any:
    """The petitions with a shown group's domain whose earlier entries are still to be marked (a SELECT)."""
    return (
        select(GroupDomain.petition_id)
        .join(SupporterGroup, SupporterGroup.id == GroupDomain.group_id)
        .where(~GroupDomain.log_disclosed, shown())
    )


def shown_domains(petition_id: int) -> tuple[set[str], list[int]]:
    """The domains of the petition's shown groups (new adds carry them), and the ids of those whose
    earlier entries are still to be marked."""
    found = db.session.execute(
        select(GroupDomain.id, GroupDomain.domain, GroupDomain.log_disclosed)
        .join(SupporterGroup, SupporterGroup.id == GroupDomain.group_id)
        .where(GroupDomain.petition_id == petition_id, shown())
    ).all()
    return {d.domain for d in found}, [d.id for d in found if not d.log_disclosed]


def unmarked_rows(
    petition_id: int, domain_ids: list[int], columns: Sequence[InstrumentedAttribute[Any]], batch: int
) -> Sequence[Any]:
    """Live logged rows from these domains whose entries carry no group yet, a batch at most.

    A removed row is left out: it does not count, and its restore is marked when it comes
    (sequencer). On PostgreSQL a row another transaction is changing is skipped: it is changing
    its counting, so it comes back as a remove, and if restored, is marked then.
    """
    if not domain_ids:
        return []
    domains = list(db.session.scalars(select(GroupDomain.domain).where(GroupDomain.id.in_(domain_ids))))
    query = select(*columns).where(
        Signature.petition_id == petition_id,
        Signature.log_entry.is_not(None),
        Signature.log_live,
        Signature.log_domain.is_(None),
        rules.group_match(domains),
    )
    if is_postgresql():
        query = query.with_for_update(skip_locked=True)
    return db.session.execute(query.limit(batch)).all()


def disclose(domain_ids: list[int]) -> None:
    """Record that these domains' earlier entries are all marked."""
    if domain_ids:
        db.session.execute(update(GroupDomain).where(GroupDomain.id.in_(domain_ids)).values(log_disclosed=True))


def group_of(email_domain: str | None, domains: set[str]) -> str | None:
    """The shown group domain a signature counts toward (rules.in_group), the most specific if several.

    A group's count in the log is then the live adds whose domain is one of the group's domains
    or under one: the same rule, applied to the entries.
    """
    for suffix in rules.domain_suffixes(email_domain or ""):
        if suffix in domains:
            return suffix
    return None
