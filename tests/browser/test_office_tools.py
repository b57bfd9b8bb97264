"""The office's mail view, sandbox panel and operator pages in headless Chromium (live uvicorn
with its worker, SQLite) at 1280x800 and 390x844: a sandbox payment from an order's page leaves
the buyer's letter, captured, in the mail view; the panel moves the clock (the strip appears
on every page) and expires an order; the operator sees the merchants and the health page, and a
merchant's user cannot open them. Nothing scrolls sideways at 390 px.

Set MARKETBOX_SCREENSHOT_DIR to keep screenshots of these pages at both sizes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from marketbox import clock
from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.office import service as office_service
from marketbox.office.service import DEMO_EMAIL, DEMO_PASSWORD
from marketbox.storage.db import Database
from tests.browser.bridge_support import BROWSER_MARKS
from tests.browser.test_office import ITEMS, SIZES, TIMEOUT_MS
from tests.browser.test_payment_page import screenshot
from tests.support.live_server import live_server
from tests.support.office import PASSWORD
from tests.support.shops import create_order

pytestmark = BROWSER_MARKS


@pytest.fixture
def office_server(sqlite_url: str) -> Iterator[str]:
    """The platform with its worker (the mail pass captures letters); the clock the panel
    moves is this process's, so it is put back afterwards."""
    try:
        with live_server(sqlite_url, run_worker=True, dispatcher_poll_seconds=0.2) as base_url:
            yield base_url
    finally:
        clock.set_offset(timedelta(0))


def log_in(page: Page, server: str, email: str, password: str) -> None:
    page.goto(f"{server}/office/login")
    page.fill('input[name="email"]', email)
    page.fill('input[name="password"]', password)
    page.get_by_role("button", name="Войти").click()
    page.wait_for_url(f"{server}/office/orders")


def fits(page: Page, width: int) -> None:
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width


def wait_for(page: Page, selector: str) -> None:
    """Reload until `selector` is on the page (the worker's mail pass runs every second)."""
    for _ in range(50):
        if page.locator(selector).count():
            return
        time.sleep(0.2)
        page.reload()
    raise AssertionError(f"{selector} never appeared")


@pytest.mark.parametrize(("width", "height"), SIZES, ids=["1280", "390"])
def test_mail_view_and_sandbox_panel(
    office_server: str, browser: Browser, width: int, height: int
) -> None:
    paid = create_order(office_server, merchant_order_id=f"MAIL-{width}", items=ITEMS)
    unpaid = create_order(office_server, merchant_order_id=f"LATE-{width}", items=ITEMS[:1])
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    log_in(page, office_server, DEMO_EMAIL, DEMO_PASSWORD)

    # A sandbox payment from the order's page.
    page.goto(f"{office_server}/office/orders/{paid['id']}")
    triggers = page.locator("[data-sandbox-triggers]")
    expect(triggers).to_be_visible()
    fits(page, width)
    screenshot(page, f"office-order-sandbox-{width}.png")
    page.get_by_role("button", name="Оплатить (песочница)").click()
    expect(page.locator('[data-sandbox-done="paid"]')).to_have_text(
        "Заказ оплачен тестовой картой."
    )
    expect(triggers).to_have_count(0)

    # The buyer's letter, captured by the sandbox.
    page.get_by_role("link", name="Письма").click()
    page.wait_for_url(f"{office_server}/office/mail")
    wait_for(page, '[data-mail="buyer_receipt"] [data-mail-status="captured"]')
    row = page.locator('[data-mail="buyer_receipt"]')
    expect(row).to_contain_text("ivan@example.com")
    expect(row).to_contain_text("Перехвачено")
    fits(page, width)
    screenshot(page, f"office-mail-{width}.png")
    row.get_by_role("link").click()
    expect(page.locator("[data-letter-text]")).to_contain_text(f"/order/{paid['orderContainerId']}")
    expect(page.locator("main")).to_contain_text("никому не отправлялось")
    fits(page, width)
    screenshot(page, f"office-mail-letter-{width}.png")

    # The panel: the clock moved forward, the strip on every page, an order expired.
    page.get_by_role("link", name="Песочница").click()
    page.wait_for_url(f"{office_server}/office/sandbox")
    expect(page.locator("[data-sandbox-clock]")).to_have_count(0)
    advance = page.locator('button[name="advance"][value="2h"]')
    expect(advance).to_have_text("+2\u00a0ч")  # the page's language, as the strip
    advance.click()
    expect(page.locator('[data-sandbox-done="clock"]')).to_be_visible()
    expect(page.locator("[data-sandbox-clock]")).to_contain_text("+2 ч")
    page.fill('input[name="order_id"]', unpaid["id"])
    page.get_by_role("button", name="Просрочить", exact=True).click()
    expect(page.locator('[data-sandbox-done="expired"]')).to_contain_text(
        "Срок оплаты заказа истёк."
    )
    fits(page, width)
    screenshot(page, f"office-sandbox-{width}.png")
    page.goto(f"{office_server}/office/orders/{unpaid['id']}")
    expect(page.locator("[data-sandbox-clock]")).to_be_visible()
    expect(page.locator('[data-timeline] [data-event="expired"]')).to_have_count(1)
    page.goto(f"{office_server}/office/sandbox/reset")
    expect(page.locator("h1")).to_have_text("Очистить все данные песочницы?")
    fits(page, width)
    screenshot(page, f"office-sandbox-reset-{width}.png")
    page.goto(f"{office_server}/office/sandbox")
    page.get_by_role("button", name="Вернуть точное время").click()
    expect(page.locator("[data-sandbox-clock]")).to_have_count(0)

    # A merchant's user has no operator pages.
    expect(page.locator('.office-nav a[href="/office/operator"]')).to_have_count(0)
    assert page.goto(f"{office_server}/office/operator").status == 404
    page.close()


@pytest.mark.parametrize(("width", "height"), SIZES, ids=["1280", "390"])
def test_operator_sees_merchants_and_health(
    office_server: str, sqlite_url: str, browser: Browser, width: int, height: int
) -> None:
    create_order(office_server, merchant_order_id=f"OPS-{width}", items=ITEMS)
    email = f"ops-{width}@platform.test"
    # Playwright's sync API runs a loop in this thread: the user is made in another.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _operator(sqlite_url, email)).result()
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    log_in(page, office_server, email, PASSWORD)

    page.get_by_role("link", name="Оператор").click()
    page.wait_for_url(f"{office_server}/office/operator")
    demo = page.locator(f'[data-merchant="{DEMO_MERCHANT_ID}"]')
    expect(demo).to_contain_text("1")
    fits(page, width)
    screenshot(page, f"office-operator-{width}.png")
    page.get_by_role("link", name="Состояние").click()
    page.wait_for_url(f"{office_server}/office/operator/health")
    expect(page.locator("[data-ready]")).to_have_attribute("data-ready", "yes")
    expect(page.locator('[data-check="database"]')).to_have_text("ok")
    expect(page.locator('[data-check="migrations"]')).to_have_text("ok")
    expect(page.locator('[data-check="redis"]')).to_have_text("not configured")
    fits(page, width)
    screenshot(page, f"office-operator-health-{width}.png")
    page.close()


async def _operator(database_url: str, email: str) -> None:
    db = Database(database_url)
    try:
        async with db.transaction() as conn:
            await office_service.create_user(
                conn,
                email=email,
                merchant_id=DEMO_MERCHANT_ID,
                role="operator",
                password=PASSWORD,
            )
    finally:
        await db.dispose()
