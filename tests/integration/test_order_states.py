"""Order state transitions of api.md §8.7, through the API and the payment service."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from marketbox import clock
from marketbox.payments import service as payments_service
from marketbox.payments.errors import AlreadyPaid, ContainerNotPayable
from marketbox.storage.db import Database
from marketbox.storage.tables import orders
from tests.conftest import body, read
from tests.support.builders import order_payload

ORDERS = "/v3/billing/api/order/order"


async def create(api: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await api.post(ORDERS, content=body(order_payload(**overrides)))
    assert response.status_code == 200, response.text
    return read(response)["data"]


async def pay(db: Database, order: dict[str, Any], *, hold: bool = False) -> None:
    async with db.transaction() as conn:
        await payments_service.pay_container(
            conn,
            container_id=order["orderContainerId"],
            method="card",
            hold=hold,
            card_last4="4242",
        )


async def status_of(api: httpx.AsyncClient, order: dict[str, Any]) -> str:
    return read(await api.get(f"{ORDERS}/{order['id']}"))["data"]["status"]


async def attempt(api: httpx.AsyncClient, action: str, order: dict[str, Any]) -> httpx.Response:
    url = f"{ORDERS}/{order['id']}"
    if action == "update":
        return await api.put(url, content=body({"description": "Новое описание"}))
    if action == "cancel":
        return await api.delete(url)
    return await api.put(
        f"/v3/billing/api/order/{order['id']}/status", content=body({"status": "completed"})
    )


def refused(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    assert read(response)["error"]["code"] == "wrong_order_status"


async def test_created_can_be_updated_and_canceled(api: httpx.AsyncClient) -> None:
    order = await create(api)

    assert (await attempt(api, "update", order)).status_code == 200
    assert await status_of(api, order) == "created"
    canceled = await attempt(api, "cancel", order)
    assert read(canceled)["data"]["status"] == "canceled"


@pytest.mark.parametrize("action", ["update", "cancel", "set_status"])
async def test_canceled_is_final(api: httpx.AsyncClient, action: str) -> None:
    order = await create(api)
    await attempt(api, "cancel", order)

    refused(await attempt(api, action, order))
    assert await status_of(api, order) == "canceled"


@pytest.mark.parametrize("action", ["update", "cancel", "set_status"])
async def test_completed_refuses_changes(api: httpx.AsyncClient, db: Database, action: str) -> None:
    order = await create(api)
    await pay(db, order)

    refused(await attempt(api, action, order))
    paid = read(await api.get(f"{ORDERS}/{order['id']}"))["data"]
    assert paid["status"] == "completed"
    assert "paidAt" in paid


async def test_paying_twice_is_already_paid(api: httpx.AsyncClient, db: Database) -> None:
    order = await create(api)
    await pay(db, order)

    with pytest.raises(AlreadyPaid):
        await pay(db, order)


async def test_canceled_container_cannot_be_paid(api: httpx.AsyncClient, db: Database) -> None:
    order = await create(api)
    await attempt(api, "cancel", order)

    with pytest.raises(ContainerNotPayable) as caught:
        await pay(db, order)
    assert caught.value.container_status == "canceled"
    assert caught.value.status == 409  # the HTTP status stays intact


async def test_hold_cancels_only_after_shipping_unavailable(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await create(api)
    await pay(db, order, hold=True)
    assert await status_of(api, order) == "hold"

    refused(await attempt(api, "cancel", order))
    refused(await attempt(api, "update", order))
    async with db.transaction() as conn:
        await conn.execute(
            update(orders)
            .where(orders.c.id == order["id"])
            .values(processing_status="shipping_unavailable")
        )
    canceled = await attempt(api, "cancel", order)

    assert read(canceled)["data"]["status"] == "canceled"


async def test_deadline_expires_the_whole_container(api: httpx.AsyncClient, db: Database) -> None:
    main = await create(api, merchant_order_id="MAIN", expires_in=timedelta(hours=1))
    sub = await create(api, merchant_order_id="SUB", orderContainerId=main["orderContainerId"])
    real_now = clock.now()
    clock.set_now(lambda: real_now + timedelta(hours=2))
    try:
        assert await status_of(api, main) == "expired"
        assert await status_of(api, sub) == "expired"  # one container, one deadline
        for action in ("update", "cancel"):
            refused(await attempt(api, action, sub))
        with pytest.raises(ContainerNotPayable):
            await pay(db, main)
        joined = await api.post(
            ORDERS,
            content=body(
                order_payload(
                    merchant_order_id="LATE",
                    orderContainerId=main["orderContainerId"],
                    expires_in=timedelta(days=2),
                )
            ),
        )
        refused(joined)
    finally:
        clock.set_now(None)


async def test_payment_completes_every_order_of_the_container(
    api: httpx.AsyncClient, db: Database
) -> None:
    main = await create(api, merchant_order_id="MAIN")
    sub = await create(api, merchant_order_id="SUB", orderContainerId=main["orderContainerId"])
    gone = await create(api, merchant_order_id="GONE", orderContainerId=main["orderContainerId"])
    await attempt(api, "cancel", gone)

    await pay(db, main)

    assert [await status_of(api, o) for o in (main, sub, gone)] == [
        "completed",
        "completed",
        "canceled",
    ]
    refused(
        await api.post(
            ORDERS,
            content=body(
                order_payload(merchant_order_id="LATE", orderContainerId=main["orderContainerId"])
            ),
        )
    )


async def test_set_status_only_for_non_processable_orders(api: httpx.AsyncClient) -> None:
    processable = await create(api, merchant_order_id="P")
    refused(await attempt(api, "set_status", processable))

    manual = await create(api, merchant_order_id="M", processable=False)
    url = f"/v3/billing/api/order/{manual['id']}/status"
    path = []
    for target in ("completed", "created", "cancelled", "expired"):
        response = await api.put(url, content=body({"status": target}))
        assert response.status_code == 200, response.text
        path.append(read(response)["data"]["status"])

    assert path == ["completed", "created", "canceled", "expired"]
    bad = await api.put(url, content=body({"status": "hold"}))
    assert bad.status_code == 422
    assert read(bad)["error"]["code"] == "validation_error"


async def test_non_processable_order_never_expires_by_itself(api: httpx.AsyncClient) -> None:
    manual = await create(api, processable=False, expires_in=timedelta(hours=1))
    real_now = clock.now()
    clock.set_now(lambda: real_now + timedelta(days=1))
    try:
        assert await status_of(api, manual) == "created"
    finally:
        clock.set_now(None)


async def test_non_processable_container_cannot_be_paid_here(
    api: httpx.AsyncClient, db: Database
) -> None:
    manual = await create(api, merchant_order_id="OUTSIDE", processable=False)

    with pytest.raises(ContainerNotPayable):
        await pay(db, manual)
    assert await status_of(api, manual) == "created"
