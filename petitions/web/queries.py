"""Look-ups shared by the blueprints."""

from __future__ import annotations

from datetime import datetime

from flask import abort, current_app
from flask_login import current_user
from sqlalchemy import Row, Select, and_, bindparam, not_, or_, select

from petitions.campaigns import signers
from petitions.clock import utcnow
from petitions.config import cache_budget
from petitions.extensions import N_, db
from petitions.infra.ttlcache import TTLCache
from petitions.models import Petition
from petitions.models.petition import PUBLIC_STATUSES, open_at


def can_manage(petition: Petition | Row) -> bool:
    """True when the signed-in user owns the petition or is an administrator."""
    if not current_user.is_authenticated:
        return False
    return bool(current_user.is_admin or petition.owner_id == current_user.id)


def _may_see(petition: Petition | Row | None) -> bool:
    return petition is not None and (petition.status in PUBLIC_STATUSES or can_manage(petition))


def visible_petition_or_404(slug: str) -> Petition:
    """The petition if the current visitor may see it: public ones to all, others to their owner and admins."""
    petition = db.session.scalar(select(Petition).where(Petition.slug == slug))
    if petition is None or not _may_see(petition):
        abort(404)
    return petition


_PETITIONS = Petition.__table__
_BRIEF = select(
    _PETITIONS.c.id,
    _PETITIONS.c.slug,
    _PETITIONS.c.title,
    _PETITIONS.c.status,
    _PETITIONS.c.closes_at,
    _PETITIONS.c.owner_id,
    _PETITIONS.c.ask_organisation,
    _PETITIONS.c.ask_job_title,
).where(_PETITIONS.c.slug == bindparam("slug"))


def _load_brief(slug: str) -> Row | None:
    return db.session.execute(_BRIEF, {"slug": slug}).first()


def visible_petition_brief_or_404(slug: str) -> Row:
    """What signing needs of a visible petition (id, slug, title, status, closes_at, owner_id, and what its
    form asks: ask_organisation, ask_job_title), as one light row.

    The same rule as visible_petition_or_404, without loading the petition's text into the
    session. Rows are kept PETITION_CACHE_SECONDS per process (a viral petition is asked for
    thousands of times a second): the caller must not trust `status` for anything that
    stores, and signing.record does not (its INSERT checks that the petition is open).
    """
    cache: TTLCache[Row | None] | None = current_app.extensions.get("petition_briefs")
    if cache is None:
        cache = current_app.extensions.setdefault(
            "petition_briefs", TTLCache(current_app.config["PETITION_CACHE_SECONDS"])
        )
    brief = cache.get(slug, _load_brief)
    if brief is None or not _may_see(brief):
        abort(404)
    return brief


def public_signers(petition_id: int, number: int) -> signers.Page:
    """A page of the petition's public list of signers, kept per process for the count's in-process
    share of COUNT_MAX_AGE (config.cache_budget): the petition page and the JSON read it on every
    view, and a list a moment behind is as good as the count beside it."""
    cache: TTLCache[signers.Page] | None = current_app.extensions.get("signer_pages")
    if cache is None:
        cache = current_app.extensions.setdefault("signer_pages", TTLCache(cache_budget(current_app.config)[0]))
    return cache.get(f"{petition_id}:{number}", lambda _key: signers.page_of(petition_id, number))


def public_petition_or_404(slug: str) -> Petition:
    """A petition the public may see (open or closed), or a 404 (JSON under /api/)."""
    petition = db.session.scalar(select(Petition).where(Petition.slug == slug))
    if petition is None or not petition.is_public():
        abort(404, description=N_("No petition has that slug."))
    return petition


def public_petitions(
    q: str | None = None, sort: str = "popular", status: str | None = "open", *, now: datetime | None = None
) -> Select:
    """A query for the petitions the public may list (by status as the public sees it), searched and sorted."""
    now = now or utcnow()
    still_open = open_at(now)
    if status == "open":
        stmt = select(Petition).where(still_open)
    elif status == "closed":
        stmt = select(Petition).where(
            or_(Petition.status == "closed", and_(Petition.status == "open", not_(still_open)))
        )
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
