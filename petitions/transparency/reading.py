"""What a petition's log serves: its signed checkpoint, hash tiles and entry bundles, and its summary.

Everything read here was written by the sequencer in the same transaction as the head, so a
tile or bundle exists exactly when the head's tree has it. A full tile or bundle never changes
again, and a partial one `.p/W` always holds the same W hashes or entries (a wider one starts
with them), so the readers serve a prefix of a wider stored tile and any cache may keep the
answers forever.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select

from petitions.extensions import db
from petitions.infra.mail import external_url
from petitions.infra.tlog import merkle, tiles
from petitions.models import LogEntry, LogTile, PetitionLog


@dataclass(frozen=True)
class Head:
    """A log as of its latest checkpoint."""

    size: int
    count: int
    root: bytes
    checkpoint: str | None


def head(petition_id: int) -> Head | None:
    """The log's head, or None before its first entry."""
    row = db.session.execute(
        select(PetitionLog.size, PetitionLog.count, PetitionLog.root, PetitionLog.checkpoint).where(
            PetitionLog.petition_id == petition_id
        )
    ).one_or_none()
    if row is None:
        return None
    size, count, root, signed = row  # unpacked: a row's .count is the tuple's method
    if signed is None:
        return None
    return Head(size, count, bytes(root), signed)


def summary(petition_id: int, slug: str) -> dict[str, object]:
    """The petition JSON's `log`: size and count as of the latest checkpoint, and its URL (null before the first)."""
    latest = head(petition_id)
    if latest is None:
        return {"size": 0, "count": 0, "checkpoint_url": None}
    url = external_url("public.petition", slug=slug) + "/log/checkpoint"
    return {"size": latest.size, "count": latest.count, "checkpoint_url": url}


def checkpoint(petition_id: int) -> str | None:
    """The signed checkpoint (a C2SP signed note), or None before the log's first entry."""
    return db.session.scalar(select(PetitionLog.checkpoint).where(PetitionLog.petition_id == petition_id))


def tile(petition_id: int, level: int, index: int, width: int) -> bytes | None:
    """The bytes of hash tile <level>/<index> at `width` hashes, or None when the tree has no such tile (yet)."""
    data = db.session.scalar(
        select(LogTile.data).where(LogTile.petition_id == petition_id, LogTile.level == level, LogTile.n == index)
    )
    if data is None or len(data) < width * merkle.HASH_SIZE:
        return None
    return bytes(data[: width * merkle.HASH_SIZE])


def bundle(petition_id: int, index: int, width: int) -> bytes | None:
    """Entry bundle <index> of `width` entries (tlog-tiles: each a big-endian uint16 length and its bytes), or None."""
    first = index * tiles.TILE_WIDTH
    data = db.session.scalars(
        select(LogEntry.data)
        .where(LogEntry.petition_id == petition_id, LogEntry.idx >= first, LogEntry.idx < first + width)
        .order_by(LogEntry.idx)
    ).all()
    if len(data) != width:
        return None
    return tiles.encode_bundle(bytes(d) for d in data)


def read(petition_id: int, path: str) -> bytes | None:
    """What tile/<path> serves (a hash tile or an entry bundle), or None: not a tile path, or not in the tree."""
    try:
        wanted = tiles.parse_tile_path(f"tile/{path}")
    except ValueError:
        return None
    if wanted.level == tiles.ENTRIES:
        return bundle(petition_id, wanted.index, wanted.width)
    return tile(petition_id, wanted.level, wanted.index, wanted.width)


def all_entries(petition_id: int, batch: int = 10_000) -> Iterator[bytes]:
    """Every entry of the log, in order."""
    query = select(LogEntry.data).where(LogEntry.petition_id == petition_id).order_by(LogEntry.idx)
    for data in db.session.scalars(query.execution_options(yield_per=batch)):
        yield bytes(data)


def stored_tiles(petition_id: int) -> dict[tuple[int, int], bytes]:
    """Every stored hash tile of the log, by (level, index), at its stored width."""
    rows = db.session.execute(select(LogTile.level, LogTile.n, LogTile.data).where(LogTile.petition_id == petition_id))
    return {(level, n): bytes(data) for level, n, data in rows}
