"""What the campaigner's and the administrator's webhook pages share: adding an endpoint from the form."""

from __future__ import annotations

from flask import current_app

from petitions.clock import utcnow
from petitions.extensions import db
from petitions.web.forms import WebhookForm
from petitions.webhooks import endpoints


def add_from(form: WebhookForm, *, petition_id: int | None, owner_id: int) -> int | None:
    """Register the endpoint a submitted form describes, for one petition or (None) the whole site.

    Returns None when it is added and committed; otherwise the status of the page to show again
    with the form: 200 when nothing was submitted, 422 when the form or the address was refused
    (the reason on the form's url field, nothing stored).
    """
    if not form.validate_on_submit():
        return 422 if form.is_submitted() else 200
    try:
        endpoints.register(
            form.url.data or "",
            list(form.events.data or []),
            petition_id=petition_id,
            owner_id=owner_id,
            now=utcnow(),
            allow_private=current_app.config["WEBHOOK_ALLOW_PRIVATE"],
        )
    except endpoints.BadEndpoint as exc:
        db.session.rollback()
        form.url.errors = [str(exc)]
        return 422
    db.session.commit()
    return None
