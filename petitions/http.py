"""Response helpers shared by the API and the embeds: caching with ETags, CORS."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import current_app, request
from werkzeug.wrappers import Response


def cacheable(response: Response, max_age: int | None = None) -> Response:
    """Make a public, briefly cacheable response with an ETag; answer 304 to a matching If-None-Match.

    max-age lets a CDN or a reverse proxy take the read load; stale-while-revalidate lets it
    serve the last count while it fetches the next one.
    """
    cfg = current_app.config
    max_age = cfg["COUNT_MAX_AGE"] if max_age is None else max_age
    response.headers["Cache-Control"] = (
        f"public, max-age={max_age}, stale-while-revalidate={cfg['COUNT_STALE_WHILE_REVALIDATE']}"
    )
    response.set_etag(hashlib.blake2b(response.get_data(), digest_size=12).hexdigest())
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = "ETag"
    response.vary.add("Accept-Encoding")
    return response.make_conditional(request)


def json_response(doc: Any, status: int = 200) -> Response:
    """Compact JSON with the right type (cheaper than jsonify's pretty-printing checks)."""
    return current_app.response_class(
        json.dumps(doc, separators=(",", ":"), ensure_ascii=False), status=status, mimetype="application/json"
    )
