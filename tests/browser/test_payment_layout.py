"""What a buyer sees on the payment page, the confirmation and the status pages (issue 10
items 1, 2, 5, 6, 7, 9), in headless Chromium against a live server:

* nothing overlaps: no two pieces of content share pixels, and a sticky bar (the navbar, the
  phone's pay bar) only lets content pass beneath it while it is opaque and at the edge of the
  screen, with 1, 3 and 10 orders at 320-1920 px and several scroll positions;
* no sideways scroll on the payment, success, fail and confirmation pages; amounts never cut;
* each add-on order is named by its point of sale, the seller by display and legal name;
* the card brands, the secure-payment note, the operator's requisites and support contact;
* paying shows «Оплачиваем…» with a spinner in a button that stays on screen;
* the confirmation is not called a receipt, and no letter is promised that is not sent.

Set MARKETBOX_SCREENSHOT_DIR to keep screenshots (docs/img/ takes them from there)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from marketbox.marketplace import service as marketplace_service
from marketbox.merchants import service as merchants_service
from marketbox.storage.db import Database
from tests.browser.bridge_support import BROWSER_MARKS
from tests.conftest import DEMO_AUTH, body, read
from tests.support.builders import basket_item, order_payload
from tests.support.live_server import live_server

pytestmark = BROWSER_MARKS

ORDERS = "/v3/billing/api/order/order"
TIMEOUT_MS = 10_000
SCREENSHOT_DIR = os.environ.get("MARKETBOX_SCREENSHOT_DIR")
WIDTHS = (320, 390, 768, 1280, 1920)
SUPPORT = {
    "support_email": "help@operator.example",
    "support_phone": "+7 800 555-35-35",
    "operator_name": "ООО «Оператор Платежей»",
    "operator_inn": "7707083893",
    "operator_address": "Москва, ул. Примерная, д. 1",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One live server for the module (its invoices are independent of each other)."""
    path = tmp_path_factory.mktemp("layout") / "layout.db"
    with live_server(f"sqlite+aiosqlite:///{path}", **SUPPORT) as base_url:
        yield base_url


def _run(coro: Any) -> Any:
    # Playwright's sync API owns this thread's event loop: database work on a thread of its own.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _database_url(base_url: str) -> str:
    response = httpx.get(f"{base_url}/healthz")
    assert response.status_code == 200
    return ""


def create_order(base_url: str, token: str | None = None, **overrides: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else DEMO_AUTH
    response = httpx.post(
        f"{base_url}{ORDERS}", content=body(order_payload(**overrides)), headers=headers
    )
    assert response.status_code == 200, response.text
    return read(response)["data"]


_TAXI: dict[str, Any] = {}


def taxi(server: str, database_url: str) -> merchants_service.Credentials:
    """A second merchant whose point of sale «Такси в аэропорт» is an add-on."""
    if server not in _TAXI:

        async def create() -> merchants_service.Credentials:
            db = Database(database_url)
            try:
                async with db.transaction() as conn:
                    merchant = await merchants_service.create_merchant(
                        conn, name="Такси Плюс", legal_name="ООО «Такси Плюс»"
                    )
                    await marketplace_service.create_point_of_sale(
                        conn,
                        merchant_id=merchant.id,
                        title="Такси в аэропорт",
                        mini_app={"url": "http://127.0.0.1:9/app", "modes": ["suborder"]},
                    )
                return merchant
            finally:
                await db.dispose()

        _TAXI[server] = _run(create())
    result: merchants_service.Credentials = _TAXI[server]
    return result
