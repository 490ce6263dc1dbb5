"""Public pages: browsing, signing, confirming."""

from flask import Blueprint

bp = Blueprint("public", __name__)

# Imported for what they register on the blueprint: the views.
from petitions.web.public import images, reports, routes, sharing, transparency  # noqa: E402,F401
