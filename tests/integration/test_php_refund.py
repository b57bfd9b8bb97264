"""Refunds as the official PHP SDK makes them (api.md §9 and the PHP SDK addendum), on SQLite
and PostgreSQL.

A PHP shop asks `getRefundableItems` and passes the lines straight back into `createRefund`,
so `refund-basket-item` must answer each line's `quantity` and totals as what is still
refundable, and a line refunded in full (quantity 0) must ask for nothing. The bodies are
what PHP's `json_encode` writes: Cyrillic as \\uXXXX, `/` as `\\/`, whole amounts as integers,
null fields left out, `"status":"created"` and never `merchantId` or `currencyId`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx

from marketbox.storage.db import Database
from tests.conftest import read
from tests.integration.test_refunds import BAGGAGE, TICKETS, line, paid_order, refund

ORDERS = "/v3/billing/api/order/order"
REFUNDS = "/v3/billing/api/order/refund-order"


def php_json(value: Any) -> bytes:
    """`json_encode` as the PHP SDK calls it."""

    def php(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: php(x) for k, x in v.items() if x is not None}
        if isinstance(v, list):
            return [php(x) for x in v]
        if isinstance(v, Decimal):
            return int(v) if v == v.to_integral_value() else float(v)
        return v

    return json.dumps(php(value), separators=(",", ":")).replace("/", "\\/").encode()


async def refundable(api: httpx.AsyncClient, order: dict[str, Any]) -> list[dict[str, Any]]:
    response = await api.get(f"{ORDERS}/{order['id']}/refund-basket-item")
    assert response.status_code == 200, response.text
    data = read(response)["data"]
    assert isinstance(data, list)  # a bare list of basket items
    return data


async def create_refund(
    api: httpx.AsyncClient, order: dict[str, Any], number: str, items: list[dict[str, Any]]
) -> httpx.Response:
    """RefundOrderRequest as the SDK serializes it, with the items a shop got back."""
    lines = [{k: v for k, v in i.items() if not k.startswith("available")} for i in items]
    payload = {
        "parentId": order["id"],
        "merchantOrderId": number,
        "amount": sum((i["totalAmount"] for i in lines), Decimal(0)),
        "vatAmount": sum((i["totalVatAmount"] for i in lines), Decimal(0)),
        "basketItems": lines,
        "description": "Возврат заказа",
        "status": "created",
    }
    return await api.post(REFUNDS, content=php_json(payload))


async def test_the_lines_a_shop_gets_back_refund_everything_that_is_left(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await paid_order(api, db)
    one_ticket = line("ticket", "123.96", "20.66", "RUS_VAT20")
    assert (await api.post(REFUNDS, content=refund(order, "MCP-1", one_ticket))).status_code == 200

    left = await refundable(api, order)
    tickets = left[0]
    assert (tickets["quantity"], tickets["totalAmount"], tickets["totalVatAmount"]) == (
        2,
        Decimal("247.92"),
        Decimal("41.32"),
    )
    assert tickets["amount"] == TICKETS["amount"]  # whole units keep their price
    assert left[1]["totalAmount"] == BAGGAGE["totalAmount"]

    rest = await create_refund(api, order, "PHP-1", left)

    assert rest.status_code == 200, rest.text
    created = read(rest)["data"]
    assert created["amount"] == Decimal("1747.92")  # 1 871.88 paid - 123.96 refunded
    assert created["status"] == "created"
    gone = await refundable(api, order)
    assert [(i["quantity"], i["availableAmount"]) for i in gone] == [
        (0, Decimal("0.00")),
        (0, Decimal("0.00")),
    ]
    # Passing the empty list back asks for nothing: a clear 422, nothing refunded.
    nothing = await create_refund(api, order, "PHP-2", gone)
    assert nothing.status_code == 422
    assert read(nothing)["error"]["fields"][0]["name"] == "basketItems"


async def test_a_line_refunded_in_full_is_skipped_when_passed_back(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await paid_order(api, db)
    assert (
        await api.post(REFUNDS, content=refund(order, "MCP-1", line("bag", "1500.00")))
    ).status_code == 200

    left = await refundable(api, order)
    answer = await create_refund(api, order, "PHP-1", left)

    assert answer.status_code == 200, answer.text
    created = read(answer)["data"]
    assert [i["sku"] for i in created["basketItems"]] == ["ticket"]
    assert created["amount"] == Decimal("371.88")


async def test_a_part_of_a_unit_left_comes_back_as_one_unit(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await paid_order(api, db)
    partial = line("bag", "1000.01")
    assert (await api.post(REFUNDS, content=refund(order, "MCP-1", partial))).status_code == 200

    bag = (await refundable(api, order))[1]

    assert (bag["quantity"], bag["amount"], bag["totalAmount"]) == (
        1,
        Decimal("499.99"),
        Decimal("499.99"),
    )
    answer = await create_refund(api, order, "PHP-1", [bag])
    assert answer.status_code == 200, answer.text
    assert read(answer)["data"]["amount"] == Decimal("499.99")
