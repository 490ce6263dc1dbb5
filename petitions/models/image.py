"""A petition's picture: the files made from one upload, and whether the public sees them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from petitions.extensions import Model
from petitions.models.petition import Petition
from petitions.models.types import UTCDateTime

# 'live': shown with the petition (at most one per petition); 'pending': waits for a moderator
# (MODERATION=pre, a petition already public; at most one); 'rejected': a moderator refused it, with a
# reason its owner sees; 'replaced': a later upload took its place, or the owner removed it.
IMAGE_STATUSES = ("live", "pending", "rejected", "replaced")
# The statuses whose files are kept on disk; the others' files are deleted once nothing else uses them.
KEPT_STATUSES = ("live", "pending")


class PetitionImage(Model):
    """One uploaded picture of a petition, decoded, cleaned and stored as the sizes the site uses.

    `key` names the files (infra/images.file_names): a hash of the page-size file's bytes, so the
    same picture uploaded twice is stored once and a file's name never changes its content.
    """

    __tablename__ = "petition_images"
    __table_args__ = (
        Index(
            "uq_petition_images_live",
            "petition_id",
            unique=True,
            sqlite_where=text("status = 'live'"),
            postgresql_where=text("status = 'live'"),
        ),
        Index(
            "uq_petition_images_pending",
            "petition_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    key: Mapped[str] = mapped_column(String(32), index=True)
    # The page-size file's pixels, for the <img> width and height (no layout shift).
    width: Mapped[int]
    height: Mapped[int]
    # What the picture shows, in the campaigner's words: the alt text of every <img> and card.
    alt: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="live")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Why a moderator rejected it, shown to the owner.
    reason: Mapped[str | None] = mapped_column(String(500))

    petition: Mapped[Petition] = relationship()
