"""Reads never write: an order past its deadline READS as expired everywhere, while only the
worker's sweep (or a change that depends on the deadline) records the expiry and notifies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from marketbox import clock
from marketbox.merchants import service as merchants_service
from marketbox.orders import service as orders_service
from marketbox.payments import service as payments_service
from marketbox.storage.db import Database
from marketbox.storage.tables import notifications, order_containers, orders
from tests.conftest import body, read
from tests.support.builders import order_payload

ORDERS = "/v3/billing/api/order/order"
LIST = "/v3/filter/api/order/order"
INVOICES = "/v3/payment/api/invoice"


async def create(api: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await api.post(ORDERS, content=body(order_payload(**overrides)))
    assert response.status_code == 200, response.text
    return read(response)["data"]


@pytest.fixture
def restore_clock() -> Iterator[None]:
    """The test moves the clock forward; the real one is back afterwards."""
    yield
    clock.set_now(None)


def move_clock(by: timedelta) -> None:
    later = clock.now() + by
    clock.set_now(lambda: later)


async def recorded(db: Database, *order_ids: str) -> tuple[list[str], str, int]:
    """(the orders' stored statuses, their container's, how many `expired` notifications)."""
    async with db.transaction() as conn:
        rows = (await conn.execute(select(orders).where(orders.c.id.in_(order_ids)))).all()
        container_id = rows[0]._mapping["container_id"]
        container = (
            await conn.execute(
                select(order_containers.c.status).where(order_containers.c.id == container_id)
            )
        ).scalar_one()
        sent = (
            await conn.execute(select(notifications).where(notifications.c.event == "expired"))
        ).all()
    return sorted(r._mapping["status"] for r in rows), container, len(sent)


async def test_every_read_shows_the_expiry_and_none_records_it(
    api: httpx.AsyncClient, client: httpx.AsyncClient, db: Database, restore_clock: None
) -> None:
    main = await create(api, merchant_order_id="MAIN", expires_in=timedelta(hours=1))
    sub = await create(api, merchant_order_id="SUB", orderContainerId=main["orderContainerId"])
    move_clock(timedelta(hours=2))
    async with db.transaction() as conn:
        bank = await merchants_service.create_instrument(conn, name="Банк")
    bank_auth = {"Authorization": f"Bearer {bank.token}"}

    one = read(await api.get(f"{ORDERS}/{sub['id']}"))["data"]
    listed = read(await api.get(LIST, params={"status": "expired"}))["data"]
    still_created = read(await api.get(LIST, params={"status": "created"}))["data"]
    page = await client.get(f"/order/{main['orderContainerId']}")
    invoice = read(await client.get(f"{INVOICES}/{main['orderContainerId']}", headers=bank_auth))[
        "data"
    ]
    invoices = read(await client.get(INVOICES, headers=bank_auth))["data"]
    async with db.transaction() as conn:
        status = await payments_service.effective_status(conn, main["orderContainerId"])

    # Shown as expired: the sub-order too (its container's main order is past its deadline).
    assert one["status"] == "expired"
    assert {o["id"] for o in listed} == {main["id"], sub["id"]}
    assert still_created == []
    assert page.status_code == 200
    assert invoice["status"] == "canceled"  # the invoice enum has no `expired` (api.md §13.1)
    assert [i["status"] for i in invoices] == ["canceled"]
    assert status == "expired"
    # ... and nothing written, nobody notified.
    assert await recorded(db, main["id"], sub["id"]) == (["created", "created"], "pending", 0)

    # The worker's sweep records it and notifies each shop once.
    async with db.transaction() as conn:
        swept = await orders_service.expire_due(conn)
    assert swept == 2
    assert await recorded(db, main["id"], sub["id"]) == (["expired", "expired"], "expired", 2)


async def test_an_addon_past_its_own_deadline_reads_expired_alone(
    api: httpx.AsyncClient, db: Database, restore_clock: None
) -> None:
    main = await create(api, merchant_order_id="MAIN", expires_in=timedelta(days=2))
    sub = await create(
        api,
        merchant_order_id="SUB",
        orderContainerId=main["orderContainerId"],
        expires_in=timedelta(hours=1),
    )
    move_clock(timedelta(hours=2))

    assert read(await api.get(f"{ORDERS}/{sub['id']}"))["data"]["status"] == "expired"
    assert read(await api.get(f"{ORDERS}/{main['id']}"))["data"]["status"] == "created"
    async with db.transaction() as conn:
        status = await payments_service.effective_status(conn, main["orderContainerId"])
    assert status == "pending"
    assert await recorded(db, main["id"], sub["id"]) == (["created", "created"], "pending", 0)


async def test_a_change_sees_the_passed_deadline(
    api: httpx.AsyncClient, db: Database, restore_clock: None
) -> None:
    main = await create(api, merchant_order_id="MAIN", expires_in=timedelta(hours=1))
    move_clock(timedelta(hours=2))

    update = await api.put(f"{ORDERS}/{main['id']}", content=body({"description": "Новое"}))
    cancel = await api.delete(f"{ORDERS}/{main['id']}")
    shown = read(await api.get(f"{ORDERS}/{main['id']}"))["data"]

    for refused in (update, cancel):
        assert refused.status_code == 422
        assert read(refused)["error"]["code"] == "wrong_order_status"
    assert shown["status"] == "expired"
    assert shown["description"] == main["description"]
