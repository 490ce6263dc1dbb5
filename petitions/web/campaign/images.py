"""The petition's picture: uploading, describing, replacing and removing it."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response

from petitions.campaigns import images
from petitions.clock import utcnow
from petitions.extensions import db
from petitions.infra.images import ImageRejected, process
from petitions.models import Petition
from petitions.web.campaign import bp
from petitions.web.campaign.forms import ImageForm
from petitions.web.campaign.routes import _managed_or_403
from petitions.web.fields import required_value
from petitions.web.forms import ButtonForm
from petitions.web.uploads import accepts_upload, upload_folder


def _size_text() -> str:
    return f"{current_app.config['IMAGE_MAX_BYTES'] / (1024 * 1024):g} MB"


def _page(petition: Petition, form: ImageForm, status: int) -> tuple[str, int]:
    form.image.description = form.image.description % {"size": _size_text()}
    # The browser refuses a file over the limit before sending it (static/js/image.js), in these words.
    form.image.render_kw = {
        **(form.image.render_kw or {}),
        "data-max-bytes": current_app.config["IMAGE_MAX_BYTES"],
        "data-too-large": _too_large(),
    }
    latest = images.latest_image(petition)
    return render_template(
        "campaign/image.html",
        petition=petition,
        form=form,
        remove_form=ButtonForm(formdata=None),
        live=images.live_image(petition),
        pending=images.pending_image(petition),
        rejected=latest if latest is not None and latest.status == "rejected" else None,
        reviewed_first=images.needs_review(petition, current_user, current_app.config["MODERATION"]),
    ), status


def _too_large() -> str:
    return _("This file is larger than %(size)s. Please choose a smaller picture.", size=_size_text())


def _read(upload: FileStorage) -> bytes:
    """The uploaded file's bytes; ImageRejected when it runs past IMAGE_MAX_BYTES (a body sent without a length)."""
    limit = current_app.config["IMAGE_MAX_BYTES"]
    data: bytes = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise ImageRejected(_too_large())
    return data


@bp.route("/petitions/<slug>/image", methods=["GET", "POST"])
@accepts_upload("IMAGE_MAX_BYTES")
@login_required
def petition_image(slug: str) -> Response | tuple[str, int]:
    """The petition's picture: upload a new one with its description, or change the description."""
    petition = _managed_or_403(slug)
    form = ImageForm()
    current = images.pending_image(petition) or images.live_image(petition)
    if request.method == "GET" and current is not None:
        form.alt.data = current.alt
    if not form.validate_on_submit():
        return _page(petition, form, 422 if request.method == "POST" else 200)
    upload = form.image.data if isinstance(form.image.data, FileStorage) and form.image.data.filename else None
    alt = required_value(form.alt)
    now = utcnow()
    if upload is None:
        if current is None:
            form.image.errors = [_("Please choose a picture.")]
            return _page(petition, form, 422)
        images.change_alt(current, alt, now=now)
        db.session.commit()
        flash(_("The description of the picture is saved."), "success")
        return redirect(url_for(".petition_image", slug=slug), 303)
    try:
        processed = process(_read(upload), max_pixels=current_app.config["IMAGE_MAX_PIXELS"])
    except ImageRejected as exc:
        form.image.errors = [str(exc)]
        return _page(petition, form, 422)
    folder = upload_folder()
    replaced = [image.key for image in (images.pending_image(petition), images.live_image(petition)) if image]
    image = images.set_image(
        petition,
        processed,
        alt=alt,
        editor=current_user._get_current_object(),
        now=now,
        moderation=current_app.config["MODERATION"],
        folder=folder,
    )
    db.session.commit()
    images.discard_unused(folder, replaced)
    if image.status == "pending":
        flash(
            _(
                "Your new picture waits for a moderator. Until it is approved, the petition shows the picture"
                " approved before, or none."
            ),
            "info",
        )
    else:
        flash(_("The picture is saved: it is shown with the petition and when it is shared."), "success")
    return redirect(url_for(".petition_image", slug=slug), 303)


@bp.post("/petitions/<slug>/image/remove")
@login_required
def remove_petition_image(slug: str) -> Response:
    """Take the petition's picture away (and any waiting for review): the generated card is shared instead."""
    petition = _managed_or_403(slug)
    if ButtonForm().validate_on_submit():
        keys = images.remove_image(petition, now=utcnow())
        db.session.commit()
        images.discard_unused(upload_folder(), keys)
        flash(_("The picture is removed."), "success")
    return redirect(url_for(".petition_image", slug=slug), 303)
