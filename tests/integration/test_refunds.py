"""Refunds (api.md §9.1-§9.3) on SQLite and PostgreSQL: what is left to refund per line, full
and partial refunds checked to the kopeck against the payment, the refusals, the list, the
signed notification, and two refunds of the last available amount at once."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from marketbox.merchants import service as merchants_service
from marketbox.payments import service as payments_service
from marketbox.refunds import service as refunds_service
from marketbox.storage.db import Database
from marketbox.storage.tables import notifications
from tests.conftest import body, read
from tests.support.builders import basket_item, order_payload
from tests.support.statements import statements_sent

ORDERS = "/v3/billing/api/order/order"
REFUNDS = "/v3/billing/api/order/refund-order"
REFUND_LIST = "/v3/filter/api/order/refund-order"
TICKETS = basket_item(
    sku="ticket", name="Билет", quantity=3, amount=Decimal("123.96"), vat_code="RUS_VAT20"
)
BAGGAGE = basket_item(sku="bag", name="Багаж", amount=Decimal("1500.00"))


async def paid_order(api: httpx.AsyncClient, db: Database, **overrides: Any) -> dict[str, Any]:
    payload = order_payload(items=[TICKETS, BAGGAGE], **overrides)
    created = read(await api.post(ORDERS, content=body(payload)))["data"]
    async with db.transaction() as conn:
        await payments_service.pay_container(
            conn,
            container_id=created["orderContainerId"],
            method="card",
        )
    return created


def refund(parent: dict[str, Any], number: str, *lines: dict[str, Any], **overrides: Any) -> bytes:
    payload: dict[str, Any] = {
        "parentId": parent["id"],
        "merchantOrderId": number,
        "description": "Возврат",
        "amount": sum((line["totalAmount"] for line in lines), Decimal(0)),
        "vatAmount": sum((line["totalVatAmount"] for line in lines), Decimal(0)),
        "basketItems": list(lines),
    }
    payload.update(overrides)
    return body(payload)


def line(sku: str, total: str, vat: str = "0.00", vat_code: str = "VATNONE") -> dict[str, Any]:
    """A refund line as the MCP server sends it: quantity 1, the whole amount to give back."""
    return basket_item(
        sku=sku, amount=Decimal(total), vat_code=vat_code, totalVatAmount=Decimal(vat)
    )


async def available(api: httpx.AsyncClient, order: dict[str, Any]) -> dict[str, Decimal]:
    response = await api.get(f"{ORDERS}/{order['id']}/refund-basket-item")
    assert response.status_code == 200, response.text
    return {i["sku"]: i["availableAmount"] for i in read(response)["data"]}


async def test_refundable_items_show_what_is_left_per_line(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await paid_order(api, db)

    response = await api.get(f"{ORDERS}/{order['id']}/refund-basket-item")

    items = read(response)["data"]
    assert [(i["sku"], i["availableAmount"], i["availableVatAmount"]) for i in items] == [
        ("ticket", Decimal("371.88"), Decimal("61.98")),
        ("bag", Decimal("1500.00"), Decimal("0.00")),
    ]
    assert items[0]["quantity"] == 3  # the parent's line as it was paid


async def test_partial_refunds_add_up_to_the_payment_and_no_further(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await paid_order(api, db)

    first = await api.post(
        REFUNDS, content=refund(order, "R-1", line("ticket", "123.96", "20.66", "RUS_VAT20"))
    )
    second = await api.post(REFUNDS, content=refund(order, "R-2", line("bag", "1500.00")))
    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    assert await available(api, order) == {"ticket": Decimal("247.92"), "bag": Decimal("0.00")}

    too_much = await api.post(
        REFUNDS, content=refund(order, "R-3", line("ticket", "247.93", "41.32", "RUS_VAT20"))
    )
    assert too_much.status_code == 422
    assert read(too_much)["error"]["fields"][0]["name"] == "basketItems[0].totalAmount"
    rest = await api.post(
        REFUNDS, content=refund(order, "R-4", line("ticket", "247.92", "41.32", "RUS_VAT20"))
    )
    assert rest.status_code == 200, rest.text

    refunds = read(await api.get(REFUND_LIST, params={"parentId": order["id"]}))["data"]
    total = sum((r["amount"] for r in refunds), Decimal(0))
    assert total == order["amount"] == Decimal("1871.88")  # to the kopeck
    assert await available(api, order) == {"ticket": Decimal("0.00"), "bag": Decimal("0.00")}


async def test_a_refund_is_an_order_of_subtype_refund_found_by_its_number(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await paid_order(api, db)
    created = read(
        await api.post(
            REFUNDS, content=refund(order, "mcp-20261206-0badc0de", line("bag", "1500.00"))
        )
    )["data"]

    assert created["parentId"] == order["id"]
    assert created["status"] == "created"
    assert created["currencyId"] == "RUB"
    found = read(
        await api.get(
            "/v3/filter/api/order/order",
            params={"merchantOrderId": "mcp-20261206-0badc0de", "_pageSize": 2},
        )
    )["data"]
    assert [(o["id"], o["subtype"], o["parentId"]) for o in found] == [
        (created["id"], "refund", order["id"])
    ]


async def test_refusals_change_nothing(api: httpx.AsyncClient, db: Database) -> None:
    order = await paid_order(api, db)
    unpaid = read(
        await api.post(
            ORDERS,
            content=body(order_payload(merchant_order_id="UNPAID")),
        )
    )["data"]
    cases = [
        (refund(unpaid, "X-1", line("sku-1", "100.00")), 422, "wrong_order_status"),
        (refund(order, "X-2", line("nope", "1.00")), 422, "validation_error"),
        (refund(order, "X-3", line("bag", "1500.00"), amount="1400.00"), 422, "wrong_total_amount"),
        (
            refund(order, "X-4", line("bag", "1500.00"), parentId="not-an-id"),
            422,
            "validation_error",
        ),
        (refund(order, "X-5"), 422, "validation_error"),
    ]
    for payload, status, code in cases:
        response = await api.post(REFUNDS, content=payload)
        assert response.status_code == status, response.text
        assert read(response)["error"]["code"] == code, response.text
    assert read(await api.get(REFUND_LIST))["data"] == []
    assert await available(api, order) == {"ticket": Decimal("371.88"), "bag": Decimal("1500.00")}


async def test_merchant_order_id_is_unique_per_refund(api: httpx.AsyncClient, db: Database) -> None:
    order = await paid_order(api, db)
    first = await api.post(
        REFUNDS, content=refund(order, "SAME", line("ticket", "10.00", "1.67", "RUS_VAT20"))
    )
    again = await api.post(
        REFUNDS, content=refund(order, "SAME", line("ticket", "10.00", "1.67", "RUS_VAT20"))
    )

    assert first.status_code == 200, first.text
    assert again.status_code == 422
    assert read(again)["error"]["code"] == "merchant_order_id_duplicate"
    assert len(read(await api.get(REFUND_LIST))["data"]) == 1


async def test_a_canceled_draft_gives_its_amount_back_to_the_available(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await paid_order(api, db)
    draft = read(
        await api.post(
            REFUNDS, content=refund(order, "D-1", line("bag", "1500.00"), status="draft")
        )
    )["data"]
    assert draft["status"] == "draft"
    assert (await available(api, order))["bag"] == Decimal("0.00")

    canceled = await api.delete(f"{ORDERS}/{draft['id']}")

    assert read(canceled)["data"]["status"] == "canceled"
    assert (await available(api, order))["bag"] == Decimal("1500.00")
    updated = await api.put(f"{ORDERS}/{draft['id']}", content=body({"description": "x"}))
    assert read(updated)["error"]["code"] == "wrong_order_status"


async def test_the_shop_is_notified_of_the_refund_signed(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await paid_order(api, db)
    created = read(await api.post(REFUNDS, content=refund(order, "N-1", line("bag", "1500.00"))))[
        "data"
    ]

    async with db.transaction() as conn:
        rows = (
            await conn.execute(
                select(notifications).where(notifications.c.order_id == created["id"])
            )
        ).all()
    assert [r.event for r in rows] == ["refund"]
    sent = json.loads(rows[0].body)
    assert (sent["subtype"], sent["status"], sent["parentId"]) == ("refund", "created", order["id"])
    assert Decimal(str(sent["amount"])) == Decimal("1500.00")
    assert rows[0].signature


async def test_another_merchants_order_cannot_be_refunded(
    api: httpx.AsyncClient, client: httpx.AsyncClient, db: Database
) -> None:
    order = await paid_order(api, db)
    async with db.transaction() as conn:
        other = await merchants_service.create_merchant(conn, name="Другой")
    headers = {"Authorization": f"Bearer {other.token}"}

    items = await client.get(f"{ORDERS}/{order['id']}/refund-basket-item", headers=headers)
    created = await client.post(
        REFUNDS, content=refund(order, "X", line("bag", "1.00")), headers=headers
    )

    assert items.status_code == 404
    assert created.status_code == 422
    assert read(created)["error"]["fields"][0]["name"] == "parentId"


async def test_two_refunds_of_the_last_amount_at_once_one_wins(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await paid_order(api, db)
    await api.post(
        REFUNDS, content=refund(order, "FIRST", line("ticket", "371.88", "61.98", "RUS_VAT20"))
    )

    for i in range(10):
        answers = await asyncio.gather(
            *(
                api.post(REFUNDS, content=refund(order, f"RACE-{i}-{n}", line("bag", "1500.00")))
                for n in range(2)
            )
        )
        statuses = sorted(a.status_code for a in answers)
        if i == 0:
            assert statuses == [200, 422], [a.text for a in answers]
        else:
            assert statuses == [422, 422]
    refunded = sum((r["amount"] for r in read(await api.get(REFUND_LIST))["data"]), Decimal(0))
    assert refunded == order["amount"]


CORRECTIONS = "/v3/billing/api/order/correction-order"


def correction(refund_row: dict[str, Any], number: str, fee: str) -> bytes:
    fee_line = basket_item(sku="fee", name="Сбор за возврат", amount=Decimal(fee))
    return body(
        order_payload(
            merchant_order_id=number,
            items=[fee_line],
            parentId=refund_row["id"],
            description="Удержание при возврате",
        )
    )


async def test_a_correction_withholds_a_fee_and_forms_the_draft_refund(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await paid_order(api, db)
    draft = read(
        await api.post(
            REFUNDS, content=refund(order, "D-1", line("bag", "1500.00"), status="draft")
        )
    )["data"]

    response = await api.post(CORRECTIONS, content=correction(draft, "FEE-1", "150.00"))

    assert response.status_code == 200, response.text
    fee = read(response)["data"]
    assert (fee["subtype"], fee["status"], fee["parentId"]) == (
        "correction",
        "completed",
        draft["id"],
    )
    formed = read(await api.get(REFUND_LIST, params={"id": draft["id"]}))["data"][0]
    assert formed["status"] == "created"
    assert (formed["amount"], formed["correctionAmount"], formed["payoutAmount"]) == (
        Decimal("1500.00"),
        Decimal("150.00"),
        Decimal("1350.00"),
    )
    async with db.transaction() as conn:
        events = (
            await conn.execute(
                select(notifications.c.order_id, notifications.c.event).where(
                    notifications.c.order_id.in_([draft["id"], fee["id"]])
                )
            )
        ).all()
    assert sorted(e.event for e in events) == ["paid", "refund", "refund"]  # draft, formed, fee
    # The invoice page still shows what was paid, not the refund or the fee.
    page = await api.get(f"/order/{order['orderContainerId']}")
    assert "Сбор за возврат" not in page.text


async def test_a_correction_needs_a_draft_refund_and_at_most_its_amount(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await paid_order(api, db)
    formed = read(
        await api.post(
            REFUNDS, content=refund(order, "R-1", line("ticket", "100.00", "16.67", "RUS_VAT20"))
        )
    )["data"]
    draft = read(
        await api.post(
            REFUNDS, content=refund(order, "D-1", line("bag", "1500.00"), status="draft")
        )
    )["data"]

    not_draft = await api.post(CORRECTIONS, content=correction(formed, "FEE-1", "10.00"))
    too_big = await api.post(CORRECTIONS, content=correction(draft, "FEE-2", "1500.01"))
    not_refund = await api.post(CORRECTIONS, content=correction(order, "FEE-3", "10.00"))

    assert read(not_draft)["error"]["code"] == "wrong_order_status"
    assert read(too_big)["error"]["fields"][0]["name"] == "amount"
    assert read(not_refund)["error"]["fields"][0]["name"] == "parentId"
    still = read(await api.get(REFUND_LIST, params={"id": draft["id"]}))["data"][0]
    assert still["status"] == "draft"
    assert "correctionAmount" not in still or still["correctionAmount"] is None


async def test_formed_refunds_are_paid_out_once_and_notified(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await paid_order(api, db)
    formed = read(await api.post(REFUNDS, content=refund(order, "R-1", line("bag", "1500.00"))))[
        "data"
    ]
    draft = read(
        await api.post(
            REFUNDS,
            content=refund(
                order, "D-1", line("ticket", "10.00", "1.67", "RUS_VAT20"), status="draft"
            ),
        )
    )["data"]

    async with db.transaction() as conn:
        first = await refunds_service.pay_out_formed(conn)
    async with db.transaction() as conn:
        second = await refunds_service.pay_out_formed(conn)

    assert (first, second) == (1, 0)
    statuses = {r["id"]: r["status"] for r in read(await api.get(REFUND_LIST))["data"]}
    assert statuses == {formed["id"]: "completed", draft["id"]: "draft"}
    async with db.transaction() as conn:
        bodies = [
            json.loads(r.body)["status"]
            for r in (
                await conn.execute(
                    select(notifications.c.body)
                    .where(notifications.c.order_id == formed["id"])
                    .order_by(notifications.c.created_at)
                )
            ).all()
        ]
    assert bodies == ["created", "completed"]
    canceled = await api.delete(f"{ORDERS}/{formed['id']}")
    assert read(canceled)["error"]["code"] == "wrong_order_status"  # paid out: final


async def test_an_unpaid_order_has_nothing_to_refund(api: httpx.AsyncClient) -> None:
    unpaid = read(await api.post(ORDERS, content=body(order_payload(items=[TICKETS]))))["data"]

    response = await api.get(f"{ORDERS}/{unpaid['id']}/refund-basket-item")

    assert response.status_code == 200, response.text
    assert [(i["sku"], i["availableAmount"]) for i in read(response)["data"]] == [
        ("ticket", Decimal("0.00"))
    ]


async def test_a_refund_reads_what_it_needs_once(api: httpx.AsyncClient, db: Database) -> None:
    """A refund's round trips are what its speed is made of (docs/benchmarks.md): the parent's
    container is found and locked in one statement and not locked again for the payment, and
    the new refund comes back from its INSERT instead of being read again."""
    order = await paid_order(api, db)
    await api.post(REFUNDS, content=refund(order, "R-0", line("bag", "100.00")))  # token cached

    with statements_sent(db) as statements:
        response = await api.post(REFUNDS, content=refund(order, "R-1", line("bag", "200.00")))

    assert response.status_code == 200, response.text
    # The container locked, the parent, the merchantOrderId check, the live refunds, the
    # payment, the refund, the shop's notification key, the notification (and on PostgreSQL
    # its live event's pg_notify).
    expected = 9 if db.dialect == "postgresql" else 8
    assert len(statements) == expected, "\n".join(statements)
    assert sum("order_containers" in s.split("WHERE")[0] for s in statements) == 1
