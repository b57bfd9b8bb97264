"""What the browser tests share: headless Debian Chromium, and a live server on SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.browser.bridge_support import CHROMIUM_ARGS, chromium_path
from tests.support.live_server import live_server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture
def server(sqlite_url: str) -> Iterator[str]:
    """The platform on a free port (uvicorn in a background thread)."""
    with live_server(sqlite_url) as base_url:
        yield base_url
