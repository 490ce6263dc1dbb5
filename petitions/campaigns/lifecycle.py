"""Campaigns: starting, editing and publishing petitions."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from slugify import slugify
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from petitions.counting.counts import lock
from petitions.exceptions import DomainError
from petitions.extensions import db
from petitions.infra.text import render_markdown
from petitions.models import Petition, PetitionRevision, Signature, User
from petitions.models.revision import MATERIAL_FIELDS
from petitions.webhooks import events

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
    auto_raise_goal: bool = False
    # What the signing form asks for (models.petition.FIELD_MODES): an open letter's extra fields.
    ask_organisation: str = "off"
    ask_job_title: str = "off"


def initial_status(owner: User, moderation: str) -> str:
    """Where a new petition starts: open at once, waiting for moderation, or a draft until the
    owner's email is confirmed."""
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
    raise RuntimeError(_("could not find a free slug"))  # pragma: no cover - five collisions in a row


def _apply(petition: Petition, data: PetitionData) -> None:
    petition.title = data.title.strip()
    petition.target = data.target.strip()
    petition.summary = data.summary.strip()
    petition.body = data.body
    petition.body_html = render_markdown(data.body)
    _apply_settings(petition, data)


def _apply_settings(petition: Petition, data: PetitionData) -> None:
    """What applies at once on every edit, reviewed or not: the goal, the closing date, and which
    extra fields the signing form asks for. Those are the site's own fields with the site's own
    labels, not text the public reads as the petition, so a moderator has nothing to review in
    them; a signer sees the fields before signing, and nobody's earlier signature changes."""
    petition.goal = data.goal
    petition.auto_raise_goal = data.auto_raise_goal
    petition.closes_at = data.closes_at
    petition.ask_organisation = data.ask_organisation
    petition.ask_job_title = data.ask_job_title


def has_signatures(petition: Petition) -> bool:
    """True once anyone has signed, confirmed or not: they signed this title and target."""
    return db.session.scalar(select(Signature.id).where(Signature.petition_id == petition.id).limit(1)) is not None


def pending_revision(petition: Petition) -> PetitionRevision | None:
    """The owner's proposed change to the petition's text that waits for a moderator, if any."""
    return db.session.scalar(
        select(PetitionRevision).where(
            PetitionRevision.petition_id == petition.id, PetitionRevision.status == "pending"
        )
    )


def latest_revision(petition: Petition) -> PetitionRevision | None:
    """The last change the owner proposed, whatever became of it (to tell them)."""
    return db.session.scalar(
        select(PetitionRevision)
        .where(PetitionRevision.petition_id == petition.id)
        .order_by(PetitionRevision.created_at.desc(), PetitionRevision.id.desc())
        .limit(1)
    )


def _material(data: PetitionData) -> dict[str, str]:
    return {
        "title": data.title.strip(),
        "target": data.target.strip(),
        "summary": data.summary.strip(),
        "body": data.body,
    }


def _close_pending(petition: Petition, status: str) -> None:
    db.session.execute(
        update(PetitionRevision)
        .where(PetitionRevision.petition_id == petition.id, PetitionRevision.status == "pending")
        .values(status=status)
        .execution_options(synchronize_session="fetch")
    )


def update_petition(
    petition: Petition, data: PetitionData, *, now: datetime, moderation: str = "post", editor: User | None = None
) -> bool:
    """Change a petition's text, goal, closing date and extra fields. Returns True when the text waits for review.

    The slug never changes: links to it live on. The title and the target are locked once
    the petition has signatures: people signed that request to that target, and it must not
    change under their names.

    Once a petition has been public, a change of what the public reads (title, target,
    summary, body) by its owner is reviewed: under MODERATION=pre it is kept as a pending
    PetitionRevision and the public keeps the approved text until a moderator approves it
    (a new proposal replaces a waiting one); under post it applies at once and the petition
    is flagged for the moderators. The goal, the closing date and the extra fields the signing
    form asks for apply at once (see _apply_settings). An
    administrator's own edits apply at once and flag nothing.
    """
    new = _material(data)
    changed = [name for name in MATERIAL_FIELDS if getattr(petition, name) != new[name]]
    locked = [name for name in ("title", "target") if name in changed]
    if locked and has_signatures(petition):
        raise FieldsLocked(locked)
    reviewed = petition.opened_at is not None and not (editor is not None and editor.is_admin)
    waits = False
    if moderation == "pre" and reviewed:
        lock(petition)  # one proposal waits at a time, even when two edits race
        pending = pending_revision(petition)
        if not changed:
            if pending is not None:  # back to the approved text: nothing left to review
                pending.status = "withdrawn"
        elif pending is None or any(getattr(pending, name) != new[name] for name in MATERIAL_FIELDS):
            if pending is not None:
                pending.status = "superseded"
                db.session.flush()  # before the new row, for the one-pending index
            db.session.add(
                PetitionRevision(
                    petition_id=petition.id,
                    author_id=editor.id if editor is not None else petition.owner_id,
                    body_html=render_markdown(new["body"]),
                    status="pending",
                    created_at=now,
                    **new,
                )
            )
            waits = True
        else:
            waits = True  # the same proposal again: it keeps its place in the queue
        _apply_settings(petition, data)
    else:
        _apply(petition, data)
        if changed and reviewed:
            # Saved at once: a proposal left from MODERATION=pre is out of date, and the
            # moderators are to look at what the public now reads.
            _close_pending(petition, "superseded")
            petition.edited_since_review_at = now
    petition.updated_at = now
    db.session.flush()
    return waits


def close_petition(petition: Petition, *, now: datetime) -> None:
    """Close an open petition early; its count is final from now on."""
    if petition.effective_status(now) != "open":
        raise CannotChangeStatus(_("Only an open petition can be closed."))
    petition.status = "closed"
    petition.closed_at = now
    petition.updated_at = now
    db.session.flush()
    events.closed(petition, now=now)


def reopen_petition(petition: Petition, *, now: datetime) -> None:
    """Reopen a petition closed early, as long as its closing date has not passed."""
    if petition.status != "closed":
        raise CannotChangeStatus(_("Only a closed petition can be reopened."))
    if petition.closes_at is not None and petition.closes_at <= now:
        raise CannotChangeStatus(_("Its closing date has passed; set a later closing date first."))
    petition.status = "open"
    petition.closed_at = None
    petition.updated_at = now
    db.session.flush()


def close_expired(*, now: datetime) -> int:
    """Give petitions past their closing date the status 'closed' (the public already sees them closed)."""
    closed = list(
        db.session.execute(
            update(Petition)
            .where(Petition.status == "open", Petition.closes_at.is_not(None), Petition.closes_at <= now)
            .values(status="closed", closed_at=Petition.closes_at, updated_at=now)
            .returning(Petition.id)
            .execution_options(synchronize_session=False)
        ).scalars()
    )
    for petition_id in sorted(closed):
        petition = db.session.get_one(Petition, petition_id)
        db.session.refresh(petition)
        events.closed(petition, now=now)
    return len(closed)


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
