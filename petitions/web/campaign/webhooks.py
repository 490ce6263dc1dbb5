"""A campaigner's webhook endpoints for their petition: list, add, turn back on, remove."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from petitions.extensions import db
from petitions.models import WebhookEndpoint
from petitions.web import webhook_views
from petitions.web.campaign import bp
from petitions.web.campaign.dashboard import managed_or_abort
from petitions.web.forms import ButtonForm, WebhookForm
from petitions.webhooks import endpoints


@bp.route("/petitions/<slug>/webhooks", methods=["GET", "POST"])
@login_required
def webhooks(slug: str) -> Response | tuple[str, int]:
    """The petition's endpoints and the form to add one."""
    petition = managed_or_abort(slug)
    form = WebhookForm()
    status = webhook_views.add_from(form, petition_id=petition.id, owner_id=current_user.id)
    if status is None:
        flash(_("The endpoint is added. Copy its secret to check the signatures."), "success")
        return redirect(url_for("campaign.webhooks", slug=slug), 303)
    page = render_template(
        "campaign/webhooks.html",
        petition=petition,
        endpoints=endpoints.of(petition.id),
        form=form,
        button_form=ButtonForm(),
    )
    return page, status


def _endpoint(slug: str, endpoint_id: int) -> WebhookEndpoint:
    petition = managed_or_abort(slug)
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.petition_id != petition.id or not ButtonForm().validate_on_submit():
        abort(404 if endpoint is None or endpoint.petition_id != petition.id else 400)
    return endpoint


@bp.post("/petitions/<slug>/webhooks/<int:endpoint_id>/remove")
@login_required
def remove_webhook(slug: str, endpoint_id: int) -> Response:
    """Remove an endpoint; what waited for it is not sent."""
    endpoints.remove(_endpoint(slug, endpoint_id))
    db.session.commit()
    flash(_("The endpoint is removed."), "success")
    return redirect(url_for("campaign.webhooks", slug=slug), 303)


@bp.post("/petitions/<slug>/webhooks/<int:endpoint_id>/enable")
@login_required
def enable_webhook(slug: str, endpoint_id: int) -> Response:
    """Turn a disabled endpoint back on; what waited for it is sent."""
    endpoints.enable(_endpoint(slug, endpoint_id))
    db.session.commit()
    flash(_("The endpoint is on again."), "success")
    return redirect(url_for("campaign.webhooks", slug=slug), 303)
