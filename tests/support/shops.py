"""Shops the payment-page browser tests set up: a demo-merchant order over the API, and a second
merchant whose point of sale is an add-on."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

import httpx

from marketbox.marketplace import service as marketplace_service
from marketbox.merchants import service as merchants_service
from marketbox.storage.db import Database
from tests.conftest import DEMO_AUTH, body, read
from tests.support.builders import order_payload

ORDERS = "/v3/billing/api/order/order"


def create_order(base_url: str, auth: dict[str, str] = DEMO_AUTH, **overrides: Any) -> Any:
    """An order created over HTTP (the demo merchant's by default); its `data`."""
    response = httpx.post(
        f"{base_url}{ORDERS}", content=body(order_payload(**overrides)), headers=auth
    )
    assert response.status_code == 200, response.text
    return read(response)["data"]


def add_taxi_merchant(database_url: str, *, name: str = "Такси") -> merchants_service.Credentials:
    """A merchant «ООО «Такси Плюс»» whose point of sale «Такси в аэропорт» is an add-on
    (a suborder mini-app). Runs on a thread of its own: Playwright's sync API owns the test
    thread's event loop."""

    async def create() -> merchants_service.Credentials:
        db = Database(database_url)
        try:
            async with db.transaction() as conn:
                merchant = await merchants_service.create_merchant(
                    conn, name=name, legal_name="ООО «Такси Плюс»"
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

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, create()).result()
