"""Admin views of petitions: the list with its counts, one petition and what moderators do to it (hide,
restore, approve, reject, its proposed edits), and the pre-moderation queue.

Thin: they validate, call moderation, commit once, redirect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from petitions.campaigns import images, lifecycle, translations
from petitions.clock import utcnow
from petitions.extensions import db
from petitions.models import STATUSES, Petition, PetitionImage, PetitionRevision, PetitionTranslation, Report
from petitions.moderation import audit, reports, review, revisions
from petitions.moderation import images as image_review
from petitions.web.admin import bp
from petitions.web.admin.common import PER_PAGE, Page, actor, petition_or_404
from petitions.web.admin.forms import PetitionFilterForm, ReasonForm, RestoreForm
from petitions.web.fields import required_value
from petitions.web.forms import ButtonForm
from petitions.web.uploads import upload_folder

# --- home: counts and every petition ----------------------------------------------------------


@bp.get("/")
def index() -> str:
    """Counts that need attention, links to the admin pages, and every petition with filters."""
    form = PetitionFilterForm(formdata=request.args)
    status = form.status.data if form.status.data in STATUSES else None
    q = (form.q.data or "")[:100] or None
    owner = (form.owner.data or "")[:254] or None
    edited = bool(form.edited.data)
    page = db.paginate(review.admin_petitions(status, q, owner, edited=edited), per_page=PER_PAGE, error_out=False)
    return render_template(
        "admin/index.html",
        form=form,
        page=page,
        filtered=bool(status or q or owner or edited),
        status_counts=review.status_counts(),
        open_reports=reports.open_report_total(),
        pending_revisions=revisions.pending_revision_total(),
        edited_total=review.edited_total(),
        report_counts=reports.open_report_counts(p.id for p in page.items),
        moderation_mode=current_app.config["MODERATION"],
        now=utcnow(),
    )


# --- one petition: hide, restore, approve, reject ---------------------------------------------


def _render_petition(petition: Petition, status: int = 200, **forms: Any) -> Page:
    failed_translation = forms.pop("translation_forms", {})
    filed = db.session.scalars(
        select(Report).where(Report.petition_id == petition.id).order_by(Report.created_at.desc()).limit(20)
    ).all()
    history = db.session.scalars(audit.entries(target_type="petition", target_id=petition.id).limit(20)).all()
    context = {
        "hide_form": ReasonForm(formdata=None),
        "reject_form": ReasonForm(formdata=None),
        "restore_form": RestoreForm(formdata=None),
        "approve_form": ButtonForm(formdata=None),
        "approve_edit_form": ButtonForm(formdata=None),
        "reject_edit_form": ReasonForm(formdata=None),
        "reviewed_form": ButtonForm(formdata=None),
        "approve_image_form": ButtonForm(formdata=None),
        "reject_image_form": ReasonForm(formdata=None, prefix="image"),
        **forms,
    }
    revision = lifecycle.pending_revision(petition)
    waiting = [t for t in translations.by_language(petition.id).values() if "pending" in t]
    translation_forms = {
        rows["pending"].id: ReasonForm(formdata=None, prefix=f"translation-{rows['pending'].id}") for rows in waiting
    }
    translation_forms.update(failed_translation)
    return (
        render_template(
            "admin/petition.html",
            petition=petition,
            revision=revision,
            translations_waiting=waiting,
            translation_forms=translation_forms,
            changes=revision.changes(petition) if revision is not None else [],
            live_image=images.live_image(petition),
            pending_image=images.pending_image(petition),
            reports=filed,
            history=history,
            now=utcnow(),
            failed=next(iter(forms.values()), None),
            **context,
        ),
        status,
    )


@bp.get("/petitions/<slug>")
def petition(slug: str) -> Page:
    """A petition as moderators see it: status, reason, reports, history, and what can be done."""
    return _render_petition(petition_or_404(slug))


def _done(petition: Petition, message: str) -> Response:
    db.session.commit()
    flash(message, "success")
    if request.form.get("back") == "queue":
        return redirect(url_for(".queue"), 303)
    return redirect(url_for(".petition", slug=petition.slug), 303)


def _refused(petition: Petition, form_name: str, form: Any, exc: Exception) -> Page:
    db.session.rollback()
    form.form_errors.append(_(str(exc)))  # the domain's messages are msgids, or already in the page's language
    return _render_petition(petition, 409, **{form_name: form})


def _moderate(slug: str, form_name: str, form: Any, act: Callable[[Petition, Any], str]) -> Response | Page:
    """What every moderation button does: check its form, act, commit once, go back.

    `act` moderates the petition with the form's data and returns the message to flash. A
    form with errors shows the petition's page again (422); a ModerationError (the petition
    is not in a state this applies to, say another moderator got there first) shows it with
    why, nothing changed (409).
    """
    petition = petition_or_404(slug)
    if not form.validate_on_submit():
        return _render_petition(petition, 422, **{form_name: form})
    try:
        message = act(petition, form)
    except (review.ModerationError, translations.NotTranslatable) as exc:
        return _refused(petition, form_name, form, exc)
    return _done(petition, message)


@bp.post("/petitions/<slug>/hide")
def hide(slug: str) -> Response | Page:
    """Hide a petition from the public, with a reason for its owner."""

    def act(petition: Petition, form: ReasonForm) -> str:
        review.hide(petition, actor(), reason=required_value(form.reason), now=utcnow())
        return _("The petition is hidden; its owner has been emailed the reason.")

    return _moderate(slug, "hide_form", ReasonForm(), act)


@bp.post("/petitions/<slug>/reject")
def reject(slug: str) -> Response | Page:
    """Refuse a petition waiting for approval, with a reason for its owner."""

    def act(petition: Petition, form: ReasonForm) -> str:
        review.reject(petition, actor(), reason=required_value(form.reason), now=utcnow())
        return _("The petition is rejected and hidden; its owner has been emailed the reason.")

    return _moderate(slug, "reject_form", ReasonForm(), act)


@bp.post("/petitions/<slug>/approve")
def approve(slug: str) -> Response | Page:
    """Open a petition waiting for approval."""

    def act(petition: Petition, _form: ButtonForm) -> str:
        review.approve(petition, actor(), now=utcnow())
        return _("“%(title)s” is approved and open.", title=petition.title)

    return _moderate(slug, "approve_form", ButtonForm(), act)


@bp.post("/petitions/<slug>/restore")
def restore(slug: str) -> Response | Page:
    """Show a hidden petition again, in the status it had before."""

    def act(petition: Petition, form: RestoreForm) -> str:
        status = review.restore(petition, actor(), reason=form.note.data, now=utcnow())
        return _("The petition is restored; its status is %(status)s.", status=status)

    return _moderate(slug, "restore_form", RestoreForm(), act)


@bp.post("/petitions/<slug>/reviewed")
def reviewed(slug: str) -> Response | Page:
    """Clear the "edited since review" flag of a petition read as it is now (MODERATION=post)."""

    def act(petition: Petition, _form: ButtonForm) -> str:
        review.mark_reviewed(petition, actor(), now=utcnow())
        return _("The petition is marked as reviewed.")

    return _moderate(slug, "reviewed_form", ButtonForm(), act)


def _revision_or_404(revision_id: int) -> PetitionRevision:
    revision = db.session.get(PetitionRevision, revision_id)
    if revision is None:
        abort(404)
    return revision


@bp.post("/revisions/<int:revision_id>/approve")
def approve_revision(revision_id: int) -> Response | Page:
    """Apply a proposed change to a public petition's text (MODERATION=pre)."""
    revision = _revision_or_404(revision_id)

    def act(petition: Petition, _form: ButtonForm) -> str:
        revisions.approve_revision(revision, actor(), now=utcnow())
        return _("The change is approved: the petition now reads as proposed.")

    return _moderate(revision.petition.slug, "approve_edit_form", ButtonForm(), act)


@bp.post("/revisions/<int:revision_id>/reject")
def reject_revision(revision_id: int) -> Response | Page:
    """Discard a proposed change with a reason for the owner; the petition keeps its text."""
    revision = _revision_or_404(revision_id)

    def act(petition: Petition, form: ReasonForm) -> str:
        revisions.reject_revision(revision, actor(), reason=required_value(form.reason), now=utcnow())
        return _("The change is rejected; its owner has been emailed the reason.")

    return _moderate(revision.petition.slug, "reject_edit_form", ReasonForm(), act)


def _translation_or_404(translation_id: int) -> PetitionTranslation:
    row = db.session.get(PetitionTranslation, translation_id)
    if row is None:
        abort(404)
    return row


@bp.post("/translations/<int:translation_id>/approve")
def approve_translation(translation_id: int) -> Response | Page:
    """Publish a translation waiting for review (MODERATION=pre): its language's readers see it from now on."""
    row = _translation_or_404(translation_id)

    def act(petition: Petition, _form: ButtonForm) -> str:
        translations.approve(row, actor(), now=utcnow())
        return _("The translation is approved: readers of that language now see it.")

    return _moderate(row.petition.slug, "approve_edit_form", ButtonForm(), act)


@bp.post("/translations/<int:translation_id>/reject")
def reject_translation(translation_id: int) -> Response | Page:
    """Turn a translation down with a reason its campaigner sees; readers keep what they had."""
    row = _translation_or_404(translation_id)
    form = ReasonForm(prefix=f"translation-{row.id}")
    petition = row.petition
    if not form.validate_on_submit():
        return _render_petition(petition, 422, translation_forms={row.id: form})
    try:
        translations.reject(row, actor(), reason=review.reason_text(required_value(form.reason)), now=utcnow())
    except (review.ModerationError, translations.NotTranslatable) as exc:
        db.session.rollback()
        form.form_errors.append(_(str(exc)))
        return _render_petition(petition, 409, translation_forms={row.id: form})
    return _done(petition, _("The translation is turned down; its campaigner sees the reason."))


def _image_or_404(image_id: int) -> PetitionImage:
    image = db.session.get(PetitionImage, image_id)
    if image is None:
        abort(404)
    return image


@bp.post("/images/<int:image_id>/approve")
def approve_image(image_id: int) -> Response | Page:
    """Show a new picture of a public petition that waited for review (MODERATION=pre)."""
    image = _image_or_404(image_id)
    replaced: list[str] = []

    def act(petition: Petition, _form: ButtonForm) -> str:
        replaced.extend(image_review.approve_image(image, actor(), now=utcnow()))
        return _("The picture is approved: the petition shows it now.")

    answer = _moderate(image.petition.slug, "approve_image_form", ButtonForm(), act)
    images.discard_unused(upload_folder(), replaced)
    return answer


@bp.post("/images/<int:image_id>/reject")
def reject_image(image_id: int) -> Response | Page:
    """Refuse a new picture with a reason for the owner; the petition keeps what it showed."""
    image = _image_or_404(image_id)
    key = image.key

    def act(petition: Petition, form: ReasonForm) -> str:
        image_review.reject_image(image, actor(), reason=required_value(form.reason), now=utcnow())
        return _("The picture is rejected; its owner has been emailed the reason.")

    answer = _moderate(image.petition.slug, "reject_image_form", ReasonForm(prefix="image"), act)
    images.discard_unused(upload_folder(), [key])
    return answer


# --- the pre-moderation queue -----------------------------------------------------------------


@bp.get("/queue")
def queue() -> str:
    """Petitions waiting for approval, then changes to public petitions waiting for review; oldest first."""
    page = db.paginate(review.pending_petitions(), per_page=PER_PAGE, error_out=False)
    proposed = db.session.scalars(revisions.pending_revisions().limit(PER_PAGE)).unique().all()
    return render_template(
        "admin/queue.html",
        page=page,
        revisions=proposed,
        revision_total=revisions.pending_revision_total(),
        images=db.session.scalars(image_review.pending_images().limit(PER_PAGE)).unique().all(),
        approve_form=ButtonForm(formdata=None),
        moderation_mode=current_app.config["MODERATION"],
    )
