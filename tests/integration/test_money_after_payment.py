"""Money after the payment moves through the gateway (payments/operations.py), on SQLite and
PostgreSQL: a refund is paid back through the gateway that took the payment, a shipment
captures its part of a hold, what a hold has left is released once no order of the invoice
can take more, a canceled hold is voided. Amounts are checked to the kopeck against the
gateway's own books; every call is made with no transaction open; a gateway that does not
answer is asked again later; two workers move the money once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from marketbox import clock
from marketbox.config import Settings
from marketbox.notifications import worker
from marketbox.payments import gateway as gw
from marketbox.payments import operations
from marketbox.refunds import service as refunds_service
from marketbox.storage.db import Database
from marketbox.storage.tables import gateway_operations, notifications, orders
from tests.conftest import TEST_PUBLIC_URL, body, make_settings, read
from tests.integration.test_payment_gateway import assert_no_transaction_was_open
from tests.integration.test_payment_page import CARD_HOLD, create, pay, payment_rows
from tests.integration.test_refunds import correction, paid_order
from tests.support.builders import basket_item
from tests.support.gateway import CheckingGateway

CHECKING = "tests.support.gateway:checking"
ORDERS = "/v3/billing/api/order/order"
REFUNDS = "/v3/billing/api/order/refund-order"
REFUND_LIST = "/v3/filter/api/order/refund-order"
CORRECTIONS = "/v3/billing/api/order/correction-order"
SHIPMENTS = "/v3/billing/api/order/shipment"
CHAIRS = basket_item(sku="chair", name="Стул", quantity=4, amount=Decimal("2500.00"))
LAMP = basket_item(sku="lamp", name="Лампа", amount=Decimal("999.99"))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, payment_gateway=CHECKING)


@pytest.fixture
def bank(app: Any) -> CheckingGateway:
    gateway = app.state.ctx.gateway
    assert isinstance(gateway, CheckingGateway)
    return gateway


@pytest.fixture
def pinned_clock() -> Iterator[list[datetime]]:
    now = [datetime.now(UTC)]
    clock.set_now(lambda: now[0])
    yield now
    clock.set_now(None)


async def card_paid(
    api: httpx.AsyncClient, db: Database, *, hold: bool = False, **overrides: Any
) -> tuple[dict[str, Any], str]:
    """An order paid on the payment page by a sandbox card; the gateway's reference."""
    order = await create(api, items=[CHAIRS, LAMP], **overrides)
    answer = await pay(api, order, **({"card_number": CARD_HOLD} if hold else {}))
    assert answer.status_code == 303, answer.text
    [payment] = await payment_rows(db, order["orderContainerId"])
    assert payment["gateway"] == "checking"
    return order, payment["gateway_reference"]


def refund_body(order: dict[str, Any], number: str, total: str, **overrides: Any) -> bytes:
    line = basket_item(sku="chair", name="Стул", amount=Decimal(total))
    payload = {
        "parentId": order["id"],
        "merchantOrderId": number,
        "description": "Возврат",
        "amount": Decimal(total),
        "vatAmount": Decimal("0.00"),
        "basketItems": [line],
        **overrides,
    }
    return body(payload)


def shipment_body(order: dict[str, Any], chairs: int, **overrides: Any) -> bytes:
    payload: dict[str, Any] = {
        "orderId": order["id"],
        "documentNumber": f"TORG-{chairs}",
        "documentDate": "2026-12-07",
        "basketItems": [
            basket_item(sku="chair", name="Стул", quantity=chairs, amount=Decimal("2500.00"))
        ],
        **overrides,
    }
    return body(payload)


async def post(api: httpx.AsyncClient, path: str, content: bytes) -> dict[str, Any]:
    response = await api.post(path, content=content)
    assert response.status_code == 200, response.text
    return dict(read(response)["data"])


async def begin_payouts(db: Database) -> int:
    async with db.transaction() as conn:
        return await refunds_service.pay_out_formed(conn)


async def run_pass(db: Database, bank: CheckingGateway, settings: Settings) -> dict[str, int]:
    effects = {operations.REFUND: refunds_service.payout_effect}
    done = await operations.run_due(db, bank, settings, effects=effects)
    return done.by_status


async def operation_rows(db: Database, container_id: str) -> list[Any]:
    async with db.transaction() as conn:
        query = (
            select(gateway_operations)
            .where(gateway_operations.c.container_id == container_id)
            .order_by(gateway_operations.c.id)
        )
        return [r._mapping for r in (await conn.execute(query)).all()]


async def refund_status(api: httpx.AsyncClient, refund_id: str) -> str:
    return str(read(await api.get(REFUND_LIST, params={"id": refund_id}))["data"][0]["status"])


async def refund_notifications(db: Database, refund_id: str) -> list[str]:
    async with db.transaction() as conn:
        query = (
            select(notifications.c.body)
            .where(notifications.c.order_id == refund_id)
            .order_by(notifications.c.created_at)
        )
        return [json.loads(r.body)["status"] for r in (await conn.execute(query)).all()]


async def authorization(bank: CheckingGateway, reference: str) -> gw.Authorization:
    found = await bank.get(reference)
    assert found is not None
    return found


# --- refunds ---------------------------------------------------------------------------------


async def test_a_refund_is_paid_back_through_the_gateway_that_took_the_payment(
    api: httpx.AsyncClient, db: Database, bank: CheckingGateway, settings: Settings
) -> None:
    order, reference = await card_paid(api, db)
    first = await post(api, REFUNDS, refund_body(order, "R-1", "2500.00"))
    second = await post(api, REFUNDS, refund_body(order, "R-2", "1234.56"))

    assert await begin_payouts(db) == 0  # through the gateway: nothing completes yet
    assert await refund_status(api, first["id"]) == "created"
    # Its payout has begun: it cannot be canceled any more.
    late = await api.delete(f"{ORDERS}/{first['id']}")
    assert read(late)["error"]["code"] == "wrong_order_status"
    bank.calls.clear()

    assert await run_pass(db, bank, settings) == {"succeeded": 2}

    assert [c.method for c in bank.calls] == ["refund", "refund"]
    assert_no_transaction_was_open(bank)
    after = await authorization(bank, reference)
    assert after.refunded_amount == Decimal("3734.56")  # to the kopeck
    for refund in (first, second):
        assert await refund_status(api, refund["id"]) == "completed"
        assert await refund_notifications(db, refund["id"]) == ["created", "completed"]
    # Nothing is paid back twice: the next passes find nothing to do.
    assert await begin_payouts(db) == 0
    assert await run_pass(db, bank, settings) == {}
    assert (await authorization(bank, reference)).refunded_amount == Decimal("3734.56")


async def test_a_correction_is_withheld_from_what_the_gateway_gives_back(
    api: httpx.AsyncClient, db: Database, bank: CheckingGateway, settings: Settings
) -> None:
    order, reference = await card_paid(api, db)
    draft = await post(api, REFUNDS, refund_body(order, "D-1", "5000.00", status="draft"))
    await post(api, CORRECTIONS, correction(draft, "FEE-1", "350.50"))

    await begin_payouts(db)
    await run_pass(db, bank, settings)

    assert (await authorization(bank, reference)).refunded_amount == Decimal("4649.50")
    assert await refund_status(api, draft["id"]) == "completed"


async def test_a_refund_of_a_payment_confirmed_outside_completes_at_once(
    api: httpx.AsyncClient, db: Database, bank: CheckingGateway, settings: Settings
) -> None:
    order = await paid_order(api, db)  # paid by pay_container: no gateway took it
    line = basket_item(sku="bag", name="Багаж", amount=Decimal("1500.00"))
    refund = await post(
        api,
        REFUNDS,
        body(
            {
                "parentId": order["id"],
                "merchantOrderId": "R-1",
                "description": "Возврат",
                "amount": Decimal("1500.00"),
                "vatAmount": Decimal("0.00"),
                "basketItems": [line],
            }
        ),
    )

    assert await begin_payouts(db) == 1
    assert await refund_status(api, refund["id"]) == "completed"
    assert await operation_rows(db, order["orderContainerId"]) == []
    assert not bank.calls


async def test_an_unanswered_refund_is_asked_again_later_and_paid_once(
    api: httpx.AsyncClient,
    db: Database,
    bank: CheckingGateway,
    settings: Settings,
    pinned_clock: list[datetime],
) -> None:
    order, reference = await card_paid(api, db)
    refund = await post(api, REFUNDS, refund_body(order, "R-1", "2500.00"))
    await begin_payouts(db)

    bank.unreachable = {"refund"}
    assert await run_pass(db, bank, settings) == {"pending": 1}
    bank.unreachable = set()
    assert await run_pass(db, bank, settings) == {}  # not due yet: backoff
    [row] = await operation_rows(db, order["orderContainerId"])
    assert (row["status"], row["tries"]) == ("pending", 1)
    assert await refund_status(api, refund["id"]) == "created"

    pinned_clock[0] += operations.FIRST_RETRY + timedelta(seconds=1)
    # Two workers at once: the gateway refunds once, the refund completes once.
    await asyncio.gather(*(run_pass(db, bank, settings) for _ in range(2)))

    assert (await authorization(bank, reference)).refunded_amount == Decimal("2500.00")
    assert await refund_status(api, refund["id"]) == "completed"
    assert await refund_notifications(db, refund["id"]) == ["created", "completed"]


async def test_a_refund_the_gateway_refuses_stays_formed_and_is_recorded(
    api: httpx.AsyncClient, db: Database, bank: CheckingGateway, settings: Settings
) -> None:
    order, reference = await card_paid(api, db)
    refund = await post(api, REFUNDS, refund_body(order, "R-1", "2500.00"))
    await bank.void(reference)  # the bank voided the payment meanwhile (outside marketbox)
    await begin_payouts(db)

    assert await run_pass(db, bank, settings) == {"failed": 1}

    [row] = await operation_rows(db, order["orderContainerId"])
    assert (row["status"], row["failure_code"]) == ("failed", "voided")
    assert await refund_status(api, refund["id"]) == "created"


# --- holds: shipments capture, the rest is released --------------------------------------------


async def test_shipments_capture_a_hold_and_the_final_one_releases_the_rest(
    api: httpx.AsyncClient, db: Database, bank: CheckingGateway, settings: Settings
) -> None:
    order, reference = await card_paid(api, db, hold=True)
    assert (await authorization(bank, reference)).state == "authorized"

    await post(api, SHIPMENTS, shipment_body(order, 1))
    assert await run_pass(db, bank, settings) == {"succeeded": 1}
    partly = await authorization(bank, reference)
    assert (partly.state, partly.captured_amount) == ("authorized", Decimal("2500.00"))

    await post(api, SHIPMENTS, shipment_body(order, 2, final=True))
    assert await run_pass(db, bank, settings) == {"succeeded": 2}  # a capture, then the void

    settled = await authorization(bank, reference)
    assert (settled.state, settled.captured_amount) == ("captured", Decimal("7500.00"))
    kinds = [(r["kind"], r["status"]) for r in await operation_rows(db, order["orderContainerId"])]
    assert kinds == [("capture", "succeeded"), ("capture", "succeeded"), ("void", "succeeded")]
    release = (await operation_rows(db, order["orderContainerId"]))[-1]
    assert release["result_minor"] == 349999  # 10 999.99 authorized - 7 500.00 captured
    assert_no_transaction_was_open(bank)


async def test_a_release_waits_for_the_captures_before_it(
    api: httpx.AsyncClient, db: Database, bank: CheckingGateway, settings: Settings
) -> None:
    order, reference = await card_paid(api, db, hold=True)
    await post(api, SHIPMENTS, shipment_body(order, 4, final=True))
    bank.unreachable = {"capture"}

    assert await run_pass(db, bank, settings) == {"pending": 2}  # no answer; the void waits

    assert (await authorization(bank, reference)).state == "authorized"
    assert "void" not in [c.method for c in bank.calls]


async def test_a_refund_of_a_hold_gives_back_at_most_what_shipments_captured(
    api: httpx.AsyncClient, db: Database, bank: CheckingGateway, settings: Settings
) -> None:
    order, reference = await card_paid(api, db, hold=True)
    await post(api, SHIPMENTS, shipment_body(order, 1))

    too_much = await api.post(REFUNDS, content=refund_body(order, "R-1", "5000.00"))
    assert read(too_much)["error"]["fields"][0]["name"] == "amount"
    assert "2500" in read(too_much)["error"]["fields"][0]["message"]
    refund = await post(api, REFUNDS, refund_body(order, "R-2", "2500.00"))

    await run_pass(db, bank, settings)  # the capture
    await begin_payouts(db)
    await run_pass(db, bank, settings)  # the refund

    after = await authorization(bank, reference)
    assert (after.captured_amount, after.refunded_amount) == (
        Decimal("2500.00"),
        Decimal("2500.00"),
    )
    assert await refund_status(api, refund["id"]) == "completed"


async def test_a_canceled_hold_is_voided(
    api: httpx.AsyncClient, db: Database, bank: CheckingGateway, settings: Settings
) -> None:
    order, reference = await card_paid(api, db, hold=True)
    await mark_shipping_unavailable(db, order["id"])

    canceled = await api.delete(f"{ORDERS}/{order['id']}")
    assert read(canceled)["data"]["status"] == "canceled"
    assert await run_pass(db, bank, settings) == {"succeeded": 1}

    assert (await authorization(bank, reference)).state == "voided"


async def test_one_hold_for_two_orders_is_released_when_neither_can_take_more(
    api: httpx.AsyncClient, db: Database, bank: CheckingGateway, settings: Settings
) -> None:
    main = await create(api, merchant_order_id="MAIN", items=[CHAIRS])
    sub = await create(
        api, merchant_order_id="SUB", items=[LAMP], orderContainerId=main["orderContainerId"]
    )
    assert (await pay(api, main, card_number=CARD_HOLD)).status_code == 303
    [payment] = await payment_rows(db, main["orderContainerId"])
    reference = payment["gateway_reference"]

    await post(api, SHIPMENTS, shipment_body(main, 4))
    await run_pass(db, bank, settings)
    # The lamp is still held for the other order: nothing is released yet.
    still = await authorization(bank, reference)
    assert (still.state, still.captured_amount) == ("authorized", Decimal("10000.00"))

    await mark_shipping_unavailable(db, sub["id"])
    assert read(await api.delete(f"{ORDERS}/{sub['id']}"))["data"]["status"] == "canceled"
    await run_pass(db, bank, settings)

    settled = await authorization(bank, reference)
    assert (settled.state, settled.captured_amount) == ("captured", Decimal("10000.00"))
    release = (await operation_rows(db, main["orderContainerId"]))[-1]
    assert (release["kind"], release["result_minor"]) == ("void", 99999)


async def test_the_worker_moves_the_money(database_url: str, db: Database) -> None:
    from marketbox.app import create_app
    from tests.conftest import DEMO_AUTH

    settings = make_settings(
        database_url,
        payment_gateway=CHECKING,
        dispatcher_poll_seconds=0.05,
        expiry_sweep_seconds=0.05,
    )
    app = create_app(settings, db=db, migrate=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=TEST_PUBLIC_URL, headers=DEMO_AUTH
    ) as api:
        order, reference = await card_paid(api, db, hold=True)
        await post(api, SHIPMENTS, shipment_body(order, 4, final=True))
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run_worker(settings, db, stop))
        try:
            for _ in range(200):
                rows = await operation_rows(db, order["orderContainerId"])
                if rows and all(r["status"] == "succeeded" for r in rows):
                    break
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await asyncio.wait_for(running, 10)

    gateway = app.state.ctx.gateway
    settled = await gateway.get(reference)
    assert settled is not None
    assert (settled.state, settled.captured_amount) == ("captured", Decimal("10000.00"))


async def mark_shipping_unavailable(db: Database, order_id: str) -> None:
    """The shop answered the hold notification with `shipping_unavailable` (api.md §8.6)."""
    async with db.transaction() as conn:
        await conn.execute(
            update(orders)
            .where(orders.c.id == order_id)
            .values(processing_status="shipping_unavailable")
        )
