"""The campaigner's account: their petitions, settings, signing out everywhere, deleting the account."""

from flask import Blueprint

bp = Blueprint("account", __name__)

from petitions.web.account import routes  # noqa: E402,F401  (registers the views on the blueprint)
