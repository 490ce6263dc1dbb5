"""What a count is: which signatures count, which wait for their confirmation to count, which
the site holds as suspected, and which supporter groups a signature counts toward.

Each rule is written here once in Python, and beside it in the SQL forms the statements run:
SQLAlchemy Core for queries, and text for PostgreSQL's one-statement paths, which are written
as SQL (counts.count_one_statement). Every form says which it mirrors;
tests/counting/test_rules.py runs them all against one table of cases on SQLite and
PostgreSQL. What moves when a signature starts or stops counting is counts.py.

Two CHECK constraints (models/signature.py) keep the rules short: a suspected signature, and
a withdrawn one kept for its mailbox, are always invalidated, so "not invalidated" leaves
them out too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import ColumnElement, Index, and_, func
from sqlalchemy.dialects.postgresql.base import PGDialect

from petitions.models import Signature


class SignatureState(Protocol):
    """What the Python forms read of a signature: a Signature, or any row with these columns."""

    @property
    def confirmed_at(self) -> datetime | None: ...

    @property
    def invalidated_at(self) -> datetime | None: ...

    @property
    def suspected(self) -> str | None: ...

    @property
    def withdrawn_at(self) -> datetime | None: ...


class ListedState(SignatureState, Protocol):
    """What may_be_listed reads: a signature's state and its signer's choice to show their name."""

    @property
    def show_name(self) -> bool: ...


def postgresql_text(conditions: list[ColumnElement[bool]]) -> str:
    """Conditions as PostgreSQL text with their columns qualified (`signatures.confirmed_at IS NULL AND ...`),
    for the statements written as text: compiled from the Core form, so the two cannot drift apart."""
    dialect = PGDialect()  # type: ignore[no-untyped-call]  # SQLAlchemy's dialect classes are not annotated
    return str(and_(*conditions).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


# --- what counts -------------------------------------------------------------------------------


def counts(signature: SignatureState) -> bool:
    """True when the signature is part of its petition's count: confirmed, and not invalidated.

    The Python form of counted().
    """
    return signature.confirmed_at is not None and signature.invalidated_at is None


def counted() -> list[ColumnElement[bool]]:
    """The SQL form of counts(): the conditions under which a signature counts."""
    return [Signature.confirmed_at.is_not(None), Signature.invalidated_at.is_(None)]


def awaits_confirmation(signature: SignatureState) -> bool:
    """True when confirming the signature makes it count: pending, and not invalidated.

    The Python form of awaiting_confirmation(); counts() of the same row once confirmed_at is set.
    """
    return signature.confirmed_at is None and signature.invalidated_at is None


def awaiting_confirmation() -> list[ColumnElement[bool]]:
    """The SQL form of awaits_confirmation(): the WHERE of the UPDATEs that confirm and count
    (signatures/confirming)."""
    return [Signature.confirmed_at.is_(None), Signature.invalidated_at.is_(None)]


# awaiting_confirmation() as text, for PostgreSQL's one-statement confirmation (confirming._CONFIRM_ONE).
AWAITING_CONFIRMATION_SQL = postgresql_text(awaiting_confirmation())


def held_as_suspected(signature: SignatureState) -> bool:
    """True when the site itself holds the signature as suspected (not an administrator's invalidation):
    its signer can confirm it and sees the same answer as anyone, but it counts only once an
    administrator reverses its batch. The Python form of holding_as_suspected()."""
    return signature.invalidated_at is not None and signature.suspected is not None and signature.withdrawn_at is None


def holding_as_suspected() -> list[ColumnElement[bool]]:
    """The SQL form of held_as_suspected(): the WHERE (with confirmed_at IS NULL) of confirming a held signature."""
    return [Signature.invalidated_at.is_not(None), Signature.suspected.is_not(None), Signature.withdrawn_at.is_(None)]


# --- the public log ------------------------------------------------------------------------------


class LoggedState(SignatureState, Protocol):
    """What log_in_sync reads: a signature's state and whether its add is live in the public log."""

    @property
    def log_live(self) -> bool: ...


def log_in_sync(signature: LoggedState) -> bool:
    """True when the public log already says what counts() says: the signature's add is live
    exactly when it counts. The Python form of log_out_of_sync() (negated)."""
    return counts(signature) == signature.log_live


def log_out_of_sync() -> ColumnElement[bool]:
    """The SQL form of `not log_in_sync()`: the rows the log's worker has to append entries for
    (transparency/sequencer), and the predicate of their partial index below, which must be this
    same expression for the planner to use the index for the worker's query."""
    return and_(*counted()) != Signature.log_live


# The rows out of sync with the log, by petition: few at any moment (a confirmation since the
# last interval, an invalidation), however large the table. Declared here rather than with the
# model because its predicate is the count rule itself, which models/ cannot import; the factory
# imports this module with the models. Migration 0010 builds it with a copy of the predicate of
# its day, and tests/transparency/test_sequencer.py checks that both databases use it.
LOG_OUT_OF_SYNC = Index(
    "ix_signatures_log_out_of_sync",
    Signature.petition_id,
    postgresql_where=log_out_of_sync(),
    sqlite_where=log_out_of_sync(),
)


# --- the public list of signers ----------------------------------------------------------------


def may_be_listed(signature: ListedState) -> bool:
    """True when the signature may appear on its petition's public list of signers: it counts, and
    its signer chose "show my name" (the campaigner may still hide it: campaigns/signers.py).
    The Python form of listable()."""
    return counts(signature) and signature.show_name


def listable() -> list[ColumnElement[bool]]:
    """The SQL form of may_be_listed(): the predicate of the partial index below, which the list's
    queries (campaigns/signers.py) must repeat as it is for the planner to use the index."""
    return [*counted(), Signature.show_name.is_(True)]


# "The latest listable signers of petition X", newest confirmation first: each page of the list
# reads one range of this index, however many signatures the petition has; a signer who did not
# choose to show their name costs it nothing. Migration 0018 builds it with a copy of the
# predicate of its day, CONCURRENTLY on PostgreSQL; tests/campaigns/test_signers.py checks that
# both databases use it.
LISTABLE = Index(
    "ix_signatures_listable",
    Signature.petition_id,
    Signature.confirmed_at,
    Signature.id,
    postgresql_where=and_(*listable()),
    sqlite_where=and_(*listable()),
)


# --- which supporter groups --------------------------------------------------------------------


def domain_suffixes(domain: str) -> list[str]:
    """The domain and every parent domain: a.b.example.org, b.example.org, example.org, org."""
    parts = domain.split(".")
    return [".".join(parts[i:]) for i in range(len(parts))]


def in_group(email_domain: str, group_domain: str) -> bool:
    """True when a signature whose address is at `email_domain` counts toward a group of `group_domain`:
    the domain itself or any domain under it, compared exactly (evilexample.com is not under
    example.com). Both sides are lower case: the signature's domain is that of the normalised
    address, a group's is lower-cased when saved (campaigns/groups.parse_domains).

    The Python form of in_group_sql() and of group_match(); counts.apply looks each suffix up in
    a dict instead (domain_suffixes), which is the same rule.
    """
    return group_domain in domain_suffixes(email_domain)


def in_group_sql(email_domain: str, group_domain: str) -> str:
    """The SQL form of in_group(), as PostgreSQL text over two columns (`right()` is PostgreSQL's),
    for the one-statement count (counts.COUNT_ONE_CTES)."""
    e, g = email_domain, group_domain
    return f"({e} = {g} OR right({e}, length({g}) + 1) = '.' || {g})"


def group_match(domains: list[str]) -> ColumnElement[bool]:
    """The SQL form of in_group() for a group's domains given as values, on every database:
    a signature counts toward the group when this holds (counts.group_actual, recounting from the rows).

    The last len(domain) + 1 characters compared with '.' + domain, as in_group_sql() does, so
    that case and '_' mean the same as in Python (LIKE would ignore case on SQLite and read '_'
    as any character). substr() with a start before the first character gives a shorter string
    on both databases, which never equals '.' + domain.
    """
    column = Signature.email_domain
    match: ColumnElement[bool] = column.in_(domains)
    for domain in domains:
        tail = func.substr(column, func.length(column) - len(domain))
        match = match | (tail == "." + domain)
    return match
