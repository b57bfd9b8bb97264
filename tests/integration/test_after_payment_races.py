"""After the payment, racing changes of one order, on SQLite and PostgreSQL: refunds, shipments
and cancels of the same order sent at once, for ROUNDS rounds each.

Every path locks the order's container first (docs/security.md "Lock order"), so the racers
queue: never a 5xx, every loser gets a 4xx error envelope, and the order ends in a state that
agrees with what the API said succeeded - read back through the API, and from the database
where the API does not show it (what a shipment captured of a hold).

Two refunds of the last available amount at once are raced in tests/integration/test_refunds.py
(on both databases); they are not repeated here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select, update

from marketbox.shipments.tables import shipments
from marketbox.storage.db import Database
from marketbox.storage.tables import orders
from tests.conftest import body, read
from tests.integration.test_payment_page import CARD_HOLD, CARD_OK, create, pay
from tests.support.builders import basket_item

ROUNDS = 15
ORDERS = "/v3/billing/api/order/order"
REFUNDS = "/v3/billing/api/order/refund-order"
REFUND_LIST = "/v3/filter/api/order/refund-order"
SHIPMENTS = "/v3/billing/api/order/shipment"
SHIPMENT_LIST = "/v3/filter/api/order/shipment"
PRICE = Decimal("2500.00")
CHAIRS = 4
AMOUNT = PRICE * CHAIRS
Call = tuple[str, str, bytes | None]  # method, path, body


def chairs(count: int) -> dict[str, Any]:
    return basket_item(sku="chair", name="Стул", quantity=count, amount=PRICE)


async def paid_order(api: httpx.AsyncClient, number: str, *, card: str) -> dict[str, Any]:
    """A new order of four chairs, paid on the payment page with a sandbox card: CARD_OK
    captures at once (`completed`), CARD_HOLD pre-authorises (`hold`)."""
    order = await create(api, merchant_order_id=number, items=[chairs(CHAIRS)])
    paid = await pay(api, order, card_number=card)
    assert paid.status_code == 303, paid.text
    return order


async def mark_shipping_unavailable(db: Database, order: dict[str, Any]) -> None:
    """What the shop's `shipping_unavailable` reply to the paid notification leaves on the order
    (the reply itself: test_notifications.py); only then may a held order be canceled."""
    async with db.transaction() as conn:
        await conn.execute(
            update(orders)
            .where(orders.c.id == order["id"])
            .values(processing_status="shipping_unavailable")
        )


def refund(order: dict[str, Any], number: str, count: int = CHAIRS) -> Call:
    line = chairs(count)
    payload = {
        "parentId": order["id"],
        "merchantOrderId": number,
        "description": "Возврат",
        "amount": line["totalAmount"],
        "vatAmount": line["totalVatAmount"],
        "basketItems": [line],
    }
    return "POST", REFUNDS, body(payload)


def shipment(order: dict[str, Any], number: str, count: int = CHAIRS) -> Call:
    payload = {
        "orderId": order["id"],
        "documentNumber": number,
        "documentDate": "2026-12-07",
        "basketItems": [chairs(count)],
        "final": count == CHAIRS,
    }
    return "POST", SHIPMENTS, body(payload)


def cancel(order: dict[str, Any]) -> Call:
    return "DELETE", f"{ORDERS}/{order['id']}", None


async def send(api: httpx.AsyncClient, call: Call) -> httpx.Response:
    method, url, content = call
    return await api.request(method, url, content=content)


async def race(api: httpx.AsyncClient, *calls: Call, start: int) -> list[httpx.Response]:
    """Send every call at once, the one at `start` first (rounds vary it: on SQLite, which
    serializes writers, the first sent usually wins); answers in the order of `calls`. None
    may fail with a 5xx."""
    order = [(start + k) % len(calls) for k in range(len(calls))]
    sent = await asyncio.gather(*(send(api, calls[k]) for k in order))
    answers = [sent[order.index(k)] for k in range(len(calls))]
    for answer in answers:
        assert answer.status_code < 500, answer.text
    return answers


def won(response: httpx.Response) -> bool:
    """A 200 with its data, or a 4xx error envelope with one of the expected codes."""
    if response.status_code == 200:
        assert "data" in read(response), response.text
        return True
    assert response.status_code == 422, response.text
    code = read(response)["error"]["code"]
    assert code in ("wrong_order_status", "validation_error"), response.text
    return False


@dataclass
class EndState:
    status: str
    refunded: Decimal  # live (not canceled) refunds, through the API
    shipped: Decimal  # shipments, through the API
    shipments: int
    captured_minor: int  # what the shipments captured of a hold (database only)


async def end_state(api: httpx.AsyncClient, db: Database, order: dict[str, Any]) -> EndState:
    got = await api.get(f"{ORDERS}/{order['id']}")
    refunds = await api.get(REFUND_LIST, params={"parentId": order["id"]})
    shipped = await api.get(SHIPMENT_LIST, params={"orderId": order["id"]})
    for response in (got, refunds, shipped):
        assert response.status_code == 200, response.text
    live = [r for r in read(refunds)["data"] if r["status"] != "canceled"]
    shipment_rows = read(shipped)["data"]
    async with db.transaction() as conn:
        captured = (
            await conn.execute(
                select(shipments.c.captured_minor).where(shipments.c.order_id == order["id"])
            )
        ).scalars()
        captured_minor = sum(captured)
    return EndState(
        status=read(got)["data"]["status"],
        refunded=sum((r["amount"] for r in live), Decimal(0)),
        shipped=sum((s["amount"] for s in shipment_rows), Decimal(0)),
        shipments=len(shipment_rows),
        captured_minor=captured_minor,
    )


async def test_shipment_races_cancel_of_a_held_order(api: httpx.AsyncClient, db: Database) -> None:
    for i in range(ROUNDS):
        order = await paid_order(api, f"HOLD-{i}", card=CARD_HOLD)
        await mark_shipping_unavailable(db, order)

        shipped, canceled = await race(api, shipment(order, f"TORG-{i}"), cancel(order), start=i)

        assert won(shipped) != won(canceled), (shipped.text, canceled.text)  # never both
        state = await end_state(api, db, order)
        if won(shipped):
            assert read(canceled)["error"]["code"] == "wrong_order_status"
            assert (state.status, state.shipped, state.shipments) == ("completed", AMOUNT, 1)
            assert state.captured_minor == 1_000_000  # the hold captured in full
        else:
            assert read(shipped)["error"]["code"] == "wrong_order_status"
            assert read(canceled)["data"]["status"] == "canceled"
            assert (state.status, state.shipments, state.captured_minor) == ("canceled", 0, 0)
        assert state.refunded == 0


async def test_refund_shipment_and_cancel_of_a_paid_order(
    api: httpx.AsyncClient, db: Database
) -> None:
    # Two of each contend for the whole amount: one refund and one shipment pass, and a paid
    # order is never canceled (api.md §8.6: after the payment, a refund gives money back).
    for i in range(ROUNDS):
        order = await paid_order(api, f"PAID-{i}", card=CARD_OK)

        answers = await race(
            api,
            refund(order, f"R-{i}-a"),
            shipment(order, f"S-{i}-a"),
            cancel(order),
            refund(order, f"R-{i}-b"),
            shipment(order, f"S-{i}-b"),
            start=i,
        )

        refunds_ok = [won(a) for a in (answers[0], answers[3])]
        shipments_ok = [won(a) for a in (answers[1], answers[4])]
        assert sorted(refunds_ok) == [False, True], [a.text for a in answers]
        assert sorted(shipments_ok) == [False, True], [a.text for a in answers]
        assert not won(answers[2])
        assert read(answers[2])["error"]["code"] == "wrong_order_status"
        state = await end_state(api, db, order)
        assert state.status == "completed"  # refunds are orders of their own (api.md §8.7)
        assert state.refunded == AMOUNT  # never more than was paid
        assert (state.shipped, state.shipments) == (AMOUNT, 1)  # never more than the order
        left = read(await api.get(f"{ORDERS}/{order['id']}/refund-basket-item"))["data"]
        assert [item["availableAmount"] for item in left] == [Decimal("0.00")]


async def test_refund_shipment_and_cancel_of_a_held_order(
    api: httpx.AsyncClient, db: Database
) -> None:
    # A hold is refunded only once a shipment captured it, and canceled only before that: what
    # passes depends on who takes the lock first, but it always tells one consistent story.
    for i in range(ROUNDS):
        order = await paid_order(api, f"HELD-{i}", card=CARD_HOLD)
        await mark_shipping_unavailable(db, order)

        refunded, shipped, canceled = await race(
            api, refund(order, f"R-{i}"), shipment(order, f"S-{i}"), cancel(order), start=i
        )

        story = (won(refunded), won(shipped), won(canceled))
        assert story in {
            (False, False, True),  # canceled first: nothing to ship or refund
            (False, True, False),  # the refund came first: a hold is not refunded; shipped
            (True, True, False),  # shipped, then refunded what the shipment captured
        }, [a.text for a in (refunded, shipped, canceled)]
        state = await end_state(api, db, order)
        if won(canceled):
            assert (state.status, state.shipments, state.refunded) == ("canceled", 0, 0)
        else:
            assert (state.status, state.shipped) == ("completed", AMOUNT)
            assert state.captured_minor == 1_000_000
            assert state.refunded == (AMOUNT if won(refunded) else 0)
            assert state.refunded * 100 <= state.captured_minor  # never more than was captured


async def test_a_refund_of_a_partly_captured_hold_stays_within_the_capture(
    api: httpx.AsyncClient, db: Database
) -> None:
    # Held 10000.00; one chair shipped (captures 2500.00, the order becomes `completed`, the
    # rest stays held until a final shipment). A refund of all four chairs would give back
    # 10000.00 of a payment of which 2500.00 was taken: it is refused.
    order = await paid_order(api, "PART", card=CARD_HOLD)
    first = await send(api, shipment(order, "S-1", count=1))
    assert first.status_code == 200, first.text

    whole = await send(api, refund(order, "R-ALL"))

    state = await end_state(api, db, order)
    assert state.captured_minor == 250_000
    assert whole.status_code == 422, whole.text
    assert state.refunded * 100 <= state.captured_minor
