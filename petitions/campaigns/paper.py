"""Paper signatures: batches a campaigner collected on paper, counted beside the online count, never in it.

A batch is the campaigner's own statement (how many, where, when, and optionally a scan of the
sheets); the site does not verify it, so it never enters `signature_count`, the counters or the
public log. `petitions.paper_signature_count` is the sum of the batches not rejected, moved by a
relative UPDATE in the transaction that records or rejects a batch, so two batches recorded at
once both count.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from flask_babel import gettext as _
from sqlalchemy import select, update

from petitions.exceptions import DomainError
from petitions.extensions import db
from petitions.models import PaperBatch, Petition, User
from petitions.models.outcome import PAPER_BATCH_MAX
from petitions.moderation import audit

# What a scan may be, told by its first bytes, never by its name or the browser's word:
# (signature, media type, file extension).
SCAN_TYPES = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)
SCAN_FOLDER = "paper"


class PaperError(DomainError):
    """A batch cannot be recorded or rejected as asked; the message says why, and nothing was stored."""


@dataclass(frozen=True)
class BatchData:
    """A batch as the campaigner described it, already validated for shape by the form."""

    count: int
    location: str
    collected_on: date
    scan: bytes | None = None


def scan_type(data: bytes) -> tuple[str, str] | None:
    """(media type, extension) of a PDF, JPEG or PNG, judged by its content; None for anything else."""
    for magic, media_type, extension in SCAN_TYPES:
        if data.startswith(magic):
            return media_type, extension
    return None


def check(data: BatchData, *, now: datetime, max_scan_bytes: int) -> tuple[str, str] | None:
    """Refuse a batch that cannot be stored (PaperError); the scan's (media type, extension) when it has one."""
    if not 1 <= data.count <= PAPER_BATCH_MAX:
        raise PaperError(_("The number of signatures in one batch must be between 1 and 100,000."))
    if data.collected_on > now.date():
        raise PaperError(_("The collection date cannot be in the future."))
    if not data.scan:
        return None
    if len(data.scan) > max_scan_bytes:
        megabytes = f"{max_scan_bytes / 1048576:g}"
        raise PaperError(_("The scan is larger than %(size)s MB. Nothing was saved.", size=megabytes))
    kind = scan_type(data.scan)
    if kind is None:
        raise PaperError(_("The scan must be a PDF, JPEG or PNG file. Nothing was saved."))
    return kind


def _move_count(petition: Petition, delta: int) -> None:
    db.session.execute(
        update(Petition)
        .where(Petition.id == petition.id)
        .values(paper_signature_count=Petition.paper_signature_count + delta)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(petition, ["paper_signature_count"])


def record_batch(
    petition: Petition, author: User, data: BatchData, *, folder: Path, max_scan_bytes: int, now: datetime
) -> PaperBatch:
    """Record a batch and add it to the petition's paper count; its scan is written under `folder`/paper/.

    The file is written before the caller commits: if the commit fails, the caller removes it
    (discard_scan), so no batch ever points at a missing file.
    """
    if not petition.is_public():
        raise PaperError(_("Paper signatures can be added once the petition is public."))
    kind = check(data, now=now, max_scan_bytes=max_scan_bytes)
    batch = PaperBatch(
        petition_id=petition.id,
        author_id=author.id,
        count=data.count,
        location=data.location.strip(),
        collected_on=data.collected_on,
        created_at=now,
    )
    if kind is not None:
        media_type, extension = kind
        batch.scan_file, batch.scan_type = secrets.token_hex(16) + extension, media_type
    db.session.add(batch)
    db.session.flush()
    _move_count(petition, data.count)
    path = scan_path(batch, folder)
    if path is not None and data.scan is not None:  # last: a failure before it leaves no file behind
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.scan)
    return batch


def scan_path(batch: PaperBatch, folder: Path) -> Path | None:
    """Where the batch's scan is kept, or None when it has none."""
    return folder / SCAN_FOLDER / batch.scan_file if batch.scan_file else None


def discard_scan(batch: PaperBatch, folder: Path) -> None:
    """Remove the scan written for a batch whose transaction did not commit."""
    path = scan_path(batch, folder)
    if path is not None:
        path.unlink(missing_ok=True)


def reject_batch(batch: PaperBatch, admin: User, *, reason: str, now: datetime) -> None:
    """An administrator rejects a batch: it stays listed, with the reason, and stops counting; audited."""
    if batch.rejected_at is not None:
        raise PaperError(_("This batch was rejected already."))
    petition = db.session.get_one(Petition, batch.petition_id)
    batch.rejected_at = now
    batch.rejected_by_id = admin.id
    batch.rejection_reason = reason.strip()[:500]
    db.session.flush()
    _move_count(petition, -batch.count)
    audit.record(
        admin,
        "paper_batch.reject",
        "paper_batch",
        batch.id,
        reason=reason,
        details={"petition": petition.slug, "count": batch.count, "location": batch.location},
        now=now,
    )


def batches(petition: Petition) -> list[PaperBatch]:
    """The petition's batches, the latest recorded first, rejected ones included."""
    return list(
        db.session.scalars(
            select(PaperBatch).where(PaperBatch.petition_id == petition.id).order_by(PaperBatch.id.desc())
        )
    )
