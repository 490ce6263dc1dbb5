"""Views of the admin pages."""

from flask import render_template

from . import bp


@bp.get("/")
def index() -> str:
    """The admin home page."""
    return render_template("admin/index.html")
