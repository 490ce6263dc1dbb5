"""Petition pictures as files: served by us from UPLOAD_DIR, and the picture a petition page shows."""

from __future__ import annotations

from flask import abort, g, send_file
from sqlalchemy import select
from werkzeug.wrappers import Response

from petitions.campaigns.images import live_image
from petitions.extensions import db
from petitions.infra.images import parse_file_name, path_of
from petitions.models import Petition, PetitionImage
from petitions.models.image import KEPT_STATUSES
from petitions.web.public import bp
from petitions.web.queries import can_manage
from petitions.web.security import PRIVATE_CACHING
from petitions.web.uploads import upload_folder

# A file's name is its content's hash: it never changes, so a browser or a CDN keeps it for good.
FOREVER = "public, max-age=31536000, immutable"


@bp.get("/images/<name>")
def image_file(name: str) -> Response:
    """A stored picture file: to anyone when it is the picture of a public petition, else to those who
    manage its petition (a picture waiting for review, a petition not yet public); never an upload as sent."""
    parsed = parse_file_name(name)
    if parsed is None:
        abort(404)
    key, mimetype = parsed
    rows = db.session.scalars(
        select(PetitionImage).where(PetitionImage.key == key, PetitionImage.status.in_(KEPT_STATUSES))
    ).all()
    public = any(row.status == "live" and row.petition.is_public() for row in rows)
    if not public and not any(can_manage(row.petition) for row in rows):
        abort(404)
    path = path_of(upload_folder(), name)
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype=mimetype, conditional=True, etag=True)
    response.headers["Cache-Control"] = FOREVER if public else PRIVATE_CACHING
    # Only ever shown as the picture it is: the browser must not guess another type from its bytes.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response


def shown_image(petition: Petition) -> PetitionImage | None:
    """The picture the petition's page shows (its head and its body ask once between them)."""
    shown: dict[int, PetitionImage | None] = g.setdefault("petition_images", {})
    if petition.id not in shown:
        shown[petition.id] = live_image(petition)
    return shown[petition.id]


bp.add_app_template_global(shown_image, "petition_image")
