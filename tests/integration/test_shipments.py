"""Shipments (api.md §10) on SQLite and PostgreSQL: register and list on both paths, never more
than the order's amount, a shipment captures a held payment, a final one releases the rest,
the refusals, and cancel after a shipment."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from marketbox.merchants import service as merchants_service
from marketbox.payments import sandbox
from marketbox.payments import service as payments_service
from marketbox.shipments.tables import shipments
from marketbox.storage.db import Database
from tests.conftest import body, read
from tests.support.builders import basket_item, order_payload
from tests.support.statements import statements_sent

ORDERS = "/v3/billing/api/order/order"
SHIPMENTS = "/v3/billing/api/order/shipment"
SHIPMENT_LIST = "/v3/filter/api/order/shipment"
CHAIRS = basket_item(sku="chair", name="Стул", quantity=4, amount=Decimal("2500.00"))


async def paid_order(api: httpx.AsyncClient, db: Database, *, hold: bool = False) -> dict[str, Any]:
    created = read(await api.post(ORDERS, content=body(order_payload(items=[CHAIRS]))))["data"]
    async with db.transaction() as conn:
        await payments_service.pay_container(
            conn,
            container_id=created["orderContainerId"],
            method=sandbox.METHOD_CARD_HOLD if hold else sandbox.METHOD_CARD,
            hold=hold,
        )
    return created


def shipment(order: dict[str, Any], chairs: int, **overrides: Any) -> bytes:
    payload: dict[str, Any] = {
        "orderId": order["id"],
        "documentNumber": f"TORG-{chairs}",
        "documentDate": "2026-12-06",
        "basketItems": [
            basket_item(sku="chair", name="Стул", quantity=chairs, amount=Decimal("2500.00"))
        ],
    }
    payload.update(overrides)
    return body(payload)


async def order_status(api: httpx.AsyncClient, order: dict[str, Any]) -> str:
    return str(read(await api.get(f"{ORDERS}/{order['id']}"))["data"]["status"])


async def test_shipments_are_registered_and_listed_on_both_paths(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await paid_order(api, db)

    response = await api.post(SHIPMENTS, content=shipment(order, 1))

    assert response.status_code == 200, response.text
    created = read(response)["data"]
    assert (created["orderId"], created["amount"], created["status"], created["final"]) == (
        order["id"],
        Decimal("2500.00"),
        "completed",
        False,
    )
    assert (created["documentNumber"], created["documentDate"]) == ("TORG-1", "2026-12-06")
    for path in (SHIPMENT_LIST, SHIPMENTS):  # the documented path and the MCP server's
        listed = read(
            await api.get(
                path,
                params={
                    "orderId": order["id"],
                    "_page": 1,
                    "_pageSize": 50,
                    "_order[createdAt]": "asc",
                },
            )
        )
        assert [s["id"] for s in listed["data"]] == [created["id"]]
        assert listed["data"][0]["orderId"] == order["id"]  # echoed byte for byte


async def test_shipments_never_exceed_the_order_and_final_closes_them(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await paid_order(api, db)
    assert (await api.post(SHIPMENTS, content=shipment(order, 3))).status_code == 200

    too_many = await api.post(SHIPMENTS, content=shipment(order, 2))
    assert too_many.status_code == 422
    assert "2500.00" in read(too_many)["error"]["message"]  # what is left to ship

    last = await api.post(SHIPMENTS, content=shipment(order, 1, final=True))
    assert last.status_code == 200, last.text
    after_final = await api.post(SHIPMENTS, content=shipment(order, 1))
    assert read(after_final)["error"]["code"] == "wrong_order_status"
    shipped = read(await api.get(SHIPMENT_LIST, params={"orderId": order["id"]}))["data"]
    assert sum((s["amount"] for s in shipped), Decimal(0)) == order["amount"]  # to the kopeck


async def test_a_shipment_captures_a_hold_and_a_final_one_releases_the_rest(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await paid_order(api, db, hold=True)
    assert await order_status(api, order) == "hold"

    first = read(await api.post(SHIPMENTS, content=shipment(order, 1)))["data"]
    assert await order_status(api, order) == "completed"
    final = read(await api.post(SHIPMENTS, content=shipment(order, 2, final=True)))["data"]

    async with db.transaction() as conn:
        rows = {
            r.id: r
            for r in (
                await conn.execute(select(shipments).where(shipments.c.order_id == order["id"]))
            ).all()
        }
    assert (rows[first["id"]].captured_minor, rows[first["id"]].released_minor) == (250000, 0)
    assert (rows[final["id"]].captured_minor, rows[final["id"]].released_minor) == (500000, 250000)
    # Once shipped, the order is not canceled any more: a refund gives money back.
    canceled = await api.delete(f"{ORDERS}/{order['id']}")
    assert read(canceled)["error"]["code"] == "wrong_order_status"


async def test_refusals_change_nothing(
    api: httpx.AsyncClient, db: Database, client: httpx.AsyncClient
) -> None:
    order = await paid_order(api, db)
    unpaid = read(await api.post(ORDERS, content=body(order_payload(merchant_order_id="UNPAID"))))[
        "data"
    ]
    async with db.transaction() as conn:
        other = await merchants_service.create_merchant(conn, name="Другой")

    cases = [
        (api, shipment(unpaid, 1), "wrong_order_status"),
        (api, shipment(order, 1, orderId="not-an-id"), "validation_error"),
        (api, shipment(order, 1, documentDate="06.12.2026"), "validation_error"),
        (api, shipment(order, 1, basketItems=[]), "validation_error"),
    ]
    for http, payload, code in cases:
        response = await http.post(SHIPMENTS, content=payload)
        assert response.status_code == 422, response.text
        assert read(response)["error"]["code"] == code
    foreign = await client.post(
        SHIPMENTS, content=shipment(order, 1), headers={"Authorization": f"Bearer {other.token}"}
    )
    assert foreign.status_code == 422
    assert read(foreign)["error"]["fields"][0]["name"] == "orderId"
    assert read(await api.get(SHIPMENT_LIST))["data"] == []


async def test_racing_shipments_of_the_last_amount_ship_it_once(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await paid_order(api, db, hold=True)

    answers = await asyncio.gather(
        *(api.post(SHIPMENTS, content=shipment(order, 4)) for _ in range(5))
    )

    assert sorted(a.status_code for a in answers) == [200, 422, 422, 422, 422]
    shipped = read(await api.get(SHIPMENT_LIST, params={"orderId": order["id"]}))["data"]
    assert [s["amount"] for s in shipped] == [Decimal("10000.00")]
    assert await order_status(api, order) == "completed"


async def test_a_shipment_reads_what_it_needs_once(api: httpx.AsyncClient, db: Database) -> None:
    """A shipment's round trips are what its speed is made of (docs/benchmarks.md): its
    container is found and locked in one statement, and what the shipment has read (the
    container with its payer, the payment) is not read again for its receipt or its release."""
    order = await paid_order(api, db, hold=True)
    await api.post(SHIPMENTS, content=shipment(order, 1))  # the merchant's token, cached

    with statements_sent(db) as statements:
        response = await api.post(SHIPMENTS, content=shipment(order, 3, final=True))

    assert response.status_code == 200, response.text
    # The container locked, the order, its shipments, the payment, the shipment, the order's
    # payment receipts, the supplier, the shipment's receipt.
    assert len(statements) == 8, "\n".join(statements)
    assert sum("order_containers" in s.split("WHERE")[0] for s in statements) == 1
