"""The office's notification pages in headless Chromium (live uvicorn with its worker, SQLite),
at 1280x800 and 390x844: the demo user pays an order, refunds it from the office, follows the
refund's notification from the timeline to its page (the exact request and the shop's reply),
resends it and sees the new attempt; on Notifications, the test notification sent to a real
local HTTP server shows the shop's answer at once. Nothing scrolls sideways at 390 px.

Set MARKETBOX_SCREENSHOT_DIR to keep screenshots of the pages at both sizes."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from marketbox.office.service import DEMO_EMAIL, DEMO_PASSWORD
from tests.browser.bridge_support import BROWSER_MARKS
from tests.browser.test_office import ITEMS, TIMEOUT_MS, pay_with_card, wait_for_events
from tests.browser.test_office import office_server as office_server  # the fixture
from tests.browser.test_payment_page import screenshot
from tests.support.shops import create_order

pytestmark = BROWSER_MARKS

SIZES = ((1280, 800), (390, 844))


class _Shop(http.server.BaseHTTPRequestHandler):
    """A shop's notification endpoint: accepts everything, says who it is, keeps what it got."""

    received: list[dict[str, str]]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append(dict(self.headers.items()))
        answer = b'{"status":"success","shop":"kettles"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Shop", "kettles-and-filters")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def shop() -> Iterator[tuple[str, list[dict[str, str]]]]:
    received: list[dict[str, str]] = []
    handler = type("Shop", (_Shop,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/notify", received
    server.shutdown()
    server.server_close()


def wait_for_attempts(page: Page, count: int) -> None:
    """Reload until the notification's page shows `count` attempts (the worker makes them)."""
    attempts = page.locator("[data-attempt]")
    for _ in range(50):
        if attempts.count() >= count:
            return
        time.sleep(0.2)
        page.reload()
    raise AssertionError(f"the page never showed {count} attempt(s)")


def shot(page: Page, name: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")  # the sticky bar stays on top in a full-page shot
    screenshot(page, name)


def no_sideways_scroll(page: Page, width: int) -> None:
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width


@pytest.mark.parametrize(("width", "height"), SIZES, ids=["1280", "390"])
def test_refund_notification_is_read_resent_and_a_test_is_answered(
    office_server: str,
    shop: tuple[str, list[dict[str, str]]],
    browser: Browser,
    width: int,
    height: int,
) -> None:
    shop_url, received = shop
    number = f"NOTIF-{width}"
    order = create_order(
        office_server, merchant_order_id=number, items=ITEMS, notificationUrl=shop_url
    )
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    pay_with_card(page, order["paymentUrl"])

    page.goto(f"{office_server}/office/orders/{order['id']}")
    page.fill('input[name="email"]', DEMO_EMAIL)
    page.fill('input[name="password"]', DEMO_PASSWORD)
    page.get_by_role("button", name="Войти").click()
    page.wait_for_url(f"{office_server}/office/orders/{order['id']}")
    page.get_by_role("button", name="Вернуть выбранное").click()
    expect(page.locator(".banner--success")).to_have_text("Возврат создан")
    wait_for_events(page, "notification", 2)

    # From the timeline to the refund notification's page.
    page.locator('[data-timeline] [data-event="notification"]').last.get_by_role("link").click()
    expect(page.locator("h1")).to_have_text("Уведомление «refund»")
    attempt = page.locator('[data-attempt="1"]')
    expect(attempt.locator("[data-outcome]")).to_have_text("доставлено")
    refund_headers = received[-1]
    request = attempt.locator("[data-request]")
    expect(request).to_contain_text(f"POST {shop_url}")
    expect(request).to_contain_text(refund_headers["X-Signature"])
    expect(request).to_contain_text('"subtype": "refund"')  # the body, pretty-printed
    reply = attempt.locator("[data-reply]")
    expect(reply).to_contain_text("HTTP 200")
    expect(reply).to_contain_text("kettles-and-filters")
    no_sideways_scroll(page, width)
    shot(page, f"office-notification-{width}.png")

    # Resend: a new record with its own first attempt, linked to the original.
    sent_before = len(received)
    page.get_by_role("button", name="Отправить ещё раз").click()
    expect(page.locator(".banner--success")).to_contain_text("Уведомление поставлено на отправку")
    wait_for_attempts(page, 1)
    expect(page.locator('[data-attempt="1"] [data-outcome]')).to_have_text("доставлено")
    assert len(received) == sent_before + 1
    expect(page.get_by_role("link", name="Повтор уведомления — открыть исходное")).to_be_visible()
    page.get_by_role("link", name="Открыть заказ").click()
    page.wait_for_url(f"{office_server}/office/orders/{order['id']}")

    # The list: paid, refund and the refund resent; the test form answers at once.
    page.goto(f"{office_server}/office/notifications?lang=en")
    expect(page.locator("h1")).to_have_text("Notifications")
    expect(page.locator("[data-notifications] tbody tr")).to_have_count(3)
    no_sideways_scroll(page, width)
    shot(page, f"office-notifications-{width}.png")
    page.fill('input[name="url"]', shop_url)
    page.get_by_role("button", name="Send a test").click()
    result = page.locator("[data-test-result]")
    expect(result.locator("[data-outcome]")).to_have_text("delivered")
    expect(result.locator("[data-reply]")).to_contain_text("HTTP 200")
    expect(result.locator("[data-reply]")).to_contain_text('"shop": "kettles"')
    expect(result.locator("[data-request]")).to_contain_text(received[-1]["X-Signature"])
    no_sideways_scroll(page, width)
    shot(page, f"office-notifications-test-{width}.png")
    page.close()
