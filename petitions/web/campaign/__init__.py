"""Campaigner pages: accounts and their petitions."""

from flask import Blueprint

bp = Blueprint("campaign", __name__)

from petitions.web.campaign import (  # noqa: E402,F401  (registers the views on the blueprint)
    dashboard,
    routes,
    settings,
)
