"""Administrator pages: moderation, reports, signature invalidation, the audit log."""

from flask import Blueprint, abort
from flask.typing import ResponseReturnValue
from flask_login import current_user

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def require_admin() -> ResponseReturnValue | None:
    """Every admin view, every method: signed in and an administrator, checked on the server."""
    if not current_user.is_authenticated:
        from petitions.extensions import login_manager

        answer: ResponseReturnValue = login_manager.unauthorized()  # to the sign-in page
        return answer
    if not current_user.is_admin:
        abort(403)
    return None


from petitions.web.admin import (  # noqa: E402,F401  (registers the views on the blueprint)
    audit_log,
    blocks,
    moderation,
    paper,
    reports,
    signatures,
    webhooks,
)
