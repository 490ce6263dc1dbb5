"""JSON views: the petition list, one petition, its count."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, current_app, jsonify, request
from sqlalchemy import select
from werkzeug.wrappers import Response

from .. import counts
from ..clock import utcnow
from ..extensions import db
from ..mail import external_url
from ..models import Petition
from ..queries import public_petitions
from . import bp


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, or None."""
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _public_or_404(slug: str) -> Petition:
    petition = db.session.scalar(select(Petition).where(Petition.slug == slug))
    if petition is None or not petition.is_public():
        abort(404, description="No petition has that slug.")
    return petition


def count_json(petition: Petition, now: datetime) -> dict[str, Any]:
    """The count document of CONTRACT.md."""
    return {
        "slug": petition.slug,
        "signature_count": petition.signature_count,
        "goal": petition.goal,
        "status": petition.effective_status(now),
        "updated_at": iso(petition.count_updated_at),
    }


def petition_json(petition: Petition, now: datetime, *, with_countries: bool = True) -> dict[str, Any]:
    """The petition document of CONTRACT.md."""
    doc = {
        "slug": petition.slug,
        "title": petition.title,
        "target": petition.target,
        "summary": petition.summary,
        "url": external_url("public.petition", slug=petition.slug),
        "status": petition.effective_status(now),
        "signature_count": petition.signature_count,
        "goal": petition.goal,
        "created_at": iso(petition.created_at),
        "closes_at": iso(petition.closes_at),
        "updated_at": iso(max(petition.updated_at, petition.count_updated_at)),
    }
    if with_countries:
        doc["signatures_by_country"] = counts.by_country(petition.id)
        doc["supporter_groups"] = [{"name": name, "signature_count": n} for name, n in counts.by_group(petition.id)]
    return doc


def _cors(response: Response) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/petitions")
def petitions() -> Response:
    """Public petitions, paginated: ?page=, ?per_page= (max 100), ?q=, ?sort=popular|new, ?status=open|closed|all."""
    try:
        page = max(1, int(request.args.get("page", 1)))
        per_page = min(100, max(1, int(request.args.get("per_page", current_app.config["API_PAGE_SIZE"]))))
    except ValueError:
        abort(400, description="page and per_page must be whole numbers.")
    status = request.args.get("status", "open")
    if status not in ("open", "closed", "all"):
        abort(400, description="status must be open, closed or all.")
    sort = request.args.get("sort", "popular")
    if sort not in ("popular", "new"):
        abort(400, description="sort must be popular or new.")
    q = (request.args.get("q") or "").strip()[:100] or None
    result = db.paginate(
        public_petitions(q, sort, None if status == "all" else status), page=page, per_page=per_page, error_out=False
    )
    now = utcnow()
    return _cors(
        jsonify(
            petitions=[petition_json(p, now, with_countries=False) for p in result.items],
            page=result.page,
            per_page=result.per_page,
            total=result.total,
            pages=result.pages,
        )
    )


@bp.get("/petitions/<slug>")
def petition(slug: str) -> Response:
    """One petition."""
    return _cors(jsonify(petition_json(_public_or_404(slug), utcnow())))


@bp.get("/petitions/<slug>/count")
def count(slug: str) -> Response:
    """The count of one petition: small, cacheable, CORS open."""
    response = _cors(jsonify(count_json(_public_or_404(slug), utcnow())))
    response.headers["Cache-Control"] = f"public, max-age={current_app.config['COUNT_MAX_AGE']}"
    return response
