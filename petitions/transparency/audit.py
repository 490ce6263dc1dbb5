"""Checking a petition's log against its signature rows, from the database (`flask --app app recount`).

The log is replayed from its stored entries as any verifier would replay the downloaded ones;
its tree is rebuilt from them and must match every stored tile, the head's root, and the signed
checkpoint. Then its count is compared with the rows', counting only what the log has been told:
rows whose add is live (log_live) and the removals still owed for rows deleted since
(log_removals, still live in the log until appended). So a change made since the worker's last
run is never reported as a difference, and nothing is written: the check runs with or without
the worker. The rows' own count (signature_count) is checked against the rows by counts.recount.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field

from sqlalchemy import func, select

from petitions.counting import rules
from petitions.extensions import db
from petitions.infra.tlog import entries, merkle, note, tiles
from petitions.models import LogRemoval, Petition, PetitionLog, Signature
from petitions.transparency import keys, reading


@dataclass
class LogCheck:
    """A petition's log checked against its rows: both counts, what is still to append, and what is wrong."""

    slug: str
    log_count: int = 0
    rows_count: int = 0
    pending: int = 0  # changes not yet appended (out-of-sync rows and owed removals)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check(petition: Petition) -> LogCheck:
    """Replay the petition's log from the database and compare it with its rows; never writes.

    The head row is locked (FOR UPDATE on PostgreSQL) so no worker appends meanwhile; the rows'
    side is one statement, one snapshot, so a withdrawal committing meanwhile is counted either
    as its live row or as its owed removal, never both or neither.
    """
    result = LogCheck(petition.slug)
    head = db.session.execute(
        select(PetitionLog).where(PetitionLog.petition_id == petition.id).with_for_update()
    ).scalar_one_or_none()
    live_rows = select(func.count()).where(Signature.petition_id == petition.id, Signature.log_live).scalar_subquery()
    owed = select(func.count()).where(LogRemoval.petition_id == petition.id).scalar_subquery()
    behind = select(func.count()).where(Signature.petition_id == petition.id, rules.log_out_of_sync()).scalar_subquery()
    logged, removals, out_of_sync = typing.cast(
        tuple[int, int, int], db.session.execute(select(live_rows, owed, behind)).one()
    )
    result.rows_count = logged + removals
    result.pending = removals + out_of_sync

    tally = entries.Tally()
    leaves: list[bytes] = []
    try:
        for data in reading.all_entries(petition.id):
            tally.apply(data)
            leaves.append(merkle.leaf_hash(data))
    except entries.EntryError as exc:
        result.problems.append(f"the log's entries do not add up: {exc}")
    result.log_count = tally.count
    if head is None:
        if leaves:
            result.problems.append(f"the log has {len(leaves)} entries but no head")
        return _compare(result)

    if head.size != len(leaves):
        result.problems.append(f"the head says {head.size} entries, the log holds {len(leaves)}")
    if not result.problems and head.count != tally.count:
        result.problems.append(f"the head says the log counts {head.count}, its entries add up to {tally.count}")
    built = tiles.build_tiles(leaves)
    if built.root != bytes(head.root):
        result.problems.append("the entries do not hash to the head's root")
    stored = reading.stored_tiles(petition.id)
    wrong = sorted(t.path for t, data in built.tiles.items() if stored.get((t.level, t.index)) != data)
    extra = set(stored) - {(t.level, t.index) for t in built.tiles}
    if wrong or extra:
        shown = wrong[:3] + [f"tile/{level}/{n} (not in the tree)" for level, n in sorted(extra)[:3]]
        result.problems.append(f"{len(wrong) + len(extra)} stored tile(s) do not match the entries: {', '.join(shown)}")
    if head.checkpoint is not None:
        try:
            signed = note.open_checkpoint(head.checkpoint, keys.verifier())
        except note.NoteError as exc:
            result.problems.append(f"the checkpoint does not verify with the log's key: {exc}")
        else:
            if signed.size != head.size or signed.root != bytes(head.root):
                result.problems.append(f"the signed checkpoint is of size {signed.size}, not the head's {head.size}")
    return _compare(result)


def _compare(result: LogCheck) -> LogCheck:
    if result.log_count != result.rows_count:
        result.problems.append(f"the log counts {result.log_count}, the rows it was told of count {result.rows_count}")
    return result
