"""Campaigns: starting, editing and publishing petitions."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from slugify import slugify
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from .exceptions import DomainError
from .extensions import db
from .models import Petition, Signature, User
from .text import render_markdown

# Slugs that would shadow a route under /petitions/.
RESERVED_SLUGS = {"new"}
SLUG_LENGTH = 60


class FieldsLocked(DomainError):
    """The title or target cannot change: people have signed them."""

    def __init__(self, fields: list[str]) -> None:
        """Name the locked fields that the edit tried to change."""
        super().__init__(", ".join(fields))
        self.fields = fields


class CannotChangeStatus(DomainError):
    """The petition cannot be closed or reopened now; the message says why."""


@dataclass(frozen=True)
class PetitionData:
    """What a campaigner typed into the petition form, already validated for shape."""

    title: str
    target: str
    summary: str
    body: str
    goal: int
    closes_at: datetime | None = None


def initial_status(owner: User, moderation: str) -> str:
    """Where a new petition starts: open at once, waiting for moderation, or a draft until the owner's email is confirmed."""
    if not owner.email_confirmed:
        return "draft"
    return "pending" if moderation == "pre" else "open"


def _slug_base(title: str) -> str:
    base = slugify(title, max_length=SLUG_LENGTH, word_boundary=True) or "petition"
    return f"{base}-petition" if base in RESERVED_SLUGS else base


def _free_slug(base: str) -> str:
    """The base, or the base with the lowest free number after it."""
    taken = set(db.session.scalars(select(Petition.slug).where(Petition.slug.like(f"{base}%"))))
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def create_petition(owner: User, data: PetitionData, *, now: datetime, moderation: str) -> Petition:
    """Create a petition with a readable unique slug; the unique constraint settles any race."""
    base = _slug_base(data.title)
    status = initial_status(owner, moderation)
    for attempt in range(5):
        slug = _free_slug(base) if attempt < 3 else f"{base[: SLUG_LENGTH - 7]}-{secrets.token_hex(3)}"
        petition = Petition(
            slug=slug,
            owner_id=owner.id,
            status=status,
            created_at=now,
            updated_at=now,
            count_updated_at=now,
            signature_count=0,
            opened_at=now if status == "open" else None,
        )
        _apply(petition, data)
        try:
            with db.session.begin_nested():
                db.session.add(petition)
        except IntegrityError:  # a concurrent request took the slug; pick again
            continue
        return petition
    raise RuntimeError("could not find a free slug")  # pragma: no cover - five collisions in a row


def _apply(petition: Petition, data: PetitionData) -> None:
    petition.title = data.title.strip()
    petition.target = data.target.strip()
    petition.summary = data.summary.strip()
    petition.body = data.body
    petition.body_html = render_markdown(data.body)
    petition.goal = data.goal
    petition.closes_at = data.closes_at


def has_signatures(petition: Petition) -> bool:
    """True once anyone has signed, confirmed or not: they signed this title and target."""
    return db.session.scalar(select(Signature.id).where(Signature.petition_id == petition.id).limit(1)) is not None


def update_petition(petition: Petition, data: PetitionData, *, now: datetime) -> None:
    """Change a petition's text, goal and closing date. The slug never changes: links to it live on.

    The title and the target are locked once the petition has signatures: people signed
    that request to that target, and it must not change under their names.
    """
    changed = [
        label
        for label, old, new in (("title", petition.title, data.title.strip()), ("target", petition.target, data.target.strip()))
        if old != new
    ]
    if changed and has_signatures(petition):
        raise FieldsLocked(changed)
    _apply(petition, data)
    petition.updated_at = now
    db.session.flush()


def close_petition(petition: Petition, *, now: datetime) -> None:
    """Close an open petition early; its count is final from now on."""
    if petition.effective_status(now) != "open":
        raise CannotChangeStatus("Only an open petition can be closed.")
    petition.status = "closed"
    petition.closed_at = now
    petition.updated_at = now
    db.session.flush()


def reopen_petition(petition: Petition, *, now: datetime) -> None:
    """Reopen a petition closed early, as long as its closing date has not passed."""
    if petition.status != "closed":
        raise CannotChangeStatus("Only a closed petition can be reopened.")
    if petition.closes_at is not None and petition.closes_at <= now:
        raise CannotChangeStatus("Its closing date has passed; set a later closing date first.")
    petition.status = "open"
    petition.closed_at = None
    petition.updated_at = now
    db.session.flush()


def close_expired(*, now: datetime) -> int:
    """Give petitions past their closing date the status 'closed' (the public already sees them closed)."""
    result = db.session.execute(
        update(Petition)
        .where(Petition.status == "open", Petition.closes_at.is_not(None), Petition.closes_at <= now)
        .values(status="closed", closed_at=Petition.closes_at, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def publish_drafts(owner: User, *, now: datetime, moderation: str) -> list[Petition]:
    """Move the owner's drafts on once their email is confirmed: open, or to moderation."""
    status = initial_status(owner, moderation)
    drafts = [p for p in owner.petitions if p.status == "draft"]
    for petition in drafts:
        petition.status = status
        petition.updated_at = now
        if status == "open":
            petition.opened_at = now
    db.session.flush()
    return drafts
