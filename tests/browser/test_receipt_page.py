"""The buyer's receipt page in headless Chromium (live uvicorn, SQLite): after a card payment
and a shipment, the payment confirmation («Подтверждение оплаты») is followed by the 54-FZ
fiscal receipts («Кассовый чек»), readable at 390 px without sideways scrolling and at 1280 px.

Set MARKETBOX_SCREENSHOT_DIR to keep screenshots of the page at 390x844 and 1280x800."""

from __future__ import annotations

from decimal import Decimal

import httpx
from playwright.sync_api import Browser

from tests.browser.bridge_support import BROWSER_MARKS
from tests.browser.test_payment_page import screenshot
from tests.conftest import DEMO_AUTH, body
from tests.support.builders import basket_item
from tests.support.shops import create_order

pytestmark = BROWSER_MARKS

TIMEOUT_MS = 10_000
COFFEE = basket_item(
    sku="coffee",
    name="Кофе в зёрнах, Эфиопия Иргачефф, обжарка под эспрессо",
    quantity=Decimal("2.5"),
    amount=Decimal("1234.56"),
    vat_code="RUS_VAT20",
    measure="кг",
    measureCode="166",
    type="commodity",
)
TASTING = basket_item(
    sku="tasting",
    name="Дегустация, 14 июля, 18:00",
    amount=Decimal("700.00"),
    vat_code="RUS_VAT10",
    paymentType="full_payment",
)


def test_receipt_page_shows_the_fiscal_receipts(server: str, browser: Browser) -> None:
    order = create_order(server, items=[COFFEE, TASTING])
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(order["paymentUrl"])
    page.fill("#payer-email", "petr@example.com")
    page.fill("#card_number", "4242 4242 4242 4242")
    page.fill("#card_expiry", "12/39")
    page.fill("#card_cvc", "123")
    page.locator("[data-pay-button]").click()
    page.wait_for_url(f"{order['paymentUrl']}/success")
    shipped = httpx.post(
        f"{server}/v3/billing/api/order/shipment",
        content=body({"orderId": order["id"], "basketItems": [COFFEE]}),
        headers=DEMO_AUTH,
    )
    assert shipped.status_code == 200, shipped.text

    for width, height in ((390, 844), (1280, 800)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{order['paymentUrl']}/receipt")
        assert page.locator("h1").inner_text() == "Подтверждение оплаты (не кассовый чек)"
        cards = page.locator("article.fiscal")
        assert cards.count() == 2
        assert cards.nth(0).locator("h3").inner_text() == "Кассовый чек · Приход"
        assert "Предоплата 100\u00a0%" in cards.nth(0).inner_text()
        assert "Полный расчёт" in cards.nth(1).inner_text()
        assert page.evaluate("document.scrollingElement.scrollWidth") <= width
        screenshot(page, f"receipt-{width}.png")
