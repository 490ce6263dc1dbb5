"""What the admin views share: the page size, the acting administrator, rows looked up by id."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import abort
from flask_login import current_user
from sqlalchemy import select

from petitions.extensions import db
from petitions.models import Petition, User

PER_PAGE = 50

Page = tuple[str, int]


def actor() -> User:
    """The signed-in administrator itself, not Flask-Login's proxy: audit entries record who acted."""
    user: User = current_user._get_current_object()
    return user


def by_id(model: Any, ids: Iterable[int | None]) -> dict[int, Any]:
    """Rows of a model by id, in one query: lists show related rows without a query per line."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows: Iterable[Any] = db.session.scalars(select(model).where(model.id.in_(wanted)))
    return {row.id: row for row in rows}


def petition_or_404(slug: str) -> Petition:
    """Any petition by its slug, whatever its status: administrators see hidden ones and drafts too."""
    petition = db.session.scalar(select(Petition).where(Petition.slug == slug))
    if petition is None:
        abort(404)
    return petition
