"""The deployment tests start real processes on the session's PostgreSQL database, as the fault tests do."""

from tests.faults.conftest import pg, stack

__all__ = ["pg", "stack"]
