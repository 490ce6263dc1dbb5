"""A petition's signing history as open data: the JSON under /api/v1 and the same as CSV."""

from __future__ import annotations

from flask import abort, current_app, request
from werkzeug.wrappers import Response

from petitions.campaigns import history as histories
from petitions.web.http import cacheable, json_response
from petitions.web.press import api_bp, bp
from petitions.web.queries import public_petition_or_404


@api_bp.get("/petitions/<slug>/history")
def history(slug: str) -> Response:
    """New counted signatures per UTC hour and per UTC day, adding up to the count; cacheable, CORS open."""
    petition = public_petition_or_404(slug)
    return cacheable(json_response(histories.as_json(petition.slug, histories.history(petition.id))))


@bp.get("/petitions/<slug>/history.csv")
def history_csv(slug: str) -> Response:
    """The same as CSV: `hour,signatures`, or `day,signatures` with ?by=day."""
    by = request.args.get("by", "hour")
    if by not in ("hour", "day"):
        abort(400, description="by must be hour or day.")
    petition = public_petition_or_404(slug)
    text = histories.as_csv(histories.history(petition.id), by_day=by == "day")
    response = current_app.response_class(text, mimetype="text/csv")
    response.headers.set("Content-Disposition", "inline", filename=f"{petition.slug}-history-{by}.csv")
    return cacheable(response)
