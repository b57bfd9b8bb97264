"""The merchant office in headless Chromium (live uvicorn with its worker, SQLite), at
1280x800 and 390x844: the demo user logs in, finds a paid order by its merchantOrderId, reads
its timeline (created, paid, the shop's notification), refunds it and sees the refund and the
refund's notification on the timeline. Nothing scrolls sideways at 390 px.

Set MARKETBOX_SCREENSHOT_DIR to keep screenshots of every office page at both sizes."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from playwright.sync_api import Browser, Page, expect

from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.office import service as office_service
from marketbox.office.service import DEMO_EMAIL, DEMO_PASSWORD
from marketbox.storage.db import Database
from tests.browser.bridge_support import BROWSER_MARKS
from tests.browser.test_payment_page import screenshot
from tests.support.builders import basket_item
from tests.support.live_server import live_server
from tests.support.shops import create_order

pytestmark = BROWSER_MARKS

TIMEOUT_MS = 10_000
SIZES = ((1280, 800), (390, 844))
ITEMS = [
    basket_item(sku="kettle", name="Чайник электрический", amount=Decimal("2490.00")),
    basket_item(sku="filter", name="Фильтр для воды", quantity=2, amount=Decimal("350.00")),
]


class _Shop(http.server.BaseHTTPRequestHandler):
    """A shop's notification endpoint that accepts everything."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        answer = b'{"status":"success"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def shop_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Shop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/notify"
    server.shutdown()
    server.server_close()


@pytest.fixture
def office_server(sqlite_url: str) -> Iterator[str]:
    """The platform with its dispatcher, so notifications are really sent and recorded."""
    with live_server(sqlite_url, run_worker=True, dispatcher_poll_seconds=0.2) as base_url:
        yield base_url


def wait_for_events(page: Page, kind: str, count: int) -> None:
    """Reload until the timeline has `count` events of `kind` (the worker delivers them)."""
    events = page.locator(f'[data-timeline] [data-event="{kind}"]')
    for _ in range(50):
        if events.count() >= count:
            return
        time.sleep(0.2)
        page.reload()
    raise AssertionError(f"the timeline never showed {count} {kind} event(s)")


def pay_with_card(page: Page, payment_url: str) -> None:
    page.goto(payment_url)
    page.fill("#payer-email", "anna@example.com")
    page.fill("#card_number", "4242 4242 4242 4242")
    page.fill("#card_expiry", "12/39")
    page.fill("#card_cvc", "123")
    page.locator("[data-pay-button]").click()
    page.wait_for_url(f"{payment_url}/success")


@pytest.mark.parametrize(("width", "height"), SIZES, ids=["1280", "390"])
def test_find_an_order_read_its_timeline_and_refund_it(
    office_server: str, shop_url: str, browser: Browser, width: int, height: int
) -> None:
    number = f"OFFICE-{width}"
    order = create_order(
        office_server, merchant_order_id=number, items=ITEMS, notificationUrl=shop_url
    )
    create_order(office_server, merchant_order_id=f"OTHER-{width}", items=ITEMS[:1])
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    pay_with_card(page, order["paymentUrl"])

    page.goto(f"{office_server}/office/orders")
    assert page.url.startswith(f"{office_server}/office/login")
    screenshot(page, f"office-login-{width}.png")
    page.fill('input[name="email"]', DEMO_EMAIL)
    page.fill('input[name="password"]', DEMO_PASSWORD)
    page.get_by_role("button", name="Войти").click()
    page.wait_for_url(f"{office_server}/office/orders")
    screenshot(page, f"office-orders-{width}.png")

    page.fill('input[name="q"]', number)
    page.get_by_role("button", name="Найти").click()
    expect(page.locator(".count-line")).to_have_text("Найден 1 заказ")
    page.get_by_role("link", name=number).click()
    page.wait_for_url(f"{office_server}/office/orders/{order['id']}")

    expect(page.locator("h1")).to_have_text(f"Заказ {number}")
    wait_for_events(page, "notification", 1)
    timeline = page.locator("[data-timeline]")
    expect(timeline.locator('[data-event="created"]')).to_have_count(1)
    expect(timeline.locator('[data-event="paid"]')).to_have_count(1)
    expect(timeline.locator('[data-event="notification"]').first).to_contain_text("доставлено")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width
    screenshot(page, f"office-order-{width}.png")

    page.get_by_role("button", name="Вернуть выбранное").click()
    expect(page.locator(".banner--success")).to_have_text("Возврат создан")
    expect(timeline.locator('[data-event="refunded"]')).to_contain_text(f"{number}-refund-1")
    wait_for_events(page, "notification", 2)
    expect(timeline.locator('[data-event="notification"]').last).to_contain_text("«refund»")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width
    screenshot(page, f"office-order-refunded-{width}.png")

    page.goto(f"{office_server}/office/orders?lang=en")
    expect(page.locator("h1")).to_have_text("Orders")
    expect(page.locator(".count-line")).to_have_text("2 orders found")  # refunds not listed
    screenshot(page, f"office-orders-en-{width}.png")
    page.close()


@pytest.mark.parametrize(("width", "height"), SIZES, ids=["1280", "390"])
def test_an_invited_user_sets_a_password_and_is_in(
    sqlite_url: str, browser: Browser, width: int, height: int
) -> None:
    with live_server(sqlite_url) as server:
        # Playwright's sync API runs a loop in this thread: the invite is made in another.
        with ThreadPoolExecutor(1) as pool:
            email = f"new-{width}@shop.test"
            token = pool.submit(asyncio.run, _invite(sqlite_url, email)).result()
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(TIMEOUT_MS)

        page.goto(f"{server}/office/invite/{token}")
        expect(page.locator(".caption").first).to_contain_text(f"new-{width}@shop.test")
        screenshot(page, f"office-invite-{width}.png")
        page.fill('input[name="password"]', "a long enough password")
        page.fill('input[name="password2"]', "a long enough password")
        page.get_by_role("button", name="Сохранить и войти").click()

        page.wait_for_url(f"{server}/office/orders")
        expect(page.locator(".office-user")).to_have_text(f"new-{width}@shop.test")
        assert page.evaluate("document.scrollingElement.scrollWidth") <= width
        page.close()


async def _invite(database_url: str, email: str) -> str:
    db = Database(database_url)
    try:
        async with db.transaction() as conn:
            return await office_service.invite(conn, email=email, merchant_id=DEMO_MERCHANT_ID)
    finally:
        await db.dispose()
