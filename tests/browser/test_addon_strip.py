"""The add-on strip in headless Chromium against a live server (SQLite): the operator orders
and limits the strip on the office's add-ons page, and the payment page shows the cards in that
order and no more than the limit, on a phone and on a desktop; an invoice whose seller turned
add-ons off shows no strip at all.

Set MARKETBOX_SCREENSHOT_DIR to keep screenshots of the operator's page and the strip."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from decimal import Decimal
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page

from marketbox.marketplace import service as marketplace_service
from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.office import service as office_service
from marketbox.storage.db import Database
from tests.browser.bridge_support import BROWSER_MARKS
from tests.conftest import DEMO_AUTH, body, read
from tests.support.builders import basket_item
from tests.support.office import PASSWORD
from tests.support.shops import create_order

pytestmark = BROWSER_MARKS

TIMEOUT_MS = 10_000
SCREENSHOT_DIR = os.environ.get("MARKETBOX_SCREENSHOT_DIR")
OPERATOR = "ops@platform.test"
MERCHANT = "owner@shop.test"
# (merchant, point of sale): three add-ons offered on every invoice, created in this order.
ADDONS = (
    ("ООО «Такси Плюс»", "Такси в аэропорт"),
    ("АО «Страхование»", "Страховка путешественника"),
    ("ООО «Зал»", "Бизнес-зал"),
)


def set_up(database_url: str, *, merchant_user: bool = False) -> dict[str, int]:
    """The three add-ons (title -> point of sale id) and an operator's office user (or the
    demo shop's own user). Runs on a thread of its own: Playwright's sync API owns the test
    thread's event loop."""

    async def create() -> dict[str, int]:
        db = Database(database_url)
        found = {}
        try:
            async with db.transaction() as conn:
                for number, (legal_name, title) in enumerate(ADDONS):
                    merchant = await merchants_service.create_merchant(
                        conn, name=title, legal_name=legal_name
                    )
                    point = await marketplace_service.create_point_of_sale(
                        conn,
                        merchant_id=merchant.id,
                        title=title,
                        description="Услуга к перелёту",
                        mini_app={"url": f"http://127.0.0.1:9/{number}", "modes": ["suborder"]},
                    )
                    found[title] = int(point["id"])
                await office_service.create_user(
                    conn,
                    email=MERCHANT if merchant_user else OPERATOR,
                    merchant_id=DEMO_MERCHANT_ID,
                    role="merchant" if merchant_user else "operator",
                    password=PASSWORD,
                )
            return found
        finally:
            await db.dispose()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, create()).result()


def flight(server: str, **overrides: object) -> str:
    """A new invoice's paymentUrl."""
    items = [basket_item(name="Авиабилет", amount=Decimal("12480.00"))]
    return str(create_order(server, items=items, **overrides)["paymentUrl"])


def shown_cards(page: Page) -> list[str]:
    """The titles of the strip's visible cards, left to right."""
    cards = page.locator("[data-addon-card]")
    return [
        cards.nth(i).locator(".service-card__title").inner_text()
        for i in range(cards.count())
        if cards.nth(i).is_visible()
    ]


def log_in(page: Page, server: str, email: str) -> None:
    page.goto(f"{server}/office/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url("**/office/orders")


def screenshot(page: Page, name: str) -> None:
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOT_DIR) / name), full_page=True)


def test_the_operator_orders_and_limits_the_strip_the_payer_sees(
    server: str, sqlite_url: str, browser: Browser
) -> None:
    ids = set_up(sqlite_url)
    taxi, insurance, lounge = (ids[title] for _, title in ADDONS)
    payment_url = flight(server)
    office = browser.new_page(viewport={"width": 1280, "height": 800})
    office.set_default_timeout(TIMEOUT_MS)
    log_in(office, server, OPERATOR)

    office.goto(f"{server}/office/operator/addons")
    office.fill(f"input[name=position_{lounge}]", "1")
    office.fill(f"input[name=position_{taxi}]", "2")
    # Enter in a position field saves the order (not a row's «Отозвать», its own form's).
    office.press(f"input[name=position_{taxi}]", "Enter")
    office.wait_for_url("**/office/operator/addons?done=order")
    assert office.locator('[data-status="approved"]').count() == len(ADDONS)
    office.fill("input[name=limit]", "2")
    office.locator("[data-limit-form] button[type=submit]").click()
    office.wait_for_url("**/office/operator/addons?done=limit")
    assert "Ограничение числа карточек сохранено." in office.inner_text("[role=status]")
    rows = office.locator("[data-addon]")
    assert [rows.nth(i).get_attribute("data-addon") for i in range(3)] == [
        str(lounge),
        str(taxi),
        str(insurance),
    ]
    screenshot(office, "operator-addons-1280.png")
    office.set_viewport_size({"width": 390, "height": 844})
    screenshot(office, "operator-addons-390.png")
    office.close()

    for width, height in ((390, 844), (1280, 800)):
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(payment_url)
        page.locator("[data-addons]").wait_for(state="visible")
        assert shown_cards(page) == ["Бизнес-зал", "Такси в аэропорт"]
        page.locator("[data-addons]").scroll_into_view_if_needed()
        screenshot(page, f"addon-strip-{width}.png")
        page.close()
    assert insurance not in (taxi, lounge)


def test_no_strip_when_the_seller_turned_add_ons_off(
    server: str, sqlite_url: str, browser: Browser
) -> None:
    set_up(sqlite_url)
    offered = flight(server, merchant_order_id="FLIGHT-1")
    opted_out = flight(server, merchant_order_id="FLIGHT-2", orderSetting={"allowAddons": False})
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.set_default_timeout(TIMEOUT_MS)

    page.goto(offered)
    page.locator("[data-addons]").wait_for(state="visible")
    assert len(shown_cards(page)) == len(ADDONS)  # no limit by default, oldest first
    assert shown_cards(page)[0] == "Такси в аэропорт"
    page.goto(opted_out)
    page.wait_for_load_state("load")  # the page's modules have run: a strip would be shown
    assert page.locator("[data-addons]").is_hidden()
    assert page.locator("[data-addon-card]").count() == 0
    assert page.locator("#summary-title").is_visible()  # the page itself is there
    assert not page.get_by_role("heading", name="Дополнительные услуги").is_visible()
    page.close()


def create_shop(server: str, title: str) -> int:
    """A point of sale of the demo shop over the API; its id."""
    response = httpx.post(
        f"{server}/v3/marketplace/api/shop", content=body({"title": title}), headers=DEMO_AUTH
    )
    assert response.status_code == 200, response.text
    return int(read(response)["data"]["id"])


def test_a_merchant_turns_add_ons_off_for_a_point_of_sale_in_the_office(
    server: str, sqlite_url: str, browser: Browser
) -> None:
    set_up(sqlite_url, merchant_user=True)
    shop_id = create_shop(server, "Рейсы")
    payment_url = flight(server, shopId=shop_id)
    office = browser.new_page(viewport={"width": 1280, "height": 800})
    office.set_default_timeout(TIMEOUT_MS)
    log_in(office, server, MERCHANT)

    office.goto(f"{server}/office/points-of-sale")
    row = office.locator(f'tr[data-pos="{shop_id}"]')
    assert "Предлагаются" in row.inner_text()
    row.get_by_role("button", name="Выключить").click()
    office.wait_for_url("**/office/points-of-sale?done=addons_off")

    assert "Выключены" in office.locator(f'tr[data-pos="{shop_id}"]').inner_text()
    screenshot(office, "points-of-sale-1280.png")
    office.set_viewport_size({"width": 390, "height": 844})
    screenshot(office, "points-of-sale-390.png")
    office.goto(payment_url)
    office.wait_for_load_state("load")
    assert office.locator("#summary-title").is_visible()
    assert office.locator("[data-addon-card]").count() == 0
    office.close()
