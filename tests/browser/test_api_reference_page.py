"""/docs in headless Chromium (live uvicorn, SQLite): Swagger UI renders our operations and the
webhook under the page's own Content-Security-Policy, with no console error and no request to
another origin.

Set MARKETBOX_SCREENSHOT_DIR to keep screenshots of the page at 1280x800 and 390x844."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from playwright.sync_api import Browser, ConsoleMessage, Request

from tests.browser.bridge_support import BROWSER_MARKS

pytestmark = BROWSER_MARKS

TIMEOUT_MS = 15_000
SCREENSHOT_DIR = os.environ.get("MARKETBOX_SCREENSHOT_DIR")


def test_swagger_ui_renders_from_our_origin_only(server: str, browser: Browser) -> None:
    origin = urlsplit(server).netloc
    errors: list[str] = []
    foreign: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    def on_request(request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc != origin:
            foreign.append(request.url)

    for width, height in ((1280, 800), (390, 844)):
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(TIMEOUT_MS)
        page.on("console", on_console)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", on_request)
        page.goto(f"{server}/docs")

        page.get_by_text("/v3/billing/api/order/order", exact=True).first.wait_for()
        page.get_by_text("orderNotification").first.wait_for()  # the webhook
        assert page.locator(".swagger-ui .servers select option").first.inner_text() == server
        # An operation opens and shows its schema, rendered by Swagger UI under our CSP.
        page.locator(".opblock-summary-path", has_text="/v3/security/api/auth/auth").first.click()
        page.get_by_text("Try it out").first.wait_for()
        if SCREENSHOT_DIR:
            page.screenshot(path=os.path.join(SCREENSHOT_DIR, f"docs-{width}.png"))
        page.close()

    assert errors == []
    assert foreign == []
