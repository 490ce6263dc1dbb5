"""The JSON API, v1."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from petitions.web.api import routes  # noqa: E402,F401  (registers the views on the blueprint)
