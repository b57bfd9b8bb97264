"""The official MCP server's exact requests for refunds and shipments (docs/api.md; its
wire habits: chunked POST bodies without Content-Length, percent-encoded query keys, a full
refund as one quantity-1 line per item carrying the whole remaining total, lookups by number
through the order list, shipment lists by orderId), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx

from marketbox.payments import service as payments_service
from marketbox.storage.db import Database
from tests.conftest import body, read
from tests.support.builders import basket_item, order_payload

ORDERS = "/v3/billing/api/order/order"


def chunked(payload: dict[str, Any]) -> AsyncIterator[bytes]:
    """The body as the MCP server sends it: Transfer-Encoding chunked, no Content-Length."""
    raw = body(payload)

    async def chunks() -> AsyncIterator[bytes]:
        yield raw[: len(raw) // 2]
        yield raw[len(raw) // 2 :]

    return chunks()


async def paid(api: httpx.AsyncClient, db: Database) -> dict[str, Any]:
    items = [
        basket_item(
            sku="t", name="Билет", quantity=3, amount=Decimal("123.96"), vat_code="RUS_VAT20"
        )
    ]
    order = read(await api.post(ORDERS, content=body(order_payload(items=items))))["data"]
    async with db.transaction() as conn:
        await payments_service.pay_container(
            conn,
            container_id=order["orderContainerId"],
            method="card",
        )
    return order


async def test_a_full_refund_as_the_mcp_server_sends_it(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await paid(api, db)
    number = "mcp-20261206-1a2b3c4d"
    full_line = {
        "sku": "t",
        "name": "Билет",
        "measure": "шт.",
        "measureCode": "796",
        "quantity": 1,
        "amount": Decimal("371.88"),
        "amountWoVat": Decimal("309.90"),
        "totalAmount": Decimal("371.88"),
        "totalVatAmount": Decimal("61.98"),
        "vatCode": "RUS_VAT20",
        "type": "commodity",
        "paymentType": "full_payment",
    }
    refund = {
        "parentId": order["id"],
        "merchantOrderId": number,
        "description": "Возврат по заказу",
        "amount": Decimal("371.88"),
        "vatAmount": Decimal("61.98"),
        "basketItems": [full_line],
    }

    created = await api.post(
        "/v3/billing/api/order/refund-order",
        content=chunked(refund),
        headers={"Content-Type": "application/json"},
    )
    assert created.status_code == 200, created.text
    assert "content-length" not in created.request.headers
    # Its retry after an unknown result: the same number is refused, and the lookup finds it.
    again = await api.post(
        "/v3/billing/api/order/refund-order",
        content=chunked(refund),
        headers={"Content-Type": "application/json"},
    )
    assert read(again)["error"]["code"] == "merchant_order_id_duplicate"
    found = await api.get(f"/v3/filter/api/order/order?merchantOrderId={number}&_pageSize=2")
    assert [o["id"] for o in read(found)["data"]] == [read(created)["data"]["id"]]
    left = read(await api.get(f"{ORDERS}/{order['id']}/refund-basket-item"))["data"]
    assert left[0]["availableAmount"] == Decimal("0.00")


async def test_shipments_as_the_mcp_server_registers_and_lists_them(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await paid(api, db)
    shipment = {
        "orderId": order["id"],
        "documentNumber": "UPD-17",
        "documentDate": "2026-12-06",
        "basketItems": order["basketItems"],
        "final": True,
    }

    created = await api.post(
        "/v3/billing/api/order/shipment",
        content=chunked(shipment),
        headers={"Content-Type": "application/json"},
    )
    assert created.status_code == 200, created.text
    listed = await api.get(
        f"/v3/billing/api/order/shipment?orderId={order['id']}&_page=1&_pageSize=50"
        "&_order%5BcreatedAt%5D=asc"
    )
    rows = read(listed)["data"]
    assert [r["orderId"] for r in rows] == [order["id"]]
    assert {"basketItems", "createdAt", "documentNumber"} <= set(rows[0])
    shipped = sum(
        (Decimal(str(i["totalAmount"])) for r in rows for i in r["basketItems"]), Decimal(0)
    )
    assert shipped == order["amount"]
    # No cancel of a completed order (its client-side rule is the server's too).
    assert (
        read(await api.delete(f"{ORDERS}/{order['id']}"))["error"]["code"] == "wrong_order_status"
    )
