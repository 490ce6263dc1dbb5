"""Site-wide webhook endpoints: they receive every petition's events."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from petitions.extensions import db
from petitions.models import WebhookEndpoint
from petitions.web import webhook_views
from petitions.web.admin import bp
from petitions.web.admin.common import Page, actor
from petitions.web.forms import ButtonForm, WebhookForm
from petitions.webhooks import endpoints


@bp.route("/webhooks", methods=["GET", "POST"])
def webhooks() -> Response | Page:
    """The site-wide endpoints and the form to add one."""
    form = WebhookForm()
    status = webhook_views.add_from(form, petition_id=None, owner_id=actor().id)
    if status is None:
        flash(_("The endpoint is added."), "success")
        return redirect(url_for("admin.webhooks"), 303)
    page = render_template("admin/webhooks.html", endpoints=endpoints.of(None), form=form, button_form=ButtonForm())
    return page, status


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.petition_id is not None:
        abort(404)
    if not ButtonForm().validate_on_submit():
        abort(400)
    return endpoint


@bp.post("/webhooks/<int:endpoint_id>/remove")
def remove_webhook(endpoint_id: int) -> Response:
    """Remove a site-wide endpoint."""
    endpoints.remove(_endpoint(endpoint_id))
    db.session.commit()
    flash(_("The endpoint is removed."), "success")
    return redirect(url_for("admin.webhooks"), 303)


@bp.post("/webhooks/<int:endpoint_id>/enable")
def enable_webhook(endpoint_id: int) -> Response:
    """Turn a disabled site-wide endpoint back on."""
    endpoints.enable(_endpoint(endpoint_id))
    db.session.commit()
    flash(_("The endpoint is on again."), "success")
    return redirect(url_for("admin.webhooks"), 303)
