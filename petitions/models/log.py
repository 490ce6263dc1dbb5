"""The public log of each petition: its head (latest checkpoint), entries, hash tiles, and pending removals.

The log is append-only: entries and full tiles are written once and never change; a partial
tile (the rightmost of a level) is replaced, always by a longer one that starts with it. The
bytes are those the tlog core (infra/tlog) computes and the log's URLs serve.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from petitions.extensions import Model
from petitions.models.types import UTCDateTime


class PetitionLog(Model):
    """A petition's log as of its latest signed checkpoint; locked while a worker appends, so two never fork it."""

    __tablename__ = "petition_logs"

    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), primary_key=True)
    size: Mapped[int] = mapped_column(default=0)
    root: Mapped[bytes] = mapped_column(LargeBinary)
    # What the log's entries add up to (infra/tlog/entries.replay): the log's own count.
    count: Mapped[int] = mapped_column(default=0)
    # The signed note served at /petitions/<slug>/log/checkpoint; NULL until the first entry.
    checkpoint: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LogEntry(Model):
    """One entry of a petition's log (the JSON bytes of infra/tlog/entries); bundles are cut from these."""

    __tablename__ = "log_entries"

    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), primary_key=True)
    idx: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class LogTile(Model):
    """One hash tile of a petition's log at its current width: 32 bytes per hash, 256 hashes when full."""

    __tablename__ = "log_tiles"

    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), primary_key=True)
    level: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class LogRemoval(Model):
    """A signature deleted while its add was live in the log: the remove entry the worker still has to append.

    Written in the transaction that deletes the row (a withdrawal, an erasure), since nothing
    of the row is left afterwards to tell the worker which entry it was.
    """

    __tablename__ = "log_removals"

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), index=True)
    entry: Mapped[int]
    reason: Mapped[str] = mapped_column(String(16))
