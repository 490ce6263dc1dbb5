"""Look-ups shared by the blueprints."""

from __future__ import annotations

from datetime import datetime

from flask import abort
from flask_login import current_user
from sqlalchemy import Select, and_, not_, or_, select

from .clock import utcnow
from .extensions import db
from .models import Petition


def can_manage(petition: Petition) -> bool:
    """True when the signed-in user owns the petition or is an administrator."""
    if not current_user.is_authenticated:
        return False
    return bool(current_user.is_admin or petition.owner_id == current_user.id)


def visible_petition_or_404(slug: str) -> Petition:
    """The petition if the current visitor may see it: public ones to all, others to their owner and admins."""
    petition = db.session.scalar(select(Petition).where(Petition.slug == slug))
    if petition is None or not (petition.is_public() or can_manage(petition)):
        abort(404)
    return petition


def public_petition_or_404(slug: str) -> Petition:
    """A petition the public may see (open or closed), or a 404 (JSON under /api/)."""
    petition = db.session.scalar(select(Petition).where(Petition.slug == slug))
    if petition is None or not petition.is_public():
        abort(404, description="No petition has that slug.")
    return petition


def public_petitions(
    q: str | None = None, sort: str = "popular", status: str | None = "open", *, now: datetime | None = None
) -> Select:
    """A query for the petitions the public may list (by status as the public sees it), searched and sorted."""
    now = now or utcnow()
    still_open = and_(Petition.status == "open", or_(Petition.closes_at.is_(None), Petition.closes_at > now))
    if status == "open":
        stmt = select(Petition).where(still_open)
    elif status == "closed":
        stmt = select(Petition).where(or_(Petition.status == "closed", and_(Petition.status == "open", not_(still_open))))
    else:
        stmt = select(Petition).where(Petition.status.in_(("open", "closed")))
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                Petition.title.ilike(like, escape="\\"),
                Petition.summary.ilike(like, escape="\\"),
                Petition.target.ilike(like, escape="\\"),
            )
        )
    if sort == "new":
        return stmt.order_by(Petition.created_at.desc(), Petition.id.desc())
    return stmt.order_by(Petition.signature_count.desc(), Petition.created_at.desc(), Petition.id.desc())
