"""What a campaign brings back beside its online count: paper signatures and the target's response."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from petitions.extensions import Model
from petitions.models.types import UTCDateTime

# The most signatures one batch of paper may claim: a stack of sheets from one event or one
# collection. Larger totals are several batches, each with its own place, date and scan.
PAPER_BATCH_MAX = 100_000  # the messages of campaigns/paper.py and the form name it


class PaperBatch(Model):
    """Signatures the campaigner collected on paper: their own statement, never verified by the site.

    Counted apart from the online count (`petitions.paper_signature_count`, kept in step by
    campaigns/paper.py) and never in the public log. A batch an administrator rejects stays,
    with the reason, but stops counting.
    """

    __tablename__ = "paper_batches"
    __table_args__ = (CheckConstraint(f"count > 0 AND count <= {PAPER_BATCH_MAX}", name="paper_count_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    count: Mapped[int]
    location: Mapped[str] = mapped_column(String(200))
    collected_on: Mapped[date] = mapped_column(Date)
    # The scan's file name under UPLOAD_DIR/paper/ (random, never the uploaded name) and its type.
    scan_file: Mapped[str | None] = mapped_column(String(80))
    scan_type: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rejected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rejected_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    rejection_reason: Mapped[str | None] = mapped_column(String(500))

    @property
    def counts(self) -> bool:
        """True while the batch is part of the paper count (not rejected)."""
        return self.rejected_at is None


class PetitionResponse(Model):
    """The target's answer to a petition, as its campaigner (or an administrator) posted it."""

    __tablename__ = "petition_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Markdown as posted, and the cleaned HTML the pages show (infra/text.render_markdown).
    text: Mapped[str] = mapped_column(Text)
    text_html: Mapped[str] = mapped_column(Text)
    # The day the target responded, as the campaigner gives it; and when it was posted here.
    responded_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Posted together with marking the petition won.
    won: Mapped[bool] = mapped_column(default=False)
