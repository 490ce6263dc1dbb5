"""The one place the application reads the time, so tests can pass their own."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z (the API's form), or None."""
    return None if value is None else value.isoformat().replace("+00:00", "Z")
