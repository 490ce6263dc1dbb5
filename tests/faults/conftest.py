"""Fixtures of the fault tests: the session's PostgreSQL database emptied around each test, and an
exit stack whose cleanups (processes, SMTP servers, engines) run before it is emptied."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from tests.faults.helpers import truncate


@pytest.fixture
def pg(postgres_url: str) -> Iterator[str]:
    """The session's PostgreSQL database, empty at the start, emptied at the end."""
    truncate(postgres_url)
    yield postgres_url
    truncate(postgres_url)


@pytest.fixture
def stack(pg: str) -> Iterator[contextlib.ExitStack]:
    """Cleanups (processes, SMTP servers, engines), run before the tables are emptied."""
    with contextlib.ExitStack() as cleanups:
        yield cleanups
