"""Campaigner pages: accounts and their petitions."""

from flask import Blueprint

bp = Blueprint("campaign", __name__)

from . import dashboard, routes, settings  # noqa: E402,F401  (registers the views on the blueprint)
