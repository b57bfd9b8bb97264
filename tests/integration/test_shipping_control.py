"""Shipping control on the payment page (spec notifications.md §7, docs/miniapps.md "Shipping
control"), over HTTP on SQLite and PostgreSQL, with a real local shop server: the setting, the
hold instead of a sale, the notification delivered at once and exactly once (a dispatcher
running beside it included), each answer shown, and nothing lost when the wait is killed."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from demo_shop import demo_points_of_sale
from sqlalchemy import select, update

from marketbox.app import create_app
from marketbox.cli.demo import FLIGHT_META_DATA
from marketbox.config import Settings
from marketbox.marketplace import service as marketplace_service
from marketbox.marketplace.tables import points_of_sale
from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.notifications.dispatcher import Dispatcher
from marketbox.shipping_control import service as shipping_control
from marketbox.storage.db import Database
from marketbox.storage.tables import (
    gateway_operations,
    notification_attempts,
    notifications,
    orders,
    payments,
    sandbox_authorizations,
)
from tests.conftest import DEMO_AUTH, TEST_PUBLIC_URL, body, make_settings, read
from tests.support.builders import basket_item, order_payload
from tests.support.receiver import Receiver, Reply

ORDERS = "/v3/billing/api/order/order"
SETTINGS = "/v3/security/api/notification"
CREDENTIALS = "/v3/security/api/credentials"
CARD_OK = "4242 4242 4242 4242"
FUTURE_EXPIRY = f"12/{(datetime.now(UTC).year + 3) % 100:02d}"
SUCCESS_URL = "https://shop.example/thanks"
FAIL_URL = "https://shop.example/sorry"


@pytest.fixture
def settings(database_url: str) -> Settings:
    # A short lease, so a killed wait's claim lapses within the test.
    return make_settings(database_url, notification_lease_seconds=5.0)


@pytest.fixture
async def shop() -> AsyncIterator[Receiver]:
    async with Receiver() as receiver:
        yield receiver


@pytest.fixture
async def client(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, db=db, migrate=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=TEST_PUBLIC_URL) as http:
        http.headers.update(DEMO_AUTH)
        yield http
    for task in shipping_control.running():  # nothing outlives its test
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def control(client: httpx.AsyncClient, shop: Receiver, *, seconds: int = 2) -> Any:
    answer = await client.put(
        SETTINGS,
        content=body(
            {
                "notificationUrl": shop.url,
                "shippingControl": True,
                "shippingControlTimeoutSeconds": seconds,
            }
        ),
    )
    assert answer.status_code == 200, answer.text
    return read(answer)["data"]["notification"]


async def create(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    payload = order_payload(
        merchant_order_id=f"SC-{uuid.uuid4().hex[:12]}",
        successUrl=SUCCESS_URL,
        failUrl=FAIL_URL,
        **overrides,
    )
    answer = await client.post(ORDERS, content=body(payload))
    assert answer.status_code == 200, answer.text
    return read(answer)["data"]


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, html
    return match.group(1)


async def pay(client: httpx.AsyncClient, order: dict[str, Any]) -> httpx.Response:
    path = httpx.URL(order["paymentUrl"]).path
    page = (await client.get(path)).text
    form = {
        "csrf_token": _hidden(page, "csrf_token"),
        "expected_amount": _hidden(page, "expected_amount"),
        "customer_type": "private",
        "name": "Иван Петров",
        "email": "ivan@example.com",
        "phone": "+7 999 000 11 22",
        "card_number": CARD_OK,
        "card_expiry": FUTURE_EXPIRY,
        "card_cvc": "123",
    }
    return await client.post(f"{path}/pay", data=form)


async def state(client: httpx.AsyncClient, order: dict[str, Any]) -> str:
    path = httpx.URL(order["paymentUrl"]).path
    answer = await client.get(f"{path}/confirmation.json")
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return str(answer.json()["state"])


async def settled_state(client: httpx.AsyncClient, order: dict[str, Any]) -> str:
    """The state once it is no longer `waiting` (bounded: 15 s)."""
    for _ in range(150):
        found = await state(client, order)
        if found != "waiting":
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("still waiting after 15 s")


async def attempts_of(db: Database, order_id: str) -> list[Any]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(notification_attempts, notifications.c.status.label("notification_status"))
            .join(notifications, notifications.c.id == notification_attempts.c.notification_id)
            .where(notifications.c.order_id == order_id, notifications.c.event == "paid")
        )
        return [r._mapping for r in rows]


async def authorization(db: Database, container_id: str) -> Any:
    async with db.read() as conn:
        reference = (
            await conn.execute(
                select(payments.c.gateway_reference, payments.c.method).where(
                    payments.c.container_id == container_id, payments.c.status == "succeeded"
                )
            )
        ).one()
        row = (
            await conn.execute(
                select(sandbox_authorizations).where(
                    sandbox_authorizations.c.reference == reference.gateway_reference
                )
            )
        ).one()
        return {"method": reference.method, **row._mapping}


# --- the setting ---------------------------------------------------------------------------------


async def test_shipping_control_is_off_by_default_and_set_with_a_bounded_limit(
    client: httpx.AsyncClient, db: Database, shop: Receiver
) -> None:
    before = read(await client.get(CREDENTIALS))["data"]["notification"]
    assert before["shippingControl"] is False
    assert before["shippingControlTimeoutSeconds"] == 20

    assert await control(client, shop, seconds=7) == {
        "notificationUrl": shop.url,
        "signatureAlgorithm": "sha1",
        "shippingControl": True,
        "shippingControlTimeoutSeconds": 7,
    }
    for bad in (0, 21, "soon", 2.5):
        answer = await client.put(
            SETTINGS,
            content=body(
                {
                    "notificationUrl": shop.url,
                    "shippingControl": False,
                    "shippingControlTimeoutSeconds": bad,
                }
            ),
        )
        assert answer.status_code == 422, (bad, answer.text)
        assert "shippingControlTimeoutSeconds" in answer.text
    after = read(await client.get(CREDENTIALS))["data"]["notification"]
    assert after["shippingControl"] is True  # a refused request changed nothing
    assert after["shippingControlTimeoutSeconds"] == 7


async def test_without_shipping_control_the_payment_is_captured_and_nothing_waits(
    client: httpx.AsyncClient, db: Database, shop: Receiver
) -> None:
    order = await create(client)
    answer = await pay(client, order)
    assert answer.status_code == 303
    assert answer.headers["location"] == SUCCESS_URL
    held = await authorization(db, order["orderContainerId"])
    assert (held["method"], held["state"]) == ("card", "captured")
    assert shop.requests == []  # the notification is the dispatcher's, as always


# --- the shop's answers ---------------------------------------------------------------------------


async def test_success_holds_the_card_asks_the_shop_at_once_and_goes_on_to_success_url(
    client: httpx.AsyncClient, db: Database, shop: Receiver
) -> None:
    await control(client, shop)
    order = await create(client)

    answer = await pay(client, order)

    path = httpx.URL(order["paymentUrl"]).path
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{path}/confirming"
    assert await settled_state(client, order) == "confirmed"
    page = await client.get(f"{path}/confirming")
    assert page.status_code == 303
    assert page.headers["location"] == SUCCESS_URL
    [attempt] = await attempts_of(db, order["id"])  # delivered by the page, no dispatcher ran
    assert attempt["dispatcher"].startswith("page:")
    assert attempt["notification_status"] == "delivered"
    assert [r.json()["id"] for r in shop.requests] == [order["id"]]
    held = await authorization(db, order["orderContainerId"])
    assert (held["method"], held["state"], held["captured_minor"]) == ("card_hold", "authorized", 0)
    api_order = read(await client.get(f"{ORDERS}/{order['id']}"))["data"]
    assert api_order["status"] == "hold"  # captured later by its shipments


async def test_shipping_unavailable_shows_the_refusal_takes_nothing_and_delete_releases(
    client: httpx.AsyncClient, db: Database, shop: Receiver
) -> None:
    await control(client, shop)
    shop.script(Reply.error("shipping_unavailable", "Мест нет"))
    order = await create(client)

    await pay(client, order)

    assert await settled_state(client, order) == "unavailable"
    path = httpx.URL(order["paymentUrl"]).path
    page = await client.get(f"{path}/confirming")
    assert page.status_code == 200
    assert 'data-status="shipping-unavailable"' in page.text
    assert "Магазин не может выполнить заказ" in page.text
    assert "Деньги не списаны" in page.text
    assert "когда магазин отменит заказ" in page.text
    assert f'href="{FAIL_URL}"' in page.text
    assert 'http-equiv="refresh"' not in page.text
    english = await client.get(f"{path}/confirming?lang=en")
    assert "The shop cannot fulfil the order" in english.text
    held = await authorization(db, order["orderContainerId"])
    assert (held["state"], held["captured_minor"]) == ("authorized", 0)  # nothing captured
    api_order = read(await client.get(f"{ORDERS}/{order['id']}"))["data"]
    assert api_order["processingStatus"] == "shipping_unavailable"
    [attempt] = await attempts_of(db, order["id"])
    assert attempt["notification_status"] == "rejected"

    # The shop releases the hold: DELETE, then the worker voids it through the gateway.
    canceled = await client.delete(f"{ORDERS}/{order['id']}")
    assert canceled.status_code == 200, canceled.text
    assert read(canceled)["data"]["status"] == "canceled"
    async with db.read() as conn:
        kinds = (
            await conn.execute(
                select(gateway_operations.c.kind).where(
                    gateway_operations.c.container_id == order["orderContainerId"]
                )
            )
        ).all()
    assert [k.kind for k in kinds] == ["void"]


async def test_a_late_refusal_shows_the_loader_first_then_the_refusal(
    client: httpx.AsyncClient, db: Database, shop: Receiver
) -> None:
    await control(client, shop, seconds=4)
    shop.script(Reply.slow(2.5, Reply.error("shipping_unavailable")))
    order = await create(client)
    path = httpx.URL(order["paymentUrl"]).path

    await pay(client, order)

    waiting = await client.get(f"{path}/confirming")
    assert waiting.status_code == 200
    assert await state(client, order) == "waiting"
    assert 'role="status"' in waiting.text
    assert "Подтверждаем заказ у магазина…" in waiting.text
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in waiting.text
    assert "shipping-control" in waiting.text  # the polling script
    assert await settled_state(client, order) == "unavailable"
    assert 'data-status="shipping-unavailable"' in (await client.get(f"{path}/confirming")).text


async def test_a_shop_that_never_answers_gets_payment_received_pending_then_success_url(
    client: httpx.AsyncClient, db: Database, shop: Receiver
) -> None:
    await control(client, shop, seconds=1)
    shop.script(Reply.hang())
    order = await create(client)
    path = httpx.URL(order["paymentUrl"]).path

    await pay(client, order)

    assert await settled_state(client, order) == "pending"  # the loader first: the test above
    page = await client.get(f"{path}/confirming")
    assert page.status_code == 200
    assert 'data-status="confirmation-pending"' in page.text
    assert "Оплата получена" in page.text
    assert f'<meta http-equiv="refresh" content="5;url={SUCCESS_URL}">' in page.text
    [attempt] = await attempts_of(db, order["id"])  # cut at the limit, retried as §6
    assert attempt["reason"] == "timeout"
    assert attempt["notification_status"] == "pending"
    held = await authorization(db, order["orderContainerId"])
    assert held["state"] == "authorized"
    shop.release()


async def test_out_of_service_is_pending_at_once(
    client: httpx.AsyncClient, db: Database, shop: Receiver
) -> None:
    await control(client, shop, seconds=4)
    shop.script(Reply.error("out_of_service"))
    order = await create(client)

    await pay(client, order)

    started = asyncio.get_running_loop().time()
    assert await settled_state(client, order) == "pending"
    assert asyncio.get_running_loop().time() - started < 4  # not the limit (+ 2 s)


# --- once, and nothing lost -------------------------------------------------------------------


async def test_one_attempt_per_notification_with_a_dispatcher_running_beside_the_page(
    client: httpx.AsyncClient, db: Database, shop: Receiver, settings: Settings
) -> None:
    await control(client, shop)
    shop.script(*[Reply.slow(0.3)] * 6)
    invoices = [await create(client) for _ in range(3)]
    stop = asyncio.Event()
    async with Dispatcher(settings, db, name="worker-dispatcher") as dispatcher:
        worker = asyncio.create_task(dispatcher.run_forever(stop))
        try:
            for order in invoices:
                await pay(client, order)
            for order in invoices:
                assert await settled_state(client, order) == "confirmed"
            await asyncio.sleep(1.0)  # a dispatcher poll or two after the answers
        finally:
            stop.set()
            await worker
    for order in invoices:
        assert len(await attempts_of(db, order["id"])) == 1
    assert sorted(shop.count_by_id().values()) == [1, 1, 1]


async def test_another_api_process_shows_the_same_answer(
    client: httpx.AsyncClient, db: Database, shop: Receiver, settings: Settings
) -> None:
    """The page may be served by any process: the state is read from the database alone."""
    await control(client, shop, seconds=3)
    shop.script(Reply.slow(1.0, Reply.error("shipping_unavailable")))
    order = await create(client)
    other_db = Database(settings.database_url)
    other_app = create_app(settings, db=other_db, migrate=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=other_app), base_url=TEST_PUBLIC_URL
        ) as other:
            await pay(client, order)  # this process asks the shop
            path = httpx.URL(order["paymentUrl"]).path
            assert "data-confirming" in (await other.get(f"{path}/confirming")).text
            assert await settled_state(other, order) == "unavailable"
            answer = await other.get(f"{path}/confirming")
            assert "Магазин не может выполнить заказ" in answer.text
    finally:
        await other_db.dispose()


async def test_a_wait_killed_mid_request_loses_nothing_the_dispatcher_delivers_it(
    client: httpx.AsyncClient, db: Database, shop: Receiver, settings: Settings
) -> None:
    await control(client, shop, seconds=2)
    shop.script(Reply.slow(0.8))  # the first request is cut off by the kill
    order = await create(client)

    await pay(client, order)
    await shop.wait_for_requests(1, timeout=10)
    for task in shipping_control.running():  # the API process dies mid-request
        task.cancel()
    await asyncio.sleep(0.1)
    assert await attempts_of(db, order["id"]) == []  # nothing recorded, the claim holds
    assert await state(client, order) in ("waiting", "pending")  # the limit may pass first

    async with Dispatcher(settings, db, name="worker-dispatcher") as dispatcher:
        for _ in range(100):  # the lease (5 s) lapses, then the worker's dispatcher sends it
            if await dispatcher.run_once():
                break
            await asyncio.sleep(0.1)
    [attempt] = await attempts_of(db, order["id"])
    assert attempt["dispatcher"] == "worker-dispatcher"
    assert attempt["notification_status"] == "delivered"
    assert await state(client, order) == "confirmed"
    async with db.read() as conn:
        status = (
            await conn.execute(select(orders.c.status).where(orders.c.id == order["id"]))
        ).scalar_one()
    assert status == "hold"


# --- several merchants in one invoice ----------------------------------------------------------


async def test_one_controlled_order_holds_the_whole_invoice_and_only_its_shop_is_awaited(
    client: httpx.AsyncClient, db: Database, shop: Receiver
) -> None:
    """The demo airline's flight (no control) and a taxi add-on whose merchant has control:
    one hold pays both, the page asks only the taxi and shows its refusal alone."""
    async with db.transaction() as conn:
        taxi_point = None
        for point in demo_points_of_sale("http://127.0.0.1:8100"):
            row = await marketplace_service.create_point_of_sale(
                conn, merchant_id=DEMO_MERCHANT_ID, **point
            )
            if point["title"] == "Такси в аэропорт":
                taxi_point = row
        assert taxi_point is not None
        taxi = await merchants_service.create_merchant(conn, name="Такси", legal_name="ООО «Такси»")
        await conn.execute(
            update(points_of_sale)
            .where(points_of_sale.c.id == taxi_point["id"])
            .values(merchant_id=taxi.id)
        )
    taxi_auth = {"Authorization": f"Bearer {taxi.token}"}
    answer = await client.put(
        SETTINGS,
        content=body(
            {
                "notificationUrl": shop.url,
                "shippingControl": True,
                "shippingControlTimeoutSeconds": 3,
            }
        ),
        headers=taxi_auth,
    )
    assert answer.status_code == 200, answer.text
    shop.script(Reply.error("shipping_unavailable"))
    flight = await create(
        client, metaData=FLIGHT_META_DATA, notificationUrl="https://airline.example/notify"
    )
    ride = await client.post(
        ORDERS,
        content=body(
            order_payload(
                merchant_id=taxi.id,
                merchant_order_id="TAXI-1",
                items=[basket_item(sku="taxi", name="Такси «Комфорт»")],
                orderContainerId=flight["orderContainerId"],
                shopId=taxi_point["id"],
            )
        ),
        headers=taxi_auth,
    )
    assert ride.status_code == 200, ride.text
    taxi_order = read(ride)["data"]

    await pay(client, flight)

    assert await settled_state(client, flight) == "unavailable"
    held = await authorization(db, flight["orderContainerId"])
    assert (held["method"], held["state"], held["captured_minor"]) == ("card_hold", "authorized", 0)
    async with db.read() as conn:
        statuses = dict(
            (
                await conn.execute(
                    select(orders.c.id, orders.c.status).where(
                        orders.c.container_id == flight["orderContainerId"]
                    )
                )
            ).all()
        )
    assert statuses == {flight["id"]: "hold", taxi_order["id"]: "hold"}
    assert [r.json()["id"] for r in shop.requests] == [taxi_order["id"]]
    assert await attempts_of(db, flight["id"]) == []  # the airline's is the dispatcher's
    page = await client.get(f"{httpx.URL(flight['paymentUrl']).path}/confirming")
    assert f'data-unavailable-order="{taxi_order["id"]}"' in page.text
    assert f'data-unavailable-order="{flight["id"]}"' not in page.text
    assert "Остальные заказы счёта оплачены" in page.text
