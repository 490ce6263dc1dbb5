"""Withdrawing a signature at its signer's request, and stopping the update emails to a signer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from petitions.counting import counts, rules
from petitions.exceptions import TokenInvalid
from petitions.extensions import db
from petitions.models import Signature
from petitions.transparency import removals


def withdraw(signature: Signature, *, now: datetime, reason: str = removals.WITHDRAWN) -> bool:
    """Withdraw a signature at its signer's request; if it was counted, every count drops by one.

    A valid signature is deleted. An invalidated or suspected one stops counting for nothing,
    so deleting it would only let its mailbox sign again as new and be counted: its row is
    kept, emptied of everything but the mailbox and the invalidation, with `withdrawn_at` set
    (a second withdrawal changes nothing). Returns True when the row was kept so.

    The row is locked first, so a confirmation pressed at the same moment either counts
    before and is taken back here, or finds the row gone; and so does the log's worker, so the
    row's log state read here is the one its log has. A deleted row whose add is live in the
    public log leaves the log a remove to append, with `reason` (removals.WITHDRAWN, or ERASED
    when the signer deletes their data); its nonce goes with the row, and the entry, which
    says nothing about anyone without it, stays.
    """
    locked = db.session.scalar(select(Signature).where(Signature.id == signature.id).with_for_update())
    if locked is None:
        raise TokenInvalid()
    db.session.refresh(locked)
    if locked.withdrawn_at is not None:
        return True
    if locked.invalidated_at is not None:
        locked.withdrawn_at = now
        locked.name, locked.comment, locked.postcode = "", None, None
        locked.organisation = locked.job_title = None
        locked.ip_address = locked.ip_key = None
        locked.show_name = locked.updates = False
        locked.log_nonce = None  # the key to its log entry goes too; the sequencer removes the entry if live
        db.session.flush()
        return True
    removals.note_removal(locked, reason)
    if rules.counts(locked):
        counts.apply([counts.Counted.of(locked)], -1, now=now)
    db.session.delete(locked)
    db.session.flush()
    return False


def unsubscribe(signature: Signature) -> None:
    """Stop update emails to this signer."""
    signature.updates = False
    db.session.flush()
