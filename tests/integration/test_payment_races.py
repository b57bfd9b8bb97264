"""Many payments of one invoice at once, on SQLite and PostgreSQL: exactly one wins.

Two ways in: the payment page over HTTP (the ASGI client, every request its own transaction)
and the payment service directly (every attempt its own transaction). Either way the invoice
is paid once, with one succeeded payment row, its orders completed once and one outbox
notification per order.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from marketbox.payments import service as payments_service
from marketbox.payments.errors import AlreadyPaid
from marketbox.storage.db import Database
from marketbox.storage.tables import notifications, orders, payments
from tests.integration.test_payment_page import create, open_page, page_path, pay_form
from tests.support.builders import basket_item

ATTEMPTS = 20


async def invoice_with_suborder(api: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    main = await create(api, merchant_order_id="RACE-MAIN")
    sub = await create(
        api,
        merchant_order_id="RACE-ADDON",
        orderContainerId=main["orderContainerId"],
        items=[basket_item(amount=Decimal("49.90"))],
    )
    return main, sub


async def assert_paid_exactly_once(db: Database, container_id: str, order_ids: list[str]) -> None:
    async with db.transaction() as conn:
        payment_rows = (
            await conn.execute(select(payments).where(payments.c.container_id == container_id))
        ).all()
        order_rows = (
            await conn.execute(select(orders).where(orders.c.container_id == container_id))
        ).all()
        outbox = (
            await conn.execute(
                select(notifications.c.order_id, notifications.c.event).where(
                    notifications.c.order_id.in_(order_ids)
                )
            )
        ).all()

    succeeded = [p for p in payment_rows if p._mapping["status"] == "succeeded"]
    assert len(succeeded) == 1
    assert succeeded[0]._mapping["amount_minor"] == 14990
    assert {o._mapping["status"] for o in order_rows} == {"completed"}
    assert len({o._mapping["paid_at"] for o in order_rows}) == 1
    assert Counter(order_id for order_id, event in outbox if event == "paid") == {
        order_id: 1 for order_id in order_ids
    }


async def test_concurrent_page_payments_pay_once(api: httpx.AsyncClient, db: Database) -> None:
    main, sub = await invoice_with_suborder(api)
    path = page_path(main)
    page = await open_page(api, path)
    form = pay_form(page)

    responses = await asyncio.gather(*(api.post(f"{path}/pay", data=form) for _ in range(ATTEMPTS)))

    codes = Counter(r.status_code for r in responses)
    assert codes == {303: 1, 409: ATTEMPTS - 1}, codes
    [winner] = [r for r in responses if r.status_code == 303]
    assert winner.headers["location"] == f"{path}/success"
    for loser in (r for r in responses if r.status_code == 409):
        assert 'data-status="paid"' in loser.text, re.findall(r'data-status="[^"]*"', loser.text)
    await assert_paid_exactly_once(db, main["orderContainerId"], [main["id"], sub["id"]])


async def test_concurrent_service_payments_pay_once(api: httpx.AsyncClient, db: Database) -> None:
    main, sub = await invoice_with_suborder(api)
    container_id = main["orderContainerId"]

    async def attempt() -> str:
        try:
            async with db.transaction() as conn:
                await payments_service.pay_container(
                    conn,
                    container_id=container_id,
                    method="card",
                    expected_amount=Decimal("149.90"),
                    card_last4="4242",
                )
        except AlreadyPaid:
            return "already_paid"
        return "paid"

    outcomes = Counter(await asyncio.gather(*(attempt() for _ in range(ATTEMPTS))))

    assert outcomes == {"paid": 1, "already_paid": ATTEMPTS - 1}
    await assert_paid_exactly_once(db, container_id, [main["id"], sub["id"]])
