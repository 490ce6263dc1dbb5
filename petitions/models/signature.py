"""Signatures: pending until their signer confirms by email."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from petitions.extensions import Model
from petitions.models.petition import Petition
from petitions.models.types import UTCDateTime

_UNASSIGNED = "suspected IS NOT NULL AND invalidation_id IS NULL"
# The longest organisation and job title a signer may give.
ORGANISATION_MAX = 100
JOB_TITLE_MAX = 100


class Signature(Model):
    """One person's signature on one petition; it counts once confirmed and while valid.

    Whether it counts, and toward which supporter groups, is written once, in Python and in
    SQL, in counting/rules.py.
    """

    __tablename__ = "signatures"
    __table_args__ = (
        # One signature per mailbox per petition, held by the database itself.
        UniqueConstraint("petition_id", "email_normalized"),
        Index("ix_signatures_petition_confirmed", "petition_id", "confirmed_at"),
        Index("ix_signatures_created_at", "created_at"),
        Index("ix_signatures_petition_domain", "petition_id", "email_domain"),
        Index("ix_signatures_ip_key", "ip_key"),
        Index("ix_signatures_invalidation_id", "invalidation_id"),
        # "My data": one mailbox's signatures on every petition (built CONCURRENTLY by migration 0004).
        Index("ix_signatures_email_normalized", "email_normalized"),
        # Suspected signatures not yet in their automatic batch (abuse.assign_suspected): few rows.
        Index(
            "ix_signatures_suspected_unassigned",
            "petition_id",
            "created_at",
            postgresql_where=text(_UNASSIGNED),
            sqlite_where=text(_UNASSIGNED),
        ),
        # Only a set-aside signature is held as suspected or kept after its withdrawal, so a
        # count that leaves out invalidated rows (counting/rules.counts) leaves those out too.
        CheckConstraint("suspected IS NULL OR invalidated_at IS NOT NULL", name="suspected_invalidated"),
        CheckConstraint("withdrawn_at IS NULL OR invalidated_at IS NOT NULL", name="withdrawn_invalidated"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    email_normalized: Mapped[str] = mapped_column(String(254))
    # The domain of the normalised address, for supporter groups and for finding abuse.
    email_domain: Mapped[str] = mapped_column(String(253))
    country: Mapped[str] = mapped_column(String(2))
    postcode: Mapped[str | None] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(String(500))
    # Asked only when the petition asks for them (Petition.ask_organisation, ask_job_title); one line each.
    organisation: Mapped[str | None] = mapped_column(String(ORGANISATION_MAX))
    job_title: Mapped[str | None] = mapped_column(String(JOB_TITLE_MAX))
    show_name: Mapped[bool] = mapped_column(default=False)
    updates: Mapped[bool] = mapped_column(default=False)
    ip_address: Mapped[str | None] = mapped_column(String(45))
    # The address as 32 hex digits of its IPv6 form (IPv4 mapped into ::ffff:0:0/96), so that
    # "in this network" is a range query on an index, on every database. Dropped with ip_address.
    ip_key: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    invalidated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    invalidation_id: Mapped[int | None] = mapped_column(ForeignKey("invalidations.id"))
    # Why the site itself holds this signature as suspected (a key of abuse.KINDS), NULL when it
    # does not: set by the statement that stores the signature, which also sets invalidated_at;
    # the row joins its day's automatic batch (invalidation_id) later, in abuse.assign_suspected.
    suspected: Mapped[str | None] = mapped_column(String(20))
    # A signer withdrew this invalidated or suspected signature: the row stays, emptied of all
    # but its mailbox, so that the mailbox cannot sign this petition again as if new.
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Emails sent in answer to repeated signings, capped so the form cannot be used to spam.
    resend_count: Mapped[int] = mapped_column(default=0)
    # The petition's public log (transparency/): the secret nonce of the signer's commitment, set
    # by the signing INSERT (NULL in rows older than the log, until the worker logs them); the
    # index of the signature's add entry once logged; and whether that add is live in the log.
    # A row whose counting differs from log_live is out of sync, and the worker finds it by the
    # partial index ix_signatures_log_out_of_sync, declared beside the count rule it is built
    # from (counting/rules.py): nothing that changes a row's counting needs to tell the log.
    log_nonce: Mapped[str | None] = mapped_column(String(32))
    log_entry: Mapped[int | None] = mapped_column()
    log_live: Mapped[bool] = mapped_column(server_default=false())
    # The supporter group domain the log counts this signature toward (by its add or a later
    # `group` entry), once the group is shown publicly (GroupDomain.log_disclosed).
    log_domain: Mapped[str | None] = mapped_column(String(253))
    # The language of the page it was signed on (a code of LANGUAGES), which the emails to its
    # signer are written in; NULL in rows older than it (migration 0015): DEFAULT_LOCALE.
    locale: Mapped[str | None] = mapped_column(String(16))
    # The campaigner took this entry off the petition's public list of signers (campaigns/signers.py);
    # the signature still counts. NULL while it is listed (when its signer chose to show their name).
    list_hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    petition: Mapped[Petition] = relationship()


class FormStamp(Model):
    """A signing form's stamp that a signing has used: the next signing with it is suspected.

    Rows older than SIGN_STAMP_MAX_AGE are of stamps refused anyway, and are purged.
    """

    __tablename__ = "form_stamps"

    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
