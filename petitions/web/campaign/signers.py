"""Views of a petition's public list of signers as its campaigner manages it: hiding and showing entries."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from petitions.campaigns import signers
from petitions.clock import utcnow
from petitions.extensions import db
from petitions.web.campaign import bp
from petitions.web.campaign.dashboard import managed_or_abort
from petitions.web.forms import ButtonForm


@bp.get("/account/petitions/<slug>/signers")
@login_required
def petition_signers(slug: str) -> str:
    """The public list as the campaigner sees it: every listable entry, the hidden ones marked, with buttons."""
    petition = managed_or_abort(slug)
    number = signers.page_number(request.args.get("page"))
    if number is None:
        abort(404)
    return render_template(
        "campaign/signers.html",
        petition=petition,
        signers=signers.page_of(petition.id, number, include_hidden=True),
        form=ButtonForm(),
    )


@bp.post("/account/petitions/<slug>/signers/<int:signature_id>/<any(hide, show):action>")
@login_required
def change_signer(slug: str, signature_id: int, action: str) -> Response:
    """Take an entry off the public list, or put it back; the signature counts either way."""
    petition = managed_or_abort(slug)
    page = signers.page_number(request.args.get("page")) or 1
    if not ButtonForm().validate_on_submit():
        abort(400)
    change = signers.hide if action == "hide" else signers.unhide
    try:
        change(petition, signature_id, current_user._get_current_object(), now=utcnow())
    except signers.NotListed:
        db.session.rollback()
        abort(404)
    db.session.commit()
    if action == "hide":
        flash(_("The entry is hidden from the public list. The signature still counts."), "success")
    else:
        flash(_("The entry is back on the public list."), "success")
    return redirect(url_for(".petition_signers", slug=petition.slug, page=page if page > 1 else None), 303)
