"""JSON views: the petition list, one petition, its count, and the API's description; and its page for people."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, current_app, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from petitions.campaigns import translations
from petitions.clock import iso, utcnow
from petitions.config import cache_budget
from petitions.counting import counts
from petitions.extensions import N_, db
from petitions.infra.live import cached_count
from petitions.infra.mail import external_url
from petitions.models import Petition
from petitions.transparency import reading
from petitions.web.http import cacheable, json_response
from petitions.web.i18n import html_lang, languages
from petitions.web.press import api_bp, bp
from petitions.web.press.openapi import spec
from petitions.web.press.snippets import CHART_HEIGHT, CHART_WIDTH, iframe
from petitions.web.queries import public_petition_or_404, public_petitions

SORTS = {"popular": "popular", "count": "popular", "new": "new", "date": "new"}


def petition_json(petition: Petition, now: datetime, *, full: bool = True) -> dict[str, Any]:
    """The petition document of CONTRACT.md; the list leaves out the per-country and group counts and the log."""
    doc = {
        "slug": petition.slug,
        "title": petition.title,
        "target": petition.target,
        "summary": petition.summary,
        "url": external_url("public.petition", slug=petition.slug),
        "status": petition.effective_status(now),
        "signature_count": petition.signature_count,
        "paper_signature_count": petition.paper_signature_count,
        "goal": petition.goal,
        "outcome": petition.outcome,
        "created_at": iso(petition.created_at),
        "closes_at": iso(petition.closes_at),
        "updated_at": iso(max(petition.updated_at, petition.count_updated_at)),
    }
    if full:
        doc["language"] = translations.original_language(petition, current_app.config["DEFAULT_LOCALE"])
        doc["translations"] = {
            code: {"title": row.title, "target": row.target, "summary": row.summary, "body_html": row.body_html}
            for code, row in translations.published(petition.id).items()
        }
        doc["signatures_by_country"] = counts.by_country(petition.id)
        doc["supporter_groups"] = counts.public_groups_json(petition.id)
        doc["log"] = reading.summary(petition.id, petition.slug)
    return doc


@api_bp.get("/petitions")
def petitions() -> Response:
    """Public petitions, paginated: ?page=, ?per_page= (max 100), ?q=, ?sort=popular|new, ?status=open|closed|all."""
    try:
        page = min(10_000, max(1, int(request.args.get("page", 1))))
        per_page = min(100, max(1, int(request.args.get("per_page", current_app.config["API_PAGE_SIZE"]))))
    except ValueError:
        abort(400, description=N_("page and per_page must be whole numbers."))
    status = request.args.get("status", "open")
    if status not in ("open", "closed", "all"):
        abort(400, description=N_("status must be open, closed or all."))
    sort = SORTS.get(request.args.get("sort", "popular"))
    if sort is None:
        abort(400, description=N_("sort must be popular (or count) or new (or date)."))
    q = (request.args.get("q") or "").strip()[:100] or None
    now = utcnow()
    result = db.paginate(
        public_petitions(q, sort, None if status == "all" else status, now=now),
        page=page,
        per_page=per_page,
        error_out=False,
        count=True,
    )
    doc = {
        "petitions": [petition_json(p, now, full=False) for p in result.items],
        "page": result.page,
        "per_page": result.per_page,
        "total": result.total,
        "pages": result.pages,
    }
    return cacheable(json_response(doc), max_age=current_app.config["COUNT_MAX_AGE"] * 5, stale=30)


@api_bp.get("/petitions/<slug>")
def petition(slug: str) -> Response:
    """One petition, with its counts by country and by supporter group."""
    return cacheable(json_response(petition_json(public_petition_or_404(slug), utcnow())))


@api_bp.get("/petitions/<slug>/count")
def count(slug: str) -> Response:
    """The count of one petition: small, cacheable, CORS open; at most COUNT_MAX_AGE seconds behind."""
    doc = cached_count(slug)
    if doc is None:
        abort(404, description=N_("No petition has that slug."))
    return cacheable(json_response(doc))


@api_bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 description of this API."""
    response = json_response(spec(current_app.config["BASE_URL"]))
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@api_bp.get("/")
def api_root() -> Response:
    """Where the description is."""
    return json_response({"openapi": url_for(".openapi"), "documentation": url_for("press.api_docs")})


@bp.get("/api")
def api_docs() -> str:
    """The API's page for people."""
    _, max_age, stale = cache_budget(current_app.config)
    return render_template(
        "press/api.html",
        openapi_url=url_for("api.openapi"),
        base=current_app.config["BASE_URL"],
        max_age=max_age,
        stale=stale,
        widget_example=iframe(
            f"{current_app.config['BASE_URL']}/embed/SLUG?theme=light&lang={html_lang()}", gettext("Petition")
        ),
        languages=", ".join(code.replace("_", "-") for code in languages()),
        chart_example=iframe(
            f"{current_app.config['BASE_URL']}/embed/SLUG/chart?lang={html_lang()}",
            gettext("Petition: signatures over time"),
            CHART_WIDTH,
            CHART_HEIGHT,
        ),
    )
