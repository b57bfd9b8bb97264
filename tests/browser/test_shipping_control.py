"""Shipping control in headless Chromium (docs/miniapps.md "Shipping control"): the buyer pays an
invoice of a merchant that asked for it, sees the loader while a real local shop server is
asked, and then the shop's answer: success (on to successUrl), shipping_unavailable at once or
after a delay (the refusal page), and no answer (payment received, on to successUrl). With
JavaScript (polling) and without it (the page reloads itself).

Set MARKETBOX_SCREENSHOT_DIR to keep screenshots of the loader and the refusal at 390 and
1280 px."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.browser.bridge_support import BROWSER_MARKS
from tests.conftest import DEMO_AUTH, body, read
from tests.support.live_server import live_server
from tests.support.shops import create_order

pytestmark = BROWSER_MARKS

TIMEOUT_MS = 15_000
SCREENSHOT_DIR = os.environ.get("MARKETBOX_SCREENSHOT_DIR")
# How long the shop that "never answers" holds a request (longer than any limit here).
HANG_SECONDS = 8.0


@dataclass
class Shop:
    """The shop's server: its notification endpoint answers `reply` after `delay` seconds
    (None: never, within HANG_SECONDS); /thanks and /sorry are its success and fail pages."""

    url: str = ""
    reply: dict[str, str] | None = field(default_factory=lambda: {"status": "success"})
    delay: float = 0.0
    notified: list[str] = field(default_factory=list)


@pytest.fixture
def shop() -> Iterator[Shop]:
    state = Shop()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            state.notified.append(json.loads(self.rfile.read(length))["id"])
            if state.reply is None:
                time.sleep(HANG_SECONDS)
                return
            time.sleep(state.delay)
            answer = json.dumps(state.reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def do_GET(self) -> None:
            page = f"<!doctype html><title>shop</title><h1>{self.path}</h1>".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server(sqlite_url: str) -> Iterator[str]:
    with live_server(sqlite_url, notification_lease_seconds=10.0) as base_url:
        yield base_url


def control(server: str, shop: Shop, seconds: int) -> None:
    answer = httpx.put(
        f"{server}/v3/security/api/notification",
        content=body(
            {
                "notificationUrl": f"{shop.url}/notify",
                "shippingControl": True,
                "shippingControlTimeoutSeconds": seconds,
            }
        ),
        headers=DEMO_AUTH,
    )
    assert answer.status_code == 200, answer.text


def new_order(server: str, shop: Shop) -> Any:
    return create_order(
        server,
        merchantOrderId=f"SC-{time.monotonic_ns()}",
        successUrl=f"{shop.url}/thanks",
        failUrl=f"{shop.url}/sorry",
    )


def open_and_pay(
    browser: Browser, order: Any, width: int, *, javascript: bool = True
) -> tuple[Page, list[str]]:
    context = browser.new_context(
        viewport={"width": width, "height": 844 if width < 500 else 800},
        java_script_enabled=javascript,
    )
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on(
        "response",
        lambda r: (
            problems.append(f"HTTP {r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    page.goto(order["paymentUrl"])
    page.fill("#card_number", "4242 4242 4242 4242")
    page.fill("#card_expiry", "12/39")
    page.fill("#card_cvc", "123")
    page.locator("[data-pay-button]").click()
    return page, problems


def screenshot(page: Page, name: str) -> None:
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOT_DIR) / name), full_page=True)


def api_order(server: str, order_id: str) -> Any:
    answer = httpx.get(f"{server}/v3/billing/api/order/order/{order_id}", headers=DEMO_AUTH)
    return read(answer)["data"]


def test_success_goes_on_to_the_shops_success_url(
    server: str, browser: Browser, shop: Shop
) -> None:
    control(server, shop, seconds=5)
    order = new_order(server, shop)

    page, problems = open_and_pay(browser, order, 390)

    page.wait_for_url(f"{shop.url}/thanks")
    assert shop.notified == [order["id"]]
    assert api_order(server, order["id"])["status"] == "hold"
    assert problems == []


@pytest.mark.parametrize("width", [390, 1280])
def test_a_late_refusal_shows_the_loader_then_the_refusal(
    server: str, browser: Browser, shop: Shop, width: int
) -> None:
    control(server, shop, seconds=8)
    shop.reply, shop.delay = {"status": "error", "code": "shipping_unavailable"}, 2.5
    order = new_order(server, shop)

    page, problems = open_and_pay(browser, order, width)

    loader = page.locator("[data-confirming] [role=status]")
    loader.wait_for()
    assert "Подтверждаем заказ у магазина…" in loader.inner_text()
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width
    screenshot(page, f"shipping-control-loader-{width}.png")
    refusal = page.locator('[data-status="shipping-unavailable"]')
    refusal.wait_for()
    assert page.inner_text("h1") == "Магазин не может выполнить заказ"
    assert "Деньги не списаны" in refusal.inner_text()
    assert page.locator("[data-back-to-shop]").get_attribute("href") == f"{shop.url}/sorry"
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width
    screenshot(page, f"shipping-control-unavailable-{width}.png")
    assert api_order(server, order["id"])["processingStatus"] == "shipping_unavailable"
    assert shop.notified == [order["id"]]
    assert problems == []


def test_an_instant_refusal_without_javascript(server: str, browser: Browser, shop: Shop) -> None:
    control(server, shop, seconds=5)
    shop.reply = {"status": "error", "code": "shipping_unavailable"}
    order = new_order(server, shop)

    page, problems = open_and_pay(browser, order, 390, javascript=False)

    page.locator('[data-status="shipping-unavailable"]').wait_for()
    assert "/confirming" in page.url
    assert problems == []


def test_a_late_refusal_without_javascript_reloads_until_the_answer(
    server: str, browser: Browser, shop: Shop
) -> None:
    control(server, shop, seconds=8)
    shop.reply, shop.delay = {"status": "error", "code": "shipping_unavailable"}, 2.5
    order = new_order(server, shop)

    page, problems = open_and_pay(browser, order, 390, javascript=False)

    page.locator("[data-confirming]").wait_for()  # the loader, its meta refresh in <noscript>
    page.locator('[data-status="shipping-unavailable"]').wait_for()
    assert problems == []


def test_no_answer_says_payment_received_and_goes_on_to_success_url(
    server: str, browser: Browser, shop: Shop
) -> None:
    control(server, shop, seconds=1)
    shop.reply = None
    order = new_order(server, shop)

    page, problems = open_and_pay(browser, order, 1280)

    page.locator('[data-status="confirmation-pending"]').wait_for()
    assert page.inner_text("h1") == "Оплата получена"
    screenshot(page, "shipping-control-pending-1280.png")
    page.wait_for_url(f"{shop.url}/thanks")  # after the announced 5 s
    assert problems == []


def test_the_loader_holds_still_when_motion_is_reduced(
    server: str, browser: Browser, shop: Shop
) -> None:
    control(server, shop, seconds=8)
    shop.delay = 3.0
    order = new_order(server, shop)
    page, _ = open_and_pay(browser, order, 390)
    page.emulate_media(reduced_motion="reduce")

    page.locator("[data-confirming]").wait_for()
    animation = page.evaluate(
        "getComputedStyle(document.querySelector('[data-confirming] .loader'), '::before')"
        ".animationName"
    )
    assert animation == "none"
    page.wait_for_url(f"{shop.url}/thanks")
