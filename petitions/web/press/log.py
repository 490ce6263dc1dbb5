"""A petition's public log, served as C2SP tlog-tiles, and the key that signs its checkpoints.

Tiles and entry bundles never change once served (a partial tile `.p/W` always holds the same W
hashes), so they are cacheable forever, by any CDN or mirror; the checkpoint changes at each
append, so it is cached for a few seconds. CORS is open, so a verifier in any page can read
them, and no response sets a cookie (public caching, see web/http.SessionInterface). Only a
petition the public may see has its log served, as with its JSON.
"""

from __future__ import annotations

from flask import current_app, jsonify
from werkzeug.wrappers import Response

from petitions.transparency import keys, reading
from petitions.web.press import bp
from petitions.web.queries import public_petition_or_404

IMMUTABLE = "public, max-age=31536000, immutable"
# The checkpoint is at most LOG_INTERVAL old when the worker keeps up; a cache adds this much.
CHECKPOINT_MAX_AGE = 5


def _public(response: Response, cache_control: str) -> Response:
    response.headers["Cache-Control"] = cache_control
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _text(body: str, status: int = 200) -> Response:
    return current_app.response_class(body, status=status, mimetype="text/plain")


def _missing(what: str) -> Response:
    """A plain 404 that no cache keeps (the tile may exist a moment later), with no page around it and no cookie."""
    return _public(_text(f"{what}\n", 404), "public, no-cache")


@bp.get("/petitions/<slug>/log/checkpoint")
def log_checkpoint(slug: str) -> Response:
    """The log's latest signed checkpoint (404 before its first entry)."""
    petition = public_petition_or_404(slug)
    signed = reading.checkpoint(petition.id)
    if signed is None:
        return _missing("This petition's log has no entries yet.")
    interval = float(current_app.config["LOG_INTERVAL"])
    max_age = max(1, min(CHECKPOINT_MAX_AGE, int(interval)))
    return _public(_text(signed), f"public, max-age={max_age}")


@bp.get("/petitions/<slug>/log/tile/<path:path>")
def log_tile(slug: str, path: str) -> Response:
    """A hash tile (tile/<L>/<N>[.p/<W>]) or entry bundle (tile/entries/<N>[.p/<W>]); 404 beyond the tree."""
    petition = public_petition_or_404(slug)
    data = reading.read(petition.id, path)
    if data is None:
        return _missing("The log has no such tile.")
    response = current_app.response_class(data, mimetype="application/octet-stream")
    return _public(response, IMMUTABLE)


@bp.get("/log/key")
def log_key() -> Response:
    """The verifier key of every petition's checkpoints (C2SP note verifier key)."""
    return _public(_text(f"{keys.verifier()}\n"), "public, max-age=3600")


@bp.get("/log/keys")
def log_keys() -> Response:
    """The current verifier key and the retired ones (key rotation), as JSON."""
    body = {"current": str(keys.verifier()), "retired": [str(k) for k in keys.retired()]}
    return _public(jsonify(body), "public, max-age=3600")
