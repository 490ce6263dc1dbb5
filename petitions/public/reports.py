"""Views of the public "report this petition" form."""

from . import bp  # noqa: F401
