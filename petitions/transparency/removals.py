"""The remove entries owed for signature rows that are deleted while their add is live in the log.

A deleted row leaves nothing for the sequencer to find, so the transaction that deletes it
writes a tombstone (log_removals) naming the entry and why; the sequencer turns it into a
remove entry. A row never logged, or whose add was already removed, needs none.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, insert, literal, select

from petitions.extensions import db
from petitions.models import LogRemoval, Signature

WITHDRAWN = "withdrawn"
ERASED = "erased"

_REMOVALS = LogRemoval.__table__


def note_removal(signature: Signature, reason: str) -> None:
    """Before deleting this (locked) row: owe the log a remove of its add, if that add is live."""
    if signature.log_entry is not None and signature.log_live:
        db.session.execute(
            insert(_REMOVALS).values(petition_id=signature.petition_id, entry=signature.log_entry, reason=reason)
        )


def note_removals(reason: str, *conditions: ColumnElement[Any]) -> None:
    """Before deleting the rows these conditions select (locked): note_removal for each of them, in one statement."""
    rows = select(Signature.petition_id, Signature.log_entry, literal(reason)).where(
        *conditions, Signature.log_entry.is_not(None), Signature.log_live
    )
    db.session.execute(insert(_REMOVALS).from_select(["petition_id", "entry", "reason"], rows))
