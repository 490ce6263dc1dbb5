"""Admin views of blocked email domains and networks, and of what is trending toward a block."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from petitions.clock import utcnow
from petitions.extensions import db
from petitions.models import BlockedDomain, BlockedNetwork
from petitions.moderation import blocks
from petitions.web.admin import bp
from petitions.web.admin.common import Page, actor
from petitions.web.admin.forms import BlockForm
from petitions.web.fields import required_value
from petitions.web.forms import ButtonForm


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
                row = blocks.block_network(value, actor(), reason=required_value(form.reason), now=utcnow())
                what = row.cidr
            else:
                row = blocks.block_domain(value, actor(), reason=required_value(form.reason), now=utcnow())
                what = row.domain
        except blocks.BlockError as exc:
            db.session.rollback()
            form.value.errors = [str(exc)]
            status = 422
        else:
            db.session.commit()
            flash(_("%(what)s is blocked: its signatures are now kept as suspected.", what=what), "success")
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
        blocks.unblock(row, actor(), now=utcnow())
        db.session.commit()
        flash(_("The block is lifted."), "success")
    return redirect(url_for(".blocks_page"), 303)


@bp.get("/trending")
def trending() -> str:
    """Petitions receiving unusually many signatures from one network or one email domain in the last hour."""
    return render_template("admin/trending.html", rows=blocks.trending(now=utcnow()))
