"""The admin view of the audit log: every administrator action."""

from __future__ import annotations

from flask import render_template

from petitions.extensions import db
from petitions.models import Petition
from petitions.moderation import audit
from petitions.web.admin import bp
from petitions.web.admin.common import PER_PAGE, by_id


@bp.get("/audit")
def audit_log() -> str:
    """Every administrator action, newest first."""
    page = db.paginate(audit.entries(), per_page=PER_PAGE, error_out=False)
    return render_template(
        "admin/audit.html",
        page=page,
        petitions=by_id(Petition, (e.target_id for e in page.items if e.target_type == "petition")),
    )
