"""Views of a campaigner's petition dashboard, the CSV export and the printable delivery page."""

from . import bp  # noqa: F401
