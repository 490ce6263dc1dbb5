"""Views of the admin pages: thin, they validate, call moderation or invalidation, commit once, redirect."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from petitions.campaigns import lifecycle
from petitions.clock import utcnow
from petitions.extensions import db
from petitions.models import (
    STATUSES,
    BlockedDomain,
    BlockedNetwork,
    Invalidation,
    Petition,
    PetitionRevision,
    Report,
    User,
)
from petitions.moderation import abuse, audit, blocks, invalidation, review, revisions
from petitions.moderation import reports as moderation_reports
from petitions.web.admin import bp
from petitions.web.admin.forms import (
    BlockForm,
    ButtonForm,
    InvalidateForm,
    PetitionFilterForm,
    ReasonForm,
    ResolveReportForm,
    RestoreForm,
    ReverseForm,
    SignatureSearchForm,
)
from petitions.web.fields import required_value
from petitions.web.security import echo_limit

PER_PAGE = 50

Page = tuple[str, int]


def _actor() -> User:
    user: User = current_user._get_current_object()
    return user


def _by_id(model: Any, ids: Iterable[int | None]) -> dict[int, Any]:
    """Rows of a model by id, in one query: lists show related rows without a query per line."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows: Iterable[Any] = db.session.scalars(select(model).where(model.id.in_(wanted)))
    return {row.id: row for row in rows}


def _petition_or_404(slug: str) -> Petition:
    petition = db.session.scalar(select(Petition).where(Petition.slug == slug))
    if petition is None:
        abort(404)
    return petition


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
        open_reports=moderation_reports.open_report_total(),
        pending_revisions=revisions.pending_revision_total(),
        edited_total=review.edited_total(),
        report_counts=moderation_reports.open_report_counts(p.id for p in page.items),
        moderation_mode=current_app.config["MODERATION"],
        now=utcnow(),
    )


# --- one petition: hide, restore, approve, reject ---------------------------------------------


def _render_petition(petition: Petition, status: int = 200, **forms: Any) -> Page:
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
        **forms,
    }
    revision = lifecycle.pending_revision(petition)
    return (
        render_template(
            "admin/petition.html",
            petition=petition,
            revision=revision,
            changes=revision.changes(petition) if revision is not None else [],
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
    return _render_petition(_petition_or_404(slug))


def _done(petition: Petition, message: str) -> Response:
    db.session.commit()
    flash(message, "success")
    if request.form.get("back") == "queue":
        return redirect(url_for(".queue"), 303)
    return redirect(url_for(".petition", slug=petition.slug), 303)


def _refused(petition: Petition, form_name: str, form: Any, exc: Exception) -> Page:
    db.session.rollback()
    form.form_errors.append(str(exc))
    return _render_petition(petition, 409, **{form_name: form})


def _moderate(slug: str, form_name: str, form: Any, act: Callable[[Petition, Any], str]) -> Response | Page:
    """What every moderation button does: check its form, act, commit once, go back.

    `act` moderates the petition with the form's data and returns the message to flash. A
    form with errors shows the petition's page again (422); a ModerationError (the petition
    is not in a state this applies to, say another moderator got there first) shows it with
    why, nothing changed (409).
    """
    petition = _petition_or_404(slug)
    if not form.validate_on_submit():
        return _render_petition(petition, 422, **{form_name: form})
    try:
        message = act(petition, form)
    except review.ModerationError as exc:
        return _refused(petition, form_name, form, exc)
    return _done(petition, message)


@bp.post("/petitions/<slug>/hide")
def hide(slug: str) -> Response | Page:
    """Hide a petition from the public, with a reason for its owner."""

    def act(petition: Petition, form: ReasonForm) -> str:
        review.hide(petition, _actor(), reason=required_value(form.reason), now=utcnow())
        return "The petition is hidden; its owner has been emailed the reason."

    return _moderate(slug, "hide_form", ReasonForm(), act)


@bp.post("/petitions/<slug>/reject")
def reject(slug: str) -> Response | Page:
    """Refuse a petition waiting for approval, with a reason for its owner."""

    def act(petition: Petition, form: ReasonForm) -> str:
        review.reject(petition, _actor(), reason=required_value(form.reason), now=utcnow())
        return "The petition is rejected and hidden; its owner has been emailed the reason."

    return _moderate(slug, "reject_form", ReasonForm(), act)


@bp.post("/petitions/<slug>/approve")
def approve(slug: str) -> Response | Page:
    """Open a petition waiting for approval."""

    def act(petition: Petition, _form: ButtonForm) -> str:
        review.approve(petition, _actor(), now=utcnow())
        return f"“{petition.title}” is approved and open."

    return _moderate(slug, "approve_form", ButtonForm(), act)


@bp.post("/petitions/<slug>/restore")
def restore(slug: str) -> Response | Page:
    """Show a hidden petition again, in the status it had before."""

    def act(petition: Petition, form: RestoreForm) -> str:
        status = review.restore(petition, _actor(), reason=form.note.data, now=utcnow())
        return f"The petition is restored; its status is {status}."

    return _moderate(slug, "restore_form", RestoreForm(), act)


@bp.post("/petitions/<slug>/reviewed")
def reviewed(slug: str) -> Response | Page:
    """Clear the "edited since review" flag of a petition read as it is now (MODERATION=post)."""

    def act(petition: Petition, _form: ButtonForm) -> str:
        review.mark_reviewed(petition, _actor(), now=utcnow())
        return "The petition is marked as reviewed."

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
        revisions.approve_revision(revision, _actor(), now=utcnow())
        return "The change is approved: the petition now reads as proposed."

    return _moderate(revision.petition.slug, "approve_edit_form", ButtonForm(), act)


@bp.post("/revisions/<int:revision_id>/reject")
def reject_revision(revision_id: int) -> Response | Page:
    """Discard a proposed change with a reason for the owner; the petition keeps its text."""
    revision = _revision_or_404(revision_id)

    def act(petition: Petition, form: ReasonForm) -> str:
        revisions.reject_revision(revision, _actor(), reason=required_value(form.reason), now=utcnow())
        return "The change is rejected; its owner has been emailed the reason."

    return _moderate(revision.petition.slug, "reject_edit_form", ReasonForm(), act)


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
        approve_form=ButtonForm(formdata=None),
        moderation_mode=current_app.config["MODERATION"],
    )


# --- reports ----------------------------------------------------------------------------------


REPORT_STATES = ("open", "resolved", "all")


@bp.get("/reports")
def reports() -> str:
    """Reports from the public: the open ones first and oldest first, like a queue."""
    state = request.args.get("state", "open")
    if state not in REPORT_STATES:
        state = "open"
    page = db.paginate(moderation_reports.reports(state), per_page=PER_PAGE, error_out=False)
    return render_template(
        "admin/reports.html",
        page=page,
        state=state,
        petitions=_by_id(Petition, (r.petition_id for r in page.items)),
        reasons=moderation_reports.REPORT_REASONS,
    )


def _report_or_404(report_id: int) -> Report:
    report = db.session.get(Report, report_id)
    if report is None:
        abort(404)
    return report


def _render_report(report: Report, form: ResolveReportForm, status: int = 200) -> Page:
    petition = db.session.get(Petition, report.petition_id)
    resolver = db.session.get(User, report.resolved_by_id) if report.resolved_by_id else None
    others = moderation_reports.open_report_counts([report.petition_id]).get(report.petition_id, 0)
    return (
        render_template(
            "admin/report.html",
            report=report,
            petition=petition,
            resolver=resolver,
            open_on_petition=others,
            form=form,
            reasons=moderation_reports.REPORT_REASONS,
        ),
        status,
    )


@bp.route("/reports/<int:report_id>", methods=["GET", "POST"])
def report(report_id: int) -> Response | Page:
    """One report, and the form that resolves it: dismiss, or hide the petition."""
    report = _report_or_404(report_id)
    form = ResolveReportForm()
    if request.method == "GET":
        return _render_report(report, form)
    if not form.validate_on_submit():
        return _render_report(report, form, 422)
    try:
        resolved = moderation_reports.resolve_report(
            report, _actor(), resolution=required_value(form.resolution), note=required_value(form.note), now=utcnow()
        )
    except review.ModerationError as exc:
        db.session.rollback()
        form.form_errors.append(str(exc))
        return _render_report(report, form, 409)
    db.session.commit()
    if form.resolution.data == "hide":
        flash(f"The petition is hidden and {len(resolved)} report(s) about it are resolved.", "success")
    else:
        flash("The report is dismissed.", "success")
    return redirect(url_for(".reports"), 303)


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
            crit, _actor(), reason=required_value(form.reason), now=utcnow(), expected=form.expected.data
        )
    except invalidation.InvalidationError as exc:
        db.session.rollback()
        message = str(exc)
        if isinstance(exc, invalidation.PreviewOutdated):
            message += " Nothing was changed: check the new numbers and confirm again."
        form.form_errors.append(message)
        return _render_signatures(form, _criteria(form), form, 409)
    db.session.commit()
    flash(f"{batch.signature_count} signature(s) invalidated. The counts are updated.", "success")
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
        petitions=_by_id(Petition, (b.petition_id for b in page.items)),
        users=_by_id(User, [u for b in page.items for u in (b.actor_id, b.reversed_by_id)]),
    )


def _batch_or_404(batch_id: int) -> Invalidation:
    batch = db.session.get(Invalidation, batch_id)
    if batch is None:
        abort(404)
    return batch


def _render_batch(batch: Invalidation, form: ReverseForm, status: int = 200) -> Page:
    users = _by_id(User, (batch.actor_id, batch.reversed_by_id))
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
        n = invalidation.reverse(batch, _actor(), reason=required_value(form.reason), now=utcnow())
    except invalidation.InvalidationError as exc:
        db.session.rollback()
        form.form_errors.append(str(exc))
        return _render_batch(batch, form, 409)
    db.session.commit()
    flash(f"Reversed: {n} signature(s) are valid again. The counts are updated.", "success")
    return redirect(url_for(".invalidation_detail", batch_id=batch_id), 303)


# --- the audit log ----------------------------------------------------------------------------


@bp.get("/audit")
def audit_log() -> str:
    """Every administrator action, newest first."""
    page = db.paginate(audit.entries(), per_page=PER_PAGE, error_out=False)
    return render_template(
        "admin/audit.html",
        page=page,
        petitions=_by_id(Petition, (e.target_id for e in page.items if e.target_type == "petition")),
    )


@bp.route("/blocks", methods=["GET", "POST"])
def blocks_page() -> Response | Page:
    """Blocked email domains and networks: list, add."""
    form = BlockForm()
    status = 200
    if form.validate_on_submit():
        value = required_value(form.value)
        row: BlockedDomain | BlockedNetwork
        try:
            if any(ch == "/" for ch in value) or value.replace(".", "").replace(":", "").isdigit() or ":" in value:
                row = blocks.block_network(value, _actor(), reason=required_value(form.reason), now=utcnow())
                what = row.cidr
            else:
                row = blocks.block_domain(value, _actor(), reason=required_value(form.reason), now=utcnow())
                what = row.domain
        except blocks.BlockError as exc:
            db.session.rollback()
            form.value.errors = [str(exc)]
            status = 422
        else:
            db.session.commit()
            flash(f"{what} is blocked: its signatures are now kept as suspected.", "success")
            return redirect(url_for(".blocks_page"), 303)
    elif request.method == "POST":
        status = 422
    domains = db.session.scalars(select(BlockedDomain).order_by(BlockedDomain.domain)).all()
    networks = db.session.scalars(select(BlockedNetwork).order_by(BlockedNetwork.cidr)).all()
    return render_template(
        "admin/blocks.html", form=form, domains=domains, networks=networks, remove_form=ButtonForm()
    ), status


@bp.post("/blocks/<kind>/<int:block_id>/remove")
def unblock(kind: str, block_id: int) -> Response:
    """Lift a block."""
    model = {"domain": BlockedDomain, "network": BlockedNetwork}.get(kind)
    row = db.session.get(model, block_id) if model else None
    if not isinstance(row, BlockedDomain | BlockedNetwork):  # None: no such block
        abort(404)
    if ButtonForm().validate_on_submit():
        blocks.unblock(row, _actor(), now=utcnow())
        db.session.commit()
        flash("The block is lifted.", "success")
    return redirect(url_for(".blocks_page"), 303)


@bp.get("/trending")
def trending() -> str:
    """Petitions receiving unusually many signatures from one network or one email domain in the last hour."""
    return render_template("admin/trending.html", rows=blocks.trending(now=utcnow()))
