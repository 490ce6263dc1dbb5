"""What the browser tests share: a desktop-sized context of their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext

from tests.helpers import DESKTOP


@pytest.fixture
def desktop(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh desktop-sized browser context (own cookies)."""
    context = browser.new_context(**DESKTOP)
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        context.close()
