"""Admin view of paper signatures: rejecting a batch, with a reason, in the audit log."""

from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from petitions.campaigns import paper
from petitions.clock import utcnow
from petitions.extensions import db
from petitions.models import PaperBatch
from petitions.web.admin import bp
from petitions.web.admin.common import actor, petition_or_404
from petitions.web.admin.forms import PaperRejectForm
from petitions.web.fields import required_value


@bp.post("/petitions/<slug>/paper/<int:batch_id>/reject")
def reject_paper_batch(slug: str, batch_id: int) -> Response:
    """Reject a batch: it stops counting toward the paper count; the campaigner sees why."""
    petition = petition_or_404(slug)
    batch = db.session.get(PaperBatch, batch_id)
    if batch is None or batch.petition_id != petition.id:
        abort(404)
    form = PaperRejectForm()
    if not form.validate_on_submit():
        flash(" ".join(str(e) for errors in form.errors.values() for e in errors), "error")
    else:
        try:
            paper.reject_batch(batch, actor(), reason=required_value(form.reason), now=utcnow())
        except paper.PaperError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(_("The batch is rejected: it no longer counts."), "success")
    return redirect(url_for("campaign.paper_batches", slug=slug), 303)
