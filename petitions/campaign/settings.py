"""Views of account settings: name, email, password, password reset, deleting the account."""

from . import bp  # noqa: F401
