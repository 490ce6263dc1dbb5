"""Admin views of signatures: find and preview them, invalidate them with a reason, and the batches
that did it (each one reversible)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.wrappers import Response

from petitions.clock import utcnow
from petitions.extensions import db
from petitions.models import Invalidation, Petition, User
from petitions.moderation import abuse, audit, invalidation
from petitions.web.admin import bp
from petitions.web.admin.common import PER_PAGE, Page, actor, by_id
from petitions.web.admin.forms import InvalidateForm, ReverseForm, SignatureSearchForm
from petitions.web.fields import required_value
from petitions.web.security import echo_limit

# --- signatures: find, preview, invalidate ----------------------------------------------------


def _criteria(form: SignatureSearchForm) -> invalidation.Criteria | None:
    """The criteria of a validated form, or None with the problem put next to its field."""
    try:
        return invalidation.criteria(
            slug=form.petition.data,
            domain=form.domain.data,
            network=form.network.data,
            created_from=form.utc(form.created_from.data),
            created_before=form.utc(form.created_before.data),
        )
    except invalidation.InvalidCriteria as exc:
        if exc.field is not None:
            getattr(form, exc.field).errors = [*getattr(form, exc.field).errors, exc.message]
        else:
            form.form_errors.append(exc.message)
        return None


def _criteria_errors(form: SignatureSearchForm) -> bool:
    return any(f.errors for f in (form.petition, form.domain, form.network, form.created_from, form.created_before))


def _render_signatures(
    search: SignatureSearchForm,
    crit: invalidation.Criteria | None = None,
    confirm: InvalidateForm | None = None,
    status: int = 200,
) -> Page:
    found = invalidation.preview(crit) if crit is not None else None
    if found is not None and confirm is None:
        confirm = InvalidateForm(formdata=None)
    criteria_args = {  # carried over as hidden fields, never longer than each field allows
        f.name: (f.raw_data or [""])[0][: echo_limit(f)]
        for f in (search.petition, search.domain, search.network, search.created_from, search.created_before)
        if (f.raw_data or [""])[0]
    }
    return (
        render_template(
            "admin/signatures.html", search=search, preview=found, confirm=confirm, criteria_args=criteria_args
        ),
        status,
    )


@bp.get("/signatures")
def signatures() -> Page:
    """Find signatures and show how many match; nothing changes here."""
    search = SignatureSearchForm(formdata=request.args)
    if not request.args:
        return _render_signatures(search)
    if not search.validate():
        return _render_signatures(search, status=422)
    if not search.given():
        search.form_errors.append(invalidation.NO_CRITERIA)
        return _render_signatures(search, status=422)
    crit = _criteria(search)
    if crit is None:
        return _render_signatures(search, status=422)
    return _render_signatures(search, crit)


@bp.post("/signatures")
def invalidate() -> Response | Page:
    """Invalidate the signatures the preview showed, with a reason; the counts drop by those that were confirmed."""
    form = InvalidateForm()
    valid = form.validate_on_submit()
    crit = _criteria(form) if form.given() and not _criteria_errors(form) else None
    if not valid or crit is None:
        if not form.given():
            form.form_errors.append(invalidation.NO_CRITERIA)
        return _render_signatures(form, crit, form, 422)
    try:
        batch = invalidation.invalidate(
            crit, actor(), reason=required_value(form.reason), now=utcnow(), expected=form.expected.data
        )
    except invalidation.InvalidationError as exc:
        db.session.rollback()
        message = str(exc)
        if isinstance(exc, invalidation.PreviewOutdated):
            message += " " + _("Nothing was changed: check the new numbers and confirm again.")
        form.form_errors.append(message)
        return _render_signatures(form, _criteria(form), form, 409)
    db.session.commit()
    flash(
        ngettext(
            "%(num)s signature(s) invalidated. The counts are updated.",
            "%(num)s signature(s) invalidated. The counts are updated.",
            batch.signature_count,
        ),
        "success",
    )
    return redirect(url_for(".invalidation_detail", batch_id=batch.id), 303)


# --- invalidation batches ---------------------------------------------------------------------


def _batches_up_to_date() -> None:
    """Put suspected signatures into their automatic batches before showing any (see abuse.assign_suspected)."""
    if abuse.assign_suspected(now=utcnow()):
        db.session.commit()


@bp.get("/invalidations")
def invalidations() -> str:
    """Invalidation batches, newest first."""
    _batches_up_to_date()
    page = db.paginate(invalidation.batches(), per_page=PER_PAGE, error_out=False)
    return render_template(
        "admin/invalidations.html",
        page=page,
        petitions=by_id(Petition, (b.petition_id for b in page.items)),
        users=by_id(User, [u for b in page.items for u in (b.actor_id, b.reversed_by_id)]),
    )


def _batch_or_404(batch_id: int) -> Invalidation:
    batch = db.session.get(Invalidation, batch_id)
    if batch is None:
        abort(404)
    return batch


def _render_batch(batch: Invalidation, form: ReverseForm, status: int = 200) -> Page:
    users = by_id(User, (batch.actor_id, batch.reversed_by_id))
    petition = db.session.get(Petition, batch.petition_id) if batch.petition_id else None
    history = db.session.scalars(audit.entries(target_type="invalidation", target_id=batch.id)).all()
    return (
        render_template(
            "admin/invalidation.html", batch=batch, petition=petition, users=users, history=history, form=form
        ),
        status,
    )


@bp.get("/invalidations/<int:batch_id>")
def invalidation_detail(batch_id: int) -> Page:
    """One batch: what matched, why, by whom; and the form that reverses it."""
    _batches_up_to_date()
    return _render_batch(_batch_or_404(batch_id), ReverseForm(formdata=None))


@bp.post("/invalidations/<int:batch_id>/reverse")
def reverse(batch_id: int) -> Response | Page:
    """Make a batch's signatures valid again; the counts rise by those that were confirmed."""
    batch = _batch_or_404(batch_id)
    form = ReverseForm()
    if not form.validate_on_submit():
        return _render_batch(batch, form, 422)
    try:
        n = invalidation.reverse(batch, actor(), reason=required_value(form.reason), now=utcnow())
    except invalidation.InvalidationError as exc:
        db.session.rollback()
        form.form_errors.append(str(exc))
        return _render_batch(batch, form, 409)
    db.session.commit()
    flash(
        ngettext(
            "Reversed: %(num)s signature(s) are valid again. The counts are updated.",
            "Reversed: %(num)s signature(s) are valid again. The counts are updated.",
            n,
        ),
        "success",
    )
    return redirect(url_for(".invalidation_detail", batch_id=batch_id), 303)
