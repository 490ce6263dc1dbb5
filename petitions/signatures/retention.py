"""What is kept, and for how long: unconfirmed signatures and signers' IP addresses."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, update

from petitions.counting.rules import awaiting_confirmation
from petitions.extensions import db
from petitions.infra.database import rowcount
from petitions.models import Signature


def purge_unverified(*, older_than_days: int, now: datetime) -> int:
    """Delete signatures never confirmed that were made more than the given days ago.

    Invalidated and suspected ones stay (a withdrawn one is already emptied of all but its
    address): deleting the row would let that mailbox sign again as if new and undo the
    decision, which withdrawing cannot do either.
    """
    cutoff = now - timedelta(days=older_than_days)
    return rowcount(
        db.session.execute(
            delete(Signature)
            .where(*awaiting_confirmation(), Signature.created_at < cutoff)
            .execution_options(synchronize_session=False)
        )
    )


def drop_ip_addresses(*, older_than_days: int, now: datetime) -> int:
    """Forget the IP address of signatures made more than the given days ago."""
    cutoff = now - timedelta(days=older_than_days)
    return rowcount(
        db.session.execute(
            update(Signature)
            .where(Signature.created_at < cutoff, Signature.ip_address.is_not(None))
            .values(ip_address=None, ip_key=None)
            .execution_options(synchronize_session=False)
        )
    )
