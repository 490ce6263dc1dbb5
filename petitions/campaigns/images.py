"""A petition's picture: uploading, replacing and removing it; which one the public sees.

Like the text, a new picture of a petition that has been public is looked at by a moderator:
under MODERATION=pre it waits (status 'pending') and the public keeps the picture approved before,
or the generated card; under post it shows at once and the petition is flagged as edited since its
review. A picture added before the petition is first public is reviewed with the petition itself,
and an administrator's own upload shows at once. Removing a picture never waits.

The functions flush and never commit. Files are written before the rows (a file nobody names is
harmless and is named by its content, so a retry reuses it); the files of pictures no row keeps any
more are deleted by discard_unused after the caller's commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from petitions.counting.counts import lock
from petitions.extensions import db
from petitions.infra import images
from petitions.models import Petition, PetitionImage, User
from petitions.models.image import KEPT_STATUSES


def live_image(petition: Petition) -> PetitionImage | None:
    """The picture the public sees with the petition, if any."""
    return db.session.scalar(
        select(PetitionImage).where(PetitionImage.petition_id == petition.id, PetitionImage.status == "live")
    )


def pending_image(petition: Petition) -> PetitionImage | None:
    """The picture waiting for a moderator (MODERATION=pre), if any."""
    return db.session.scalar(
        select(PetitionImage).where(PetitionImage.petition_id == petition.id, PetitionImage.status == "pending")
    )


def latest_image(petition: Petition) -> PetitionImage | None:
    """The last picture uploaded, whatever became of it (to tell its owner a moderator's reason)."""
    return db.session.scalar(
        select(PetitionImage)
        .where(PetitionImage.petition_id == petition.id)
        .order_by(PetitionImage.created_at.desc(), PetitionImage.id.desc())
        .limit(1)
    )


def needs_review(petition: Petition, editor: User | None, moderation: str) -> bool:
    """True when a new picture waits for a moderator before the public sees it."""
    return moderation == "pre" and petition.opened_at is not None and not (editor is not None and editor.is_admin)


def set_image(
    petition: Petition,
    upload: images.Processed,
    *,
    alt: str,
    editor: User | None,
    now: datetime,
    moderation: str,
    folder: Path,
) -> PetitionImage:
    """Store a cleaned picture as the petition's new one, live at once or waiting for review.

    Returns the new row; the keys of pictures it replaced are left for discard_unused.
    """
    images.store(folder, upload.files)
    lock(petition)  # one live and one waiting picture per petition, even when two uploads race
    waits = needs_review(petition, editor, moderation)
    replaced = [pending_image(petition)] + ([] if waits else [live_image(petition)])
    for old in replaced:
        if old is not None:
            old.status = "replaced"
    db.session.flush()  # before the new row, for the one-live and one-pending indexes
    image = PetitionImage(
        petition_id=petition.id,
        author_id=editor.id if editor is not None else petition.owner_id,
        key=upload.key,
        width=upload.width,
        height=upload.height,
        alt=alt.strip(),
        status="pending" if waits else "live",
        created_at=now,
    )
    db.session.add(image)
    if not waits and petition.opened_at is not None and not (editor is not None and editor.is_admin):
        petition.edited_since_review_at = now  # MODERATION=post: the moderators look at what the public sees
    petition.updated_at = now
    db.session.flush()
    return image


def change_alt(image: PetitionImage, alt: str, *, now: datetime) -> None:
    """Rewrite what the picture is said to show; the picture stays as it is."""
    image.alt = alt.strip()
    image.petition.updated_at = now
    db.session.flush()


def remove_image(petition: Petition, *, now: datetime) -> list[str]:
    """Take the petition's picture away, the one waiting for review too; returns their keys."""
    lock(petition)
    removed = [image for image in (live_image(petition), pending_image(petition)) if image is not None]
    for image in removed:
        image.status = "replaced"
    petition.updated_at = now
    db.session.flush()
    return [image.key for image in removed]


def discard_unused(folder: Path, keys: Iterable[str]) -> None:
    """Delete the files of these pictures unless a live or waiting picture (of any petition) still uses them.

    Called after the commit that stopped using them: a rolled-back change keeps its files.
    """
    for key in set(keys):
        used = db.session.scalar(
            select(PetitionImage.id).where(PetitionImage.key == key, PetitionImage.status.in_(KEPT_STATUSES)).limit(1)
        )
        if used is None:
            images.delete(folder, images.file_names(key).values())
