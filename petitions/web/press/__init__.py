"""For the press and other sites: the JSON API, the embeddable widget, the SVG badge, oEmbed, live events,
the API's page for people, each petition's public log (log.py), history (history.py), chart over time
(charts.py), world map (maps.py) and list of signers (signers.py).

Two blueprints: `press` for the pages at the site's root, and `api` for the JSON under /api/v1, which
takes no form and so is exempt from CSRF as a whole.
"""

from flask import Blueprint

bp = Blueprint("press", __name__)
api_bp = Blueprint("api", __name__, url_prefix="/api/v1")

from petitions.web.press import (  # noqa: E402,F401  (registers the views on the blueprints)
    api,
    cards,
    charts,
    embed,
    history,
    log,
    maps,
    signers,
)
