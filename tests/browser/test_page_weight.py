"""The payment page on a bad network (issue 10, item 11), measured by Chromium's own network
log as bench/page_weight.py does: a first visit transfers at most 25 KB in all (HTML, CSS,
scripts, the favicon; compressed), a repeat visit in a new tab asks the server for the page
only (every asset from the cache, not even revalidated)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bench.page_weight import FIRST_VISIT_BYTES, measure_payment_page
from playwright.sync_api import Browser

from marketbox.web.assets import ASSETS
from tests.browser.bridge_support import BROWSER_MARKS
from tests.support.builders import basket_item
from tests.support.shops import add_taxi_merchant, create_order

pytestmark = BROWSER_MARKS


def assert_light(weight: dict[str, Any], base_url: str) -> None:
    first, repeat = weight["first"], weight["repeat"]
    assert 0 < first["transferred"] <= FIRST_VISIT_BYTES, first["sizes"]
    # Everything the page loads comes from us, under a content-hashed name, but the page.
    assets = [url for url in first["requests"] if "/static/" in url]
    assert f"{base_url}{ASSETS.url('marketbox.css')}" in assets
    assert repeat["requests"] == [first["requests"][0]]  # the page (no-store), nothing else
    assert sorted(repeat["cached"]) == sorted(first["requests"][1:])


def test_the_payment_page_is_light_and_cached(server: str, browser: Browser) -> None:
    order = create_order(server)
    weight = measure_payment_page(browser, order["paymentUrl"])
    assert_light(weight, server)
    first = weight["first"]
    assert f"{server}{ASSETS.url('favicon.svg')}" in first["requests"]
    assert first["transferred"] < 20 * 1024  # today ~16 KB: room kept for the add-ons' scripts


def test_the_payment_page_with_add_on_services_too(
    server: str, sqlite_url: str, browser: Browser
) -> None:
    taxi = add_taxi_merchant(sqlite_url)
    main = create_order(server, items=[basket_item(name="Авиабилет", amount=Decimal("500.00"))])
    create_order(
        server,
        {"Authorization": f"Bearer {taxi.token}"},
        merchant_id=taxi.id,
        merchant_order_id="TAXI-1",
        orderContainerId=main["orderContainerId"],
        items=[basket_item(name="Такси «Комфорт»", amount=Decimal("210.00"))],
    )
    weight = measure_payment_page(browser, main["paymentUrl"])
    # The add-ons' script is loaded too, by its hashed URL; the host bridge only once the buyer
    # moves towards a card (addons.js imports it then).
    requested = weight["first"]["requests"]
    assert f"{server}{ASSETS.url('addons.js')}" in requested
    assert f"{server}{ASSETS.url('/static/miniapp/bridge.js')}" not in requested
    assert_light(weight, server)
