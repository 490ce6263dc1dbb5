"""Sequencing: append what changed in each petition's count to its public log, and sign a new checkpoint.

The worker runs sequence_all() every LOG_INTERVAL seconds. Nothing on the request path writes
to the log: a confirmation, an invalidation, its reversal, a signature held as suspected all
just change the row, which then counts differently from what the log says (log_live) and is
found by the partial index of counting/rules.LOG_OUT_OF_SYNC. A deleted row leaves a tombstone
instead (removals.py).

A petition is sequenced in one transaction that holds its log's head row locked (FOR UPDATE),
so two workers running at once append one after the other and never fork the log; on SQLite
the one writer does the same. In it:
1. the tombstones and the out-of-sync rows are read (a batch at most; the rows locked, skipping
   any that another transaction is changing right now: they are taken next time);
2. the entries are made: the adds first, shuffled (secrets.SystemRandom) so that the order of
   a batch does not tell who signed when; then the removes, restores and group entries (groups.py:
   a group's domain enters the log once its count is shown), by the entry they name;
3. the entries are appended (log_entries, the hash tiles they change in log_tiles), the rows
   get their entry and live state, the tombstones go, and the head gets the new size, root and
   count, with the checkpoint signed by the log's key;
4. each new add queues a receipt email to its signer (receipts.py).
Then the caller commits.
"""

from __future__ import annotations

import logging
import secrets
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, delete, insert, select, text, union, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from petitions.clock import utcnow
from petitions.counting import rules
from petitions.extensions import db
from petitions.infra.database import is_postgresql
from petitions.infra.tlog import entries, merkle, note, tiles
from petitions.models import LogEntry, LogRemoval, LogTile, Petition, PetitionLog, Signature
from petitions.transparency import groups, keys, receipts

log = logging.getLogger(__name__)

# Changes appended per transaction: a backlog (the first run after the log was introduced, a
# worker stopped for a day) is appended a batch at a time, each batch its own checkpoint.
BATCH = 20_000

_RANDOM = secrets.SystemRandom()
_ENTRIES = LogEntry.__table__
_TILES = LogTile.__table__
_SIGNATURES = Signature.__table__
# What a row needs for its entry, its receipt, and the checks of the count rule.
_ROW_COLUMNS = (
    Signature.id,
    Signature.email,
    Signature.country,
    Signature.email_domain,
    Signature.log_nonce,
    Signature.log_entry,
    Signature.log_live,
    Signature.log_domain,
    Signature.confirmed_at,
    Signature.invalidated_at,
    Signature.suspected,
    Signature.withdrawn_at,
)
# The rows' new log state, one statement for a batch (executemany). Parameter names differ from
# the columns': an UPDATE would take a parameter named like a column as that column's value.
_LOGGED = (
    update(_SIGNATURES)
    .where(_SIGNATURES.c.id == bindparam("row_id"))
    .values(log_entry=bindparam("entry"), log_live=True, log_nonce=bindparam("nonce"), log_domain=bindparam("domain"))
)
_GROUPED = update(_SIGNATURES).where(_SIGNATURES.c.id == bindparam("row_id")).values(log_domain=bindparam("domain"))
_LIVE = update(_SIGNATURES).where(_SIGNATURES.c.id == bindparam("row_id")).values(log_live=bindparam("live"))
# PostgreSQL: the same writes as one statement each, over arrays passed as one comma-separated
# string each (entries in hex). A batch is tens of thousands of rows: a statement per row, even
# pipelined, and psycopg's quoting of each element of a text array each cost most of its time.
_LOGGED_PG = text(
    "UPDATE signatures AS s SET log_entry = v.entry, log_live = true, log_nonce = v.nonce, log_domain = v.domain"
    " FROM unnest(CAST(string_to_array(:ids, ',') AS integer[]), CAST(string_to_array(:entries, ',') AS integer[]),"
    " string_to_array(:nonces, ','), string_to_array(:domains, ',', '')) AS v(id, entry, nonce, domain)"
    " WHERE s.id = v.id"
)
_LIVE_PG = text(
    "UPDATE signatures AS s SET log_live = v.live FROM unnest(CAST(string_to_array(:ids, ',') AS integer[]),"
    " CAST(string_to_array(:live, ',') AS boolean[])) AS v(id, live) WHERE s.id = v.id"
)
_ENTRIES_PG = text(
    "INSERT INTO log_entries (petition_id, idx, data) SELECT :pid, :first + n - 1, decode(d, 'hex')"
    " FROM unnest(string_to_array(:data, ',')) WITH ORDINALITY AS t(d, n)"
)


def _joined(values: Sequence[object]) -> str:
    return ",".join(map(str, values))


@dataclass(frozen=True)
class Sequenced:
    """What one transaction appended to a petition's log, and the log afterwards."""

    petition_id: int
    slug: str
    appended: int
    size: int
    root: bytes
    count: int
    # More changes were waiting than one batch takes.
    more: bool


def pending_petitions() -> list[int]:
    """The petitions whose log is behind their rows: out-of-sync rows (by their partial index), tombstones,
    or a shown group's domain whose earlier entries are still to be marked."""
    out_of_sync = select(Signature.petition_id).where(rules.log_out_of_sync())
    tombstones = select(LogRemoval.petition_id)
    return sorted(db.session.scalars(union(out_of_sync, tombstones, groups.petitions_to_mark())))


def sequence_all(*, now: datetime | None = None, batch: int = BATCH) -> list[Sequenced]:
    """Bring every petition's log up to date with its rows, committing each transaction; what was appended.

    A petition whose sequencing fails is logged and left for the next run; the others go on, so
    one damaged log never stops the rest (nor the mail of a `--once` run).
    """
    done: list[Sequenced] = []
    petitions = pending_petitions()
    db.session.commit()
    for petition_id in petitions:
        while True:
            try:
                result = sequence_petition(petition_id, now=now or utcnow(), batch=batch)
                db.session.commit()
            except Exception:
                db.session.rollback()
                log.exception("Log of petition %s: sequencing failed; it is tried again at the next run", petition_id)
                break
            if result is None:
                break
            done.append(result)
            if not result.more:
                break
    return done


def sequence_petition(petition_id: int, *, now: datetime, batch: int = BATCH) -> Sequenced | None:
    """Append one batch of a petition's changes to its log and sign the new checkpoint; None when none waited.

    Flushes and never commits; the head row stays locked until the caller's commit.
    """
    petition = db.session.execute(select(Petition.slug, Petition.title).where(Petition.id == petition_id)).one_or_none()
    if petition is None:
        return None
    head = lock_head(petition_id, now=now)
    tombstones = db.session.execute(
        select(LogRemoval.id, LogRemoval.entry, LogRemoval.reason)
        .where(LogRemoval.petition_id == petition_id)
        .order_by(LogRemoval.id)
        .limit(batch)
    ).all()
    query = select(*_ROW_COLUMNS).where(Signature.petition_id == petition_id, rules.log_out_of_sync()).limit(batch)
    if is_postgresql():
        # A row another transaction is changing (a withdrawal that will see log_live, a confirmation)
        # is left for the next run rather than waited for.
        query = query.with_for_update(skip_locked=True)
    rows = db.session.execute(query).all()
    shown, unmarked = groups.shown_domains(petition_id)
    marking = groups.unmarked_rows(petition_id, unmarked, _ROW_COLUMNS, batch)
    if not tombstones and not rows and not marking:
        groups.disclose(unmarked)
        return None

    adds = [r for r in rows if r.log_entry is None]
    others = [r for r in rows if r.log_entry is not None]
    _RANDOM.shuffle(adds)
    data: list[bytes] = []
    logged: list[dict[str, Any]] = []
    receipts_due: list[tuple[int, int]] = []  # (signature id, entry)
    for row in adds:
        index = head.size + len(data)
        # A row signed before the log existed gets its nonce now, and no receipt: its signer was
        # promised none, and a first run would otherwise email every signer the site ever had.
        older = row.log_nonce is None
        nonce = entries.new_nonce() if older else row.log_nonce
        domain = groups.group_of(row.email_domain, shown)
        data.append(entries.add_entry(_commitment(petition.slug, row, nonce), _country(row), domain))
        logged.append({"row_id": row.id, "entry": index, "nonce": nonce, "domain": domain})
        if not older:
            receipts_due.append((row.id, index))
    # Removes and restores by the entry they name: their order says nothing about anyone.
    changes: list[tuple[int, bytes]] = []
    live: list[dict[str, Any]] = []
    grouped: list[dict[str, Any]] = []
    for row in others:
        counts = rules.counts(typing.cast(rules.SignatureState, row))
        if counts:  # out of sync and counting: its add was removed, and it counts again
            changes.append((row.log_entry, entries.restore_entry(row.log_entry)))
            # Removed before its group was shown, so never marked (the marking takes live adds).
            domain = groups.group_of(row.email_domain, shown)
            if domain is not None and row.log_domain is None:
                changes.append((row.log_entry, entries.group_entry(row.log_entry, domain)))
                grouped.append({"row_id": row.id, "domain": domain})
        else:
            reason = "withdrawn" if row.withdrawn_at is not None else "invalidated"
            changes.append((row.log_entry, entries.remove_entry(row.log_entry, reason)))
        live.append({"row_id": row.id, "live": counts})
    changes += [(t.entry, entries.remove_entry(t.entry, t.reason)) for t in tombstones]
    restoring = {row.id for row in others}
    for row in marking:
        domain = groups.group_of(row.email_domain, shown)
        if domain is not None and row.id not in restoring:
            changes.append((row.log_entry, entries.group_entry(row.log_entry, domain)))
            grouped.append({"row_id": row.id, "domain": domain})
    # Stable: a restore comes before the group entry of the same add.
    changes.sort(key=lambda change: change[0])
    data += [entry for _, entry in changes]
    restored = sum(1 for change in live if change["live"])
    count = head.count + len(adds) + restored - (len(live) - restored) - len(tombstones)

    grown = tiles.append_leaves(_tile_reader(petition_id), head.size, [merkle.leaf_hash(e) for e in data])
    _write_entries(petition_id, head.size, data)
    _write_tiles(petition_id, grown.tiles)
    _write_rows(logged, live, grouped)
    if len(marking) < batch:
        groups.disclose(unmarked)
    if tombstones:
        db.session.execute(delete(LogRemoval).where(LogRemoval.id.in_([t.id for t in tombstones])))
    checkpoint = note.Checkpoint(note.log_origin(current_app.config["BASE_URL"], petition.slug), grown.size, grown.root)
    head.size, head.root, head.count = grown.size, grown.root, count
    head.checkpoint = note.sign_checkpoint(checkpoint, keys.signer())
    head.updated_at = now
    receipts.queue(petition.slug, petition.title, receipts_due, now=now)
    db.session.flush()
    more = len(rows) == batch or len(tombstones) == batch or len(marking) == batch
    return Sequenced(petition_id, petition.slug, len(data), grown.size, grown.root, count, more)


def lock_head(petition_id: int, *, now: datetime) -> PetitionLog:
    """The petition's log head, made empty the first time, locked until the transaction ends."""
    query = (
        select(PetitionLog)
        .where(PetitionLog.petition_id == petition_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    head = db.session.scalar(query)
    if head is None:
        insert_ = pg_insert if is_postgresql() else sqlite_insert
        db.session.execute(
            insert_(PetitionLog.__table__)
            .values(petition_id=petition_id, size=0, root=merkle.EMPTY_ROOT, count=0, checkpoint=None, updated_at=now)
            .on_conflict_do_nothing(index_elements=["petition_id"])
        )
        head = db.session.scalars(query).one()
    return head


def _tile_reader(petition_id: int) -> tiles.TileReader:
    """Read the log's stored hash tiles (append_leaves reads the rightmost partial tile of each level)."""

    def read(level: int, index: int, width: int) -> bytes:
        data = db.session.scalar(
            select(LogTile.data).where(LogTile.petition_id == petition_id, LogTile.level == level, LogTile.n == index)
        )
        if data is None or len(data) != width * merkle.HASH_SIZE:
            raise tiles.TileMissing(tiles.tile_path(level, index, width), "the stored log is damaged")
        return bytes(data)

    return read


def _write_entries(petition_id: int, first: int, data: list[bytes]) -> None:
    """Store the new entries, numbered from `first`."""
    if is_postgresql():
        db.session.execute(_ENTRIES_PG, {"pid": petition_id, "first": first, "data": _joined([e.hex() for e in data])})
    else:
        db.session.execute(
            insert(_ENTRIES), [{"petition_id": petition_id, "idx": first + i, "data": e} for i, e in enumerate(data)]
        )


def _write_rows(logged: list[dict[str, Any]], live: list[dict[str, Any]], grouped: list[dict[str, Any]]) -> None:
    """Give the rows just logged their entry, nonce, domain and live state; the others their new live
    state, and the ones given a group entry their domain."""
    if grouped:
        db.session.execute(_GROUPED, grouped)
    if not is_postgresql():
        if logged:
            db.session.execute(_LOGGED, logged)
        if live:
            db.session.execute(_LIVE, live)
        return
    if logged:
        columns = {"ids": _joined([r["row_id"] for r in logged]), "entries": _joined([r["entry"] for r in logged])}
        domains = _joined([r["domain"] or "" for r in logged])
        db.session.execute(_LOGGED_PG, {**columns, "nonces": _joined([r["nonce"] for r in logged]), "domains": domains})
    if live:
        ids, states = _joined([r["row_id"] for r in live]), _joined(["t" if r["live"] else "f" for r in live])
        db.session.execute(_LIVE_PG, {"ids": ids, "live": states})


def _write_tiles(petition_id: int, written: dict[tiles.Tile, bytes]) -> None:
    """Store new tiles and the wider versions of partial ones, in one statement."""
    if not written:
        return
    insert_ = pg_insert if is_postgresql() else sqlite_insert
    stmt = insert_(_TILES)
    stmt = stmt.on_conflict_do_update(index_elements=["petition_id", "level", "n"], set_={"data": stmt.excluded.data})
    db.session.execute(
        stmt, [{"petition_id": petition_id, "level": t.level, "n": t.index, "data": d} for t, d in written.items()]
    )


def _commitment(slug: str, row: Any, nonce: str) -> str:
    """The signer's commitment (entries.commitment of the address their confirmation went to)."""
    try:
        return entries.commitment(slug, row.email, nonce)
    except entries.EntryError:
        # An address stored before today's checks that the commitment cannot take: the entry
        # still counts, with a commitment nobody can open, rather than stopping the log.
        log.warning("Signature %s: its address cannot be committed to; its entry gets an opaque commitment", row.id)
        return secrets.token_hex(32)


def _country(row: Any) -> str:
    """The signature's country code as an entry holds it; ZZ (ISO's "unknown") for one that is not two letters."""
    country = (row.country or "").upper()
    return country if len(country) == 2 and country.isascii() and country.isalpha() else "ZZ"


def log_changed(sequenced: Sequence[Sequenced]) -> None:
    """Log what a run appended (the worker)."""
    for s in sequenced:
        log.info("Log of %s: %s entries appended, now %s entries counting %s", s.slug, s.appended, s.size, s.count)
