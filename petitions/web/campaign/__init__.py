"""Campaigner pages: starting, editing and managing petitions, updates, groups, the dashboard and exports."""

from flask import Blueprint

bp = Blueprint("campaign", __name__)

from petitions.web.campaign import (  # noqa: E402,F401  (registers the views on the blueprint)
    dashboard,
    images,
    outcomes,
    routes,
    signers,
    translations,
    webhooks,
)
