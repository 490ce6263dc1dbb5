"""Milestones: the moments a petition's count first reached a round number or its goal."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from petitions.extensions import Model
from petitions.models.types import UTCDateTime


class Milestone(Model):
    """A threshold a petition's count reached, recorded once: the unique constraint settles every race."""

    __tablename__ = "petition_milestones"
    __table_args__ = (UniqueConstraint("petition_id", "threshold"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"))
    threshold: Mapped[int]
    # True when the threshold was the petition's goal when it was reached.
    is_goal: Mapped[bool] = mapped_column(default=False)
    reached_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The count when the milestone was recorded (at or above the threshold).
    count: Mapped[int]
