"""The payment page in headless Chromium against a live uvicorn server (SQLite): a shop creates
an order over HTTP, the payer opens its paymentUrl, fills the form, pays with a test card and
lands on the success page; the API then reports the order completed.

Set MARKETBOX_SCREENSHOT_DIR to keep screenshots of the page at 390 and 1280 px."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.browser.bridge_support import BROWSER_MARKS
from tests.conftest import DEMO_AUTH, body, read
from tests.support.builders import basket_item, order_payload
from tests.support.shops import add_taxi_merchant, create_order

pytestmark = BROWSER_MARKS

ORDERS = "/v3/billing/api/order/order"
TIMEOUT_MS = 10_000
SCREENSHOT_DIR = os.environ.get("MARKETBOX_SCREENSHOT_DIR")


def get_order(base_url: str, order_id: str) -> dict[str, Any]:
    response = httpx.get(f"{base_url}{ORDERS}/{order_id}", headers=DEMO_AUTH)
    assert response.status_code == 200, response.text
    return read(response)["data"]


def open_page(browser: Browser, url: str, width: int) -> tuple[Page, list[str]]:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console: {msg.text}")
            if msg.type == "error" and "Failed to load resource" not in msg.text
            else None
        ),
    )
    # The browser asks for /favicon.ico on its own; every other request must succeed.
    page.on(
        "response",
        lambda r: (
            problems.append(f"HTTP {r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    page.goto(url)
    return page, problems


def screenshot(page: Page, name: str) -> None:
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOT_DIR) / name), full_page=True)


def test_payer_pays_with_a_test_card(server: str, browser: Browser) -> None:
    items = [
        basket_item(sku="t", name="Аэроэкспресс, стандарт", quantity=2, amount=Decimal("550.00")),
        basket_item(sku="b", name="Багаж", amount=Decimal("134.56"), vat_code="RUS_VAT20"),
    ]
    order = create_order(server, items=items, returnUrl=f"{server}/")
    assert order["paymentUrl"].startswith(f"{server}/order/")

    page, problems = open_page(browser, order["paymentUrl"], 390)
    button = page.locator("[data-pay-button]")
    assert button.inner_text().split("\n") == ["Оплатить", "1\u00a0234,56\u00a0₽"]
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390  # no sideways scroll
    screenshot(page, "payment-page-390.png")

    page.fill("#payer-name", "Пётр Петров")
    page.fill("#payer-email", "petr@example.com")
    page.fill("#payer-phone", "+7 999 123 45 67")
    page.locator("#card_number").press_sequentially("4242424242424242")
    page.locator("#card_expiry").press_sequentially("1239")
    page.fill("#card_cvc", "123")
    assert page.input_value("#card_number") == "4242 4242 4242 4242"
    assert page.input_value("#card_expiry") == "12/39"
    button.click()

    page.wait_for_url(f"{order['paymentUrl']}/success")
    assert "Оплата прошла" in page.inner_text("h1")
    assert "4242" in page.inner_text("main")
    screenshot(page, "success-390.png")
    paid = get_order(server, order["id"])
    assert paid["status"] == "completed" and "paidAt" in paid
    assert problems == []


def test_desktop_layout_and_payer_type_switch(server: str, browser: Browser) -> None:
    order = create_order(server, returnUrl=f"{server}/")

    page, problems = open_page(browser, order["paymentUrl"], 1280)
    summary = page.locator(".pay-layout__aside").bounding_box()
    main = page.locator(".pay-layout__main").bounding_box()
    pay_bar = page.locator(".pay-bar").bounding_box()
    assert summary and main and pay_bar
    assert main["x"] < summary["x"]  # the summary column on the right
    assert abs(pay_bar["x"] - summary["x"]) < 1  # the pay button under the summary
    assert page.locator("#payer-inn").is_hidden()
    page.check("input[name=customer_type][value=legal]")
    assert page.locator("#payer-inn").is_visible()
    screenshot(page, "payment-page-1280-legal.png")

    page.goto(f"{order['paymentUrl']}?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("[data-pay-button]").inner_text().startswith("Pay")
    assert problems == []


def test_a_second_submit_is_blocked(server: str, browser: Browser) -> None:
    order = create_order(server)
    page, problems = open_page(browser, order["paymentUrl"], 1280)
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.fill("#card_number", "4242 4242 4242 4242")
    page.fill("#card_expiry", "12/39")
    page.fill("#card_cvc", "123")

    # A listener added after the page's own sees whether that one cancelled the submit.
    seen = page.evaluate(
        """() => {
            const form = document.querySelector("[data-pay-form]");
            const prevented = [];
            form.addEventListener("submit", (event) => prevented.push(event.defaultPrevented));
            form.requestSubmit();
            form.requestSubmit();
            const button = form.querySelector("[data-pay-button]");
            return {prevented, busy: button.getAttribute("aria-busy")};
        }"""
    )

    assert seen == {"prevented": [False, True], "busy": "true"}
    page.wait_for_url(f"{order['paymentUrl']}/success")
    assert posts == [f"{order['paymentUrl']}/pay"]
    assert get_order(server, order["id"])["status"] == "completed"
    assert problems == []


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_buyer_removes_an_add_on_before_paying(
    server: str, sqlite_url: str, browser: Browser, javascript: bool
) -> None:
    taxi = add_taxi_merchant(sqlite_url)
    main = create_order(server, items=[basket_item(name="Авиабилет", amount=Decimal("500.00"))])
    addon = httpx.post(
        f"{server}{ORDERS}",
        content=body(
            order_payload(
                merchant_id=taxi.id,
                merchant_order_id="TAXI-1",
                orderContainerId=main["orderContainerId"],
                items=[basket_item(name="Такси «Комфорт»", amount=Decimal("210.00"))],
            )
        ),
        headers={"Authorization": f"Bearer {taxi.token}"},
    )
    assert addon.status_code == 200, addon.text

    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(main["paymentUrl"])
    assert "710,00" in page.inner_text("[data-total]")
    remove = page.get_by_role("button", name="Удалить услугу: ООО «Такси Плюс»")
    assert remove.count() == 1  # the main order has no such button
    remove.click()

    page.wait_for_url(main["paymentUrl"])
    assert "500,00" in page.inner_text("[data-total]")
    assert "Такси «Комфорт»" not in page.inner_text("[data-order-list]")
    taxi_order = httpx.get(
        f"{server}{ORDERS}/{read(addon)['data']['id']}",
        headers={"Authorization": f"Bearer {taxi.token}"},
    )
    assert read(taxi_order)["data"]["status"] == "canceled"
    assert get_order(server, main["id"])["status"] == "created"
    context.close()
