"""Proposed changes to a public petition's text, kept apart until a moderator approves them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from petitions.extensions import Model
from petitions.models.petition import Petition
from petitions.models.types import UTCDateTime

# 'pending': waiting for a moderator (at most one per petition); 'approved': applied;
# 'rejected': discarded with a reason the owner sees; 'superseded': replaced by a later
# proposal of the owner; 'withdrawn': the owner went back to the approved text.
REVISION_STATUSES = ("pending", "approved", "rejected", "superseded", "withdrawn")
# The fields whose change is reviewed under MODERATION=pre: what the public reads.
MATERIAL_FIELDS = ("title", "target", "summary", "body")


class PetitionRevision(Model):
    """The title, target, summary and body an owner proposed for a petition already public.

    Under MODERATION=pre the public keeps reading the petition's approved text while this
    waits; approving copies it onto the petition, rejecting discards it with a reason.
    """

    __tablename__ = "petition_revisions"
    __table_args__ = (
        # One proposal waits per petition: a new one supersedes it in the same transaction.
        Index(
            "uq_petition_revisions_pending",
            "petition_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(150))
    target: Mapped[str] = mapped_column(String(150))
    summary: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Why a moderator rejected it, shown to the owner.
    reason: Mapped[str | None] = mapped_column(String(500))

    petition: Mapped[Petition] = relationship()

    def changes(self, petition: Petition) -> list[str]:
        """The material fields in which this proposal differs from the petition's current text."""
        return [name for name in MATERIAL_FIELDS if getattr(self, name) != getattr(petition, name)]
