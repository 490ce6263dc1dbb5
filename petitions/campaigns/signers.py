"""The public list of a petition's signers: who appears, newest first, a page at a time; the
campaigner taking an entry off it and putting it back.

Who may appear is a count rule (counting/rules.may_be_listed: counted, and the signer chose
"show my name"); the campaigner's hiding is the one condition added here. Each page reads one
range of the partial index rules.LISTABLE, whatever the petition's size. Nothing here ever
reads or returns an address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from petitions.counting.rules import listable, may_be_listed
from petitions.exceptions import DomainError
from petitions.extensions import db
from petitions.models import Petition, Signature, User
from petitions.moderation import audit

PER_PAGE = 20
# Pages deeper than this are not served: a page at offset N reads N entries of the index before
# its own, so the list stops at the latest PER_PAGE * MAX_PAGES names (10,000).
MAX_PAGES = 500


class NotListed(DomainError):
    """The signature is not on this petition's list of signers (another petition's, or not listable)."""


@dataclass(frozen=True)
class Entry:
    """One signer as the list shows them: never their address."""

    id: int
    name: str
    country: str
    comment: str | None
    organisation: str | None
    job_title: str | None
    confirmed_at: datetime
    hidden: bool


@dataclass(frozen=True)
class Page:
    """One page of the list, newest first; whether an older page follows."""

    number: int
    entries: tuple[Entry, ...]
    has_next: bool

    @property
    def has_prev(self) -> bool:
        """True when a newer page comes before this one."""
        return self.number > 1


_COLUMNS = (
    Signature.id,
    Signature.name,
    Signature.country,
    Signature.comment,
    Signature.organisation,
    Signature.job_title,
    Signature.confirmed_at,
    Signature.list_hidden_at,
)


def page_number(value: str | None) -> int | None:
    """The page a request asks for (`?page=`), 1 when it names none, None when it is not one we serve."""
    if value is None or value == "":
        return 1
    if not value.isdigit() or len(value) > 4:
        return None
    number = int(value)
    return number if 1 <= number <= MAX_PAGES else None


def page_of(petition_id: int, number: int, *, include_hidden: bool = False, per_page: int = PER_PAGE) -> Page:
    """Page `number` (from 1) of the petition's listed signers, most recently confirmed first.

    The public list leaves out the entries the campaigner hid; the campaigner's own list
    (include_hidden) shows them, marked, so they can be put back.
    """
    number = max(1, min(number, MAX_PAGES))
    stmt = select(*_COLUMNS).where(Signature.petition_id == petition_id, *listable())
    if not include_hidden:
        stmt = stmt.where(Signature.list_hidden_at.is_(None))
    stmt = (
        stmt.order_by(Signature.confirmed_at.desc(), Signature.id.desc())
        .limit(per_page + 1)
        .offset((number - 1) * per_page)
    )
    rows = db.session.execute(stmt).all()
    entries = tuple(
        Entry(
            id=row.id,
            name=row.name,
            country=row.country,
            comment=row.comment,
            organisation=row.organisation,
            job_title=row.job_title,
            confirmed_at=row.confirmed_at,
            hidden=row.list_hidden_at is not None,
        )
        for row in rows[:per_page]
    )
    return Page(number=number, entries=entries, has_next=len(rows) > per_page and number < MAX_PAGES)


def _listed(petition: Petition, signature_id: int) -> Signature:
    """The petition's listable signature, locked against a concurrent hide or unhide; NotListed otherwise."""
    signature = db.session.scalar(
        select(Signature).where(Signature.id == signature_id, Signature.petition_id == petition.id).with_for_update()
    )
    if signature is None or not may_be_listed(signature):
        raise NotListed()
    return signature


def hide(petition: Petition, signature_id: int, actor: User, *, now: datetime) -> bool:
    """Take a signer off the petition's public list (it still counts); audited. False when it was hidden already."""
    signature = _listed(petition, signature_id)
    if signature.list_hidden_at is not None:
        return False
    signature.list_hidden_at = now
    audit.record(actor, "signer.hide", "signature", signature.id, details={"petition": petition.id}, now=now)
    db.session.flush()
    return True


def unhide(petition: Petition, signature_id: int, actor: User, *, now: datetime) -> bool:
    """Put a hidden signer back on the public list; audited. False when it was not hidden."""
    signature = _listed(petition, signature_id)
    if signature.list_hidden_at is None:
        return False
    signature.list_hidden_at = None
    audit.record(actor, "signer.unhide", "signature", signature.id, details={"petition": petition.id}, now=now)
    db.session.flush()
    return True
