"""Petitions and their counters."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    and_,
    false,
    or_,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from petitions.extensions import Model
from petitions.models.types import UTCDateTime

if TYPE_CHECKING:
    from petitions.models.outcome import PetitionResponse
    from petitions.models.user import User

# Statuses a petition can be in. 'draft': waiting for its campaigner to confirm their email;
# 'pending': waiting for a moderator (MODERATION=pre); 'open'; 'closed'; 'hidden' by a moderator.
STATUSES = ("draft", "pending", "open", "closed", "hidden")
# The statuses in which anyone may see a petition.
PUBLIC_STATUSES = ("open", "closed")
# What a petition achieved, apart from its status (which says only whether it takes signatures):
# NULL while nothing is declared, 'won' once its campaigner or an administrator says so.
OUTCOMES = ("won",)
# The longest address (slug) a petition can have.
SLUG_MAX = 80
# What the signing form asks of an extra field (organisation, job title): nothing, or the field,
# left empty or filled in as the signer likes, or the field, which must be filled in.
FIELD_MODES = ("off", "optional", "required")


def effective_status(status: str, closes_at: datetime | None, now: datetime) -> str:
    """The status as the public sees it: an open petition past its closing time is closed."""
    if status == "open" and closes_at is not None and now >= closes_at:
        return "closed"
    return status


def open_at(now: Any) -> ColumnElement[bool]:
    """effective_status(...) == "open" in SQL; `now` is a datetime or a bind parameter."""
    return and_(Petition.status == "open", or_(Petition.closes_at.is_(None), Petition.closes_at > now))


class Petition(Model):
    """A petition: what is asked, of whom, and how many have confirmed their signature."""

    __tablename__ = "petitions"
    __table_args__ = (
        CheckConstraint("signature_count >= 0", name="count_not_negative"),
        CheckConstraint("goal > 0", name="goal_positive"),
        CheckConstraint("paper_signature_count >= 0", name="paper_count_not_negative"),
        CheckConstraint("ask_organisation IN ('off', 'optional', 'required')", name="ask_organisation_mode"),
        CheckConstraint("ask_job_title IN ('off', 'optional', 'required')", name="ask_job_title_mode"),
        Index("ix_petitions_status_count", "status", "signature_count"),
        Index("ix_petitions_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(SLUG_MAX), unique=True)
    # NULL once the owner's account is deleted; the petition and its count stay.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    title: Mapped[str] = mapped_column(String(150))
    target: Mapped[str] = mapped_column(String(150))
    summary: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    # The language the campaigner wrote it in (a code of LANGUAGES); NULL: DEFAULT_LOCALE, the
    # language every petition was written in before the site knew others. Translations of
    # the text into other languages are PetitionTranslation rows.
    language: Mapped[str | None] = mapped_column(String(16))
    goal: Mapped[int]
    # The campaigner's choice: once the goal is reached, the worker raises it to the next round
    # number (campaigns/milestones.next_goal).
    auto_raise_goal: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Open letters: whether the signing form asks for the signer's organisation and job title
    # (a value of FIELD_MODES). Shown publicly only beside a name its signer let us show.
    ask_organisation: Mapped[str] = mapped_column(String(8), default="off", server_default="off")
    ask_job_title: Mapped[str] = mapped_column(String(8), default="off", server_default="off")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why a moderator hid it, shown to the owner.
    moderation_reason: Mapped[str | None] = mapped_column(String(500))
    # Under MODERATION=post: when its owner last changed the public text since a moderator
    # looked at it (approved, hid, restored or marked it reviewed); NULL when nothing waits.
    edited_since_review_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The number of confirmed, valid signatures, kept in step with the rows in the same
    # transaction as each confirmation, so reading it costs one row whatever the size.
    signature_count: Mapped[int] = mapped_column(default=0)
    count_updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Signatures collected on paper, the sum of the batches not rejected (campaigns/paper.py):
    # the campaigner's statement, shown beside signature_count and never added to it.
    paper_signature_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # 'won' or NULL (OUTCOMES); independent of status, so an open petition can win and go on.
    outcome: Mapped[str | None] = mapped_column(String(16))

    owner: Mapped[User | None] = relationship(back_populates="petitions")
    groups: Mapped[list[SupporterGroup]] = relationship(
        back_populates="petition", order_by="SupporterGroup.id", cascade="all, delete-orphan"
    )
    # The target's responses, the latest posted first (what the petition page shows at its top).
    responses: Mapped[list[PetitionResponse]] = relationship(
        order_by="PetitionResponse.id.desc()",
        lazy="select",
        viewonly=True,
    )

    def effective_status(self, now: datetime) -> str:
        """The status as the public sees it: an open petition past its closing time is closed."""
        return effective_status(self.status, self.closes_at, now)

    def is_open(self, now: datetime) -> bool:
        """True while the petition takes signatures."""
        return self.effective_status(now) == "open"

    def is_public(self) -> bool:
        """True when anyone may see the petition (open, or closed with its result)."""
        return self.status in PUBLIC_STATUSES

    @property
    def progress_percent(self) -> int:
        """How far the count is toward the goal, 0 to 100."""
        return min(100, self.signature_count * 100 // self.goal) if self.goal else 0


class SupporterGroup(Model):
    """A named group of supporters recognised by their email domains ("Amazon employees": amazon.com).

    Its count is kept like the total: confirmed, valid signatures from an address at one of
    its domains or their subdomains. It never says who signed.
    """

    __tablename__ = "supporter_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    signature_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    petition: Mapped[Petition] = relationship(back_populates="groups")
    domains: Mapped[list[GroupDomain]] = relationship(
        back_populates="group", order_by="GroupDomain.domain", cascade="all, delete-orphan"
    )


class GroupDomain(Model):
    """One email domain of a supporter group; a domain belongs to one group per petition."""

    __tablename__ = "group_domains"
    __table_args__ = (UniqueConstraint("petition_id", "domain"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("supporter_groups.id", ondelete="CASCADE"), index=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(253))
    # The public log carries this domain: its group's count has been shown exactly (GROUP_MIN_COUNT)
    # and the signatures from it logged before are marked (transparency/sequencer.py).
    log_disclosed: Mapped[bool] = mapped_column(server_default=false())

    group: Mapped[SupporterGroup] = relationship(back_populates="domains")


class HourlyCount(Model):
    """Confirmed, valid signatures of a petition by the hour they were confirmed, for the charts."""

    __tablename__ = "petition_hourly_counts"
    __table_args__ = (CheckConstraint("count >= 0", name="count_not_negative"),)

    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(default=0)


class CountryCount(Model):
    """Confirmed, valid signatures of one petition from one country, kept like the total."""

    __tablename__ = "petition_country_counts"
    __table_args__ = (CheckConstraint("count >= 0", name="count_not_negative"),)

    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), primary_key=True)
    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
