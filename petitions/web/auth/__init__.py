"""Signing in and out: registering, confirming an account's address, logging in, resetting a password."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from petitions.web.auth import routes  # noqa: E402,F401  (registers the views on the blueprint)
