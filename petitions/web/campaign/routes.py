"""Views of starting and managing a petition: create, edit, close, reopen, updates to signers, supporter groups."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

from petitions.campaigns import groups, lifecycle, updates
from petitions.clock import utcnow
from petitions.extensions import db
from petitions.extensions import lazy_text as _l
from petitions.models import Petition, PetitionUpdate, SupporterGroup
from petitions.web.campaign import bp
from petitions.web.campaign.forms import GroupForm, PetitionForm, UpdateForm
from petitions.web.fields import required_value
from petitions.web.forms import ButtonForm
from petitions.web.pages import limit
from petitions.web.queries import can_manage, visible_petition_or_404


def _petition_data(form: PetitionForm) -> lifecycle.PetitionData:
    return lifecycle.PetitionData(
        title=required_value(form.title),
        target=required_value(form.target),
        summary=required_value(form.summary),
        body=required_value(form.body),
        goal=required_value(form.goal),
        closes_at=form.closes_at_utc(),
        auto_raise_goal=bool(form.auto_raise_goal.data),
        ask_organisation=required_value(form.ask_organisation),
        ask_job_title=required_value(form.ask_job_title),
    )


@bp.route("/petitions/new", methods=["GET", "POST"])
@login_required
@limit("RATELIMIT_CREATE_PETITION")
def new_petition() -> Response | tuple[str, int] | str:
    """Start a petition: open at once when the campaigner's email is confirmed (MODERATION=post)."""
    form = PetitionForm()
    if not form.validate_on_submit():
        return render_template("campaign/edit.html", form=form, petition=None), (
            422 if request.method == "POST" else 200
        )
    petition = lifecycle.create_petition(
        current_user, _petition_data(form), now=utcnow(), moderation=current_app.config["MODERATION"]
    )
    # Taken to be written in the language of the page it was written on; its translations page changes it.
    petition.language = str(get_locale())
    db.session.commit()
    if petition.status == "draft":
        flash(_("Saved. Confirm your email address (see your inbox) and the petition opens at once."), "info")
    elif petition.status == "pending":
        flash(_("Saved. The petition opens once a moderator has approved it."), "info")
    else:
        flash(_("Your petition is open. Share its link!"), "success")
    return redirect(url_for("public.petition", slug=petition.slug), 303)


@bp.route("/petitions/<slug>/edit", methods=["GET", "POST"])
@login_required
def edit_petition(slug: str) -> Response | tuple[str, int] | str:
    """Edit a petition's text, goal and closing date; under MODERATION=pre a public petition's new
    text waits for review."""
    petition = _managed_or_403(slug)
    pending = lifecycle.pending_revision(petition)
    latest = pending or lifecycle.latest_revision(petition)
    rejected = latest if latest is not None and latest.status == "rejected" else None
    form = PetitionForm(obj=petition if request.method == "GET" else None)
    if request.method == "GET":
        if pending is not None:  # the owner goes on from what they proposed
            for name in ("title", "target", "summary", "body"):
                getattr(form, name).data = getattr(pending, name)
        if petition.closes_at is not None:
            form.closes_at.data = petition.closes_at.date()

    def page(status: int, locked: bool) -> tuple[str, int]:
        return render_template(
            "campaign/edit.html",
            form=form,
            petition=petition,
            locked=locked,
            pending=pending,
            rejected=rejected,
            reviewed_first=current_app.config["MODERATION"] == "pre" and petition.opened_at is not None,
        ), status

    if not form.validate_on_submit():
        return page(422 if request.method == "POST" else 200, lifecycle.has_signatures(petition))
    try:
        waits = lifecycle.update_petition(
            petition,
            _petition_data(form),
            now=utcnow(),
            moderation=current_app.config["MODERATION"],
            editor=current_user._get_current_object(),
        )
    except lifecycle.FieldsLocked as exc:
        db.session.rollback()
        for name in exc.fields:
            getattr(form, name).errors = [LOCKED_MESSAGE]
        return page(422, True)
    db.session.commit()
    if waits:
        flash(
            _(
                "Your new text waits for a moderator; until it is approved, the petition shows the text approved"
                " before. Changes to the goal and the closing date are saved."
            ),
            "info",
        )
    else:
        flash(_("Your changes are saved."), "success")
    return redirect(url_for("public.petition", slug=petition.slug), 303)


LOCKED_MESSAGE = _l("This cannot change any more: people have signed the petition as it is.")


def _managed_or_403(slug: str) -> Petition:
    petition = visible_petition_or_404(slug)
    if not can_manage(petition):
        abort(403)
    return petition


@bp.post("/petitions/<slug>/close")
@login_required
def close_petition(slug: str) -> Response:
    """Close a petition early."""
    petition = _managed_or_403(slug)
    if ButtonForm().validate_on_submit():
        try:
            lifecycle.close_petition(petition, now=utcnow())
            db.session.commit()
            flash(
                _(
                    "The petition is closed: it takes no more signatures."
                    " Signatures made before now can still be confirmed."
                ),
                "success",
            )
        except lifecycle.CannotChangeStatus as exc:
            db.session.rollback()
            flash(str(exc), "error")
    return redirect(url_for("public.petition", slug=petition.slug), 303)


@bp.post("/petitions/<slug>/reopen")
@login_required
def reopen_petition(slug: str) -> Response:
    """Reopen a petition closed early, before its closing date."""
    petition = _managed_or_403(slug)
    if ButtonForm().validate_on_submit():
        try:
            lifecycle.reopen_petition(petition, now=utcnow())
            db.session.commit()
            flash(_("The petition is open again."), "success")
        except lifecycle.CannotChangeStatus as exc:
            db.session.rollback()
            flash(str(exc), "error")
    return redirect(url_for("public.petition", slug=petition.slug), 303)


@bp.route("/account/petitions/<slug>/updates", methods=["GET", "POST"])
@login_required
def petition_updates(slug: str) -> Response | tuple[str, int]:
    """Email the signers who asked for updates; the list of updates sent."""
    petition = _managed_or_403(slug)
    form = UpdateForm()
    if form.validate_on_submit():
        if not petition.is_public():
            flash(_("Updates can be sent once the petition is public."), "error")
            return redirect(url_for(".petition_updates", slug=slug), 303)
        update = updates.create_update(
            petition, current_user, subject=required_value(form.subject), body=required_value(form.body), now=utcnow()
        )
        db.session.commit()
        flash(_("Your update “%(subject)s” is being sent.", subject=update.subject), "success")
        return redirect(url_for(".petition_updates", slug=slug), 303)
    sent = db.session.scalars(
        select(PetitionUpdate).where(PetitionUpdate.petition_id == petition.id).order_by(PetitionUpdate.id.desc())
    ).all()
    return render_template(
        "campaign/updates.html",
        petition=petition,
        form=form,
        sent=sent,
        recipients=updates.recipient_count(petition),
    ), (422 if request.method == "POST" else 200)


@bp.route("/account/petitions/<slug>/groups", methods=["GET", "POST"])
@login_required
def petition_groups(slug: str) -> Response | tuple[str, int]:
    """Supporter groups of a petition: add one, see their counts."""
    petition = _managed_or_403(slug)
    form = GroupForm()
    if form.validate_on_submit():
        try:
            domains = groups.parse_domains(required_value(form.domains))
            group = groups.save_group(petition, name=required_value(form.name), domains=domains, now=utcnow())
        except groups.GroupError as exc:
            db.session.rollback()
            form.domains.errors = [str(exc)]
        else:
            db.session.commit()
            flash(
                ngettext(
                    "The group “%(name)s” counts %(num)s confirmed signatures so far.",
                    "The group “%(name)s” counts %(num)s confirmed signatures so far.",
                    group.signature_count,
                    name=group.name,
                ),
                "success",
            )
            return redirect(url_for(".petition_groups", slug=slug), 303)
    return render_template("campaign/groups.html", petition=petition, form=form, delete_form=ButtonForm()), (
        422 if request.method == "POST" else 200
    )


@bp.post("/account/petitions/<slug>/groups/<int:group_id>/delete")
@login_required
def delete_group(slug: str, group_id: int) -> Response:
    """Remove a supporter group."""
    petition = _managed_or_403(slug)
    group = db.session.get(SupporterGroup, group_id)
    if group is None or group.petition_id != petition.id:
        abort(404)
    if ButtonForm().validate_on_submit():
        groups.delete_group(group)
        db.session.commit()
        flash(_("The group is removed."), "success")
    return redirect(url_for(".petition_groups", slug=slug), 303)
