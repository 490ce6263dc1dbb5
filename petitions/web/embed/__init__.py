"""For the press: the embeddable widget, the SVG badge, oEmbed, live events and the API's page."""

from flask import Blueprint

bp = Blueprint("embed", __name__)

from petitions.web.embed import log, routes  # noqa: E402,F401  (registers the views on the blueprint)
