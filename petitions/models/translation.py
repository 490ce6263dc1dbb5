"""A petition's title, target, summary and body in another language, written by its campaigner."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from petitions.extensions import Model
from petitions.models.petition import Petition
from petitions.models.types import UTCDateTime

# 'published': what readers of that language see; 'pending': a new or changed translation of a
# petition already public, waiting for a moderator under MODERATION=pre while readers keep the
# published one (or the original); 'rejected': the last one a moderator turned down, kept so its
# campaigner sees the reason.
TRANSLATION_STATUSES = ("published", "pending", "rejected")
TRANSLATED_FIELDS = ("title", "target", "summary", "body")


class PetitionTranslation(Model):
    """One language's text of a petition; at most one row per language and status."""

    __tablename__ = "petition_translations"
    __table_args__ = (UniqueConstraint("petition_id", "locale", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"))
    locale: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(150))
    target: Mapped[str] = mapped_column(String(150))
    summary: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    # Why a moderator turned it down, shown to the campaigner.
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    petition: Mapped[Petition] = relationship()
