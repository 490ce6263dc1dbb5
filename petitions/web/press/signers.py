"""The public list of a petition's signers as JSON: the same entries as the petition page, never an address."""

from __future__ import annotations

from typing import Any

from flask import abort
from flask import request as flask_request
from werkzeug.wrappers import Response

from petitions.campaigns import signers
from petitions.extensions import N_
from petitions.infra.mail import external_url
from petitions.web.http import cacheable, json_response
from petitions.web.press import api_bp
from petitions.web.queries import public_petition_or_404, public_signers


def entry_json(entry: signers.Entry) -> dict[str, Any]:
    """One listed signer: what the petition page shows of them, and the day they confirmed (UTC)."""
    return {
        "name": entry.name,
        "country": entry.country,
        "comment": entry.comment,
        "organisation": entry.organisation,
        "job_title": entry.job_title,
        "confirmed_on": entry.confirmed_at.strftime("%Y-%m-%d"),
    }


@api_bp.get("/petitions/<slug>/signers")
def petition_signers(slug: str) -> Response:
    """Confirmed signers who chose to show their name, most recent first, ?page= (20 a page); cacheable, CORS open."""
    number = signers.page_number(flask_request.args.get("page"))
    if number is None:
        abort(400, description=N_("page must be a whole number from 1 to 500."))
    petition = public_petition_or_404(slug)
    page = public_signers(petition.id, number)
    doc = {
        "slug": petition.slug,
        "page": page.number,
        "per_page": signers.PER_PAGE,
        "signers": [entry_json(e) for e in page.entries],
        "next": external_url("api.petition_signers", slug=petition.slug, page=number + 1) if page.has_next else None,
        "prev": external_url("api.petition_signers", slug=petition.slug, page=number - 1) if page.has_prev else None,
    }
    return cacheable(json_response(doc))
