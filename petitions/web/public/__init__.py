"""Public pages: browsing, signing, confirming."""

from flask import Blueprint

bp = Blueprint("public", __name__)

from petitions.web.public import reports, routes  # noqa: E402,F401  (registers the views on the blueprint)
