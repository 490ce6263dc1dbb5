"""The page that loads static/verify.js in Chromium, shared by the browser tests of the log's JavaScript."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.transparency.fakelog import serve

ROOT = Path(__file__).resolve().parents[2]
PAGE = b'<!doctype html><html lang="en"><title>verify</title><script src="/static/verify.js"></script></html>'


@pytest.fixture
def files() -> dict[str, bytes]:
    return {"index.html": PAGE, "static/verify.js": (ROOT / "static" / "verify.js").read_bytes()}


@pytest.fixture
def served(files: dict[str, bytes]) -> Iterator[str]:
    with serve(files) as url:
        yield url


@pytest.fixture
def page(browser: Browser, served: str) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{served}/index.html")
    try:
        yield page
    finally:
        context.close()
    assert not errors
