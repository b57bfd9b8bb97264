"""Sandbox controls (docs/sandbox.md): triggers, the sandbox clock, the reset, and all of them
refused in production. Shops are real local HTTP servers (tests/support/receiver.py)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from marketbox import clock
from marketbox.app import create_app
from marketbox.config import Settings
from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.notifications.dispatcher import Dispatcher
from marketbox.sandbox import repository as sandbox_repository
from marketbox.storage.db import Database
from marketbox.storage.schema import metadata
from marketbox.storage.tables import notification_attempts, notifications, payments
from tests.conftest import DEMO_AUTH, TEST_PUBLIC_URL, body, make_settings, read
from tests.support.builders import basket_item, order_payload
from tests.support.receiver import Receiver, Reply

ORDERS = "/v3/billing/api/order/order"
ORDERS_LIST = "/v3/filter/api/order/order"
AUTH = "/v3/security/api/auth/auth"
SANDBOX = "/v3/sandbox/api"
_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def real_time() -> Iterator[None]:
    """The sandbox clock is process-wide: every test starts and ends on the real time."""
    clock.set_offset(timedelta(0))
    yield
    clock.set_offset(timedelta(0))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, notification_timeout_seconds=2.0)


@pytest.fixture
async def shop() -> AsyncIterator[Receiver]:
    async with Receiver() as receiver:
        yield receiver


@pytest.fixture
async def dispatcher(settings: Settings, db: Database) -> AsyncIterator[Dispatcher]:
    async with Dispatcher(settings, db, name="sandbox-test") as d:
        yield d


async def create_order(api: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    overrides.setdefault("merchant_order_id", f"S-{next(_numbers)}")
    response = await api.post(ORDERS, content=body(order_payload(**overrides)))
    assert response.status_code == 200, response.text
    return read(response)["data"]


async def trigger(api: httpx.AsyncClient, order_id: str, action: str) -> httpx.Response:
    return await api.post(f"{SANDBOX}/order/{order_id}/{action}")


async def rows(db: Database, table: Any, *where: Any) -> list[Any]:
    async with db.read() as conn:
        return list((await conn.execute(select(table).where(*where))).all())


# -- triggers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "result", "status"),
    [("pay", "paid", "completed"), ("hold", "held", "hold"), ("decline", "declined", "created")],
)
async def test_a_card_trigger_pays_or_declines_like_the_payment_page(
    api: httpx.AsyncClient, db: Database, action: str, result: str, status: str
) -> None:
    amount = Decimal("1234.56")
    order = await create_order(api, items=[basket_item(amount=amount)])

    response = await trigger(api, order["id"], action)

    assert response.status_code == 200, response.text
    answer = read(response)["data"]
    assert (answer["action"], answer["result"]) == (action, result)
    assert answer["order"]["id"] == order["id"]
    assert answer["order"]["status"] == status
    [payment] = await rows(db, payments, payments.c.container_id == order["orderContainerId"])
    assert payment.amount_minor == 123456
    assert payment.status == ("declined" if action == "decline" else "succeeded")
    assert payment.gateway == "sandbox"
    sent = await rows(db, notifications, notifications.c.order_id == order["id"])
    assert [n.event for n in sent] == ([] if action == "decline" else ["paid"])
    assert answer["paymentId"] == payment.id
    assert answer["failureCode"] == ("card_declined" if action == "decline" else None)


async def test_expire_trigger_expires_the_order_and_tells_the_shop(
    api: httpx.AsyncClient, db: Database, shop: Receiver, dispatcher: Dispatcher
) -> None:
    order = await create_order(api, notificationUrl=shop.url)

    response = await trigger(api, order["id"], "expire")

    assert read(response)["data"]["order"]["status"] == "expired"
    assert await dispatcher.run_once() == 1
    [request] = shop.requests
    assert (request.json()["id"], request.json()["status"]) == (order["id"], "expired")


async def test_a_trigger_on_a_paid_order_changes_nothing(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await create_order(api)
    assert (await trigger(api, order["id"], "pay")).status_code == 200

    for action in ("pay", "expire", "decline"):
        response = await trigger(api, order["id"], action)
        assert response.status_code == 409, response.text
        assert read(response)["error"]["code"] == "conflict"
    assert len(await rows(db, payments)) == 1


async def test_a_trigger_on_another_merchants_order_is_not_found(
    api: httpx.AsyncClient, client: httpx.AsyncClient, db: Database
) -> None:
    async with db.transaction() as conn:
        other = await merchants_service.create_merchant(conn, name="Other shop")
    order = await create_order(api)

    response = await client.post(
        f"{SANDBOX}/order/{order['id']}/pay", headers={"Authorization": f"Bearer {other.token}"}
    )

    assert response.status_code == 404
    assert await rows(db, payments) == []


# -- the clock --------------------------------------------------------------------------------


async def test_advancing_the_clock_expires_orders_and_notifies_the_shop_now(
    api: httpx.AsyncClient, db: Database, shop: Receiver, dispatcher: Dispatcher
) -> None:
    order = await create_order(api, notificationUrl=shop.url, expires_in=timedelta(hours=1))
    later = await create_order(api, expires_in=timedelta(hours=3))

    response = await api.post(f"{SANDBOX}/clock", content=body({"advance": "2h"}))

    assert response.status_code == 200, response.text
    state = read(response)["data"]
    assert (state["offsetSeconds"], state["moved"]) == (7200, True)
    assert read(await api.get(f"{ORDERS}/{order['id']}"))["data"]["status"] == "expired"
    assert read(await api.get(f"{ORDERS}/{later['id']}"))["data"]["status"] == "created"
    [stored] = await rows(db, notifications, notifications.c.order_id == order["id"])
    assert stored.event == "expired"
    assert await dispatcher.run_once() == 1
    assert shop.requests[0].json()["status"] == "expired"
    assert read(await api.get(f"{SANDBOX}/clock"))["data"]["offsetSeconds"] == 7200


async def test_advancing_the_clock_sends_the_next_retry_now(
    api: httpx.AsyncClient, db: Database, shop: Receiver, dispatcher: Dispatcher
) -> None:
    shop.script(Reply.http(500), Reply.success())
    order = await create_order(api, notificationUrl=shop.url)
    await trigger(api, order["id"], "pay")
    assert await dispatcher.run_once() == 1  # the first attempt fails: next one in 60 s
    [stored] = await rows(db, notifications, notifications.c.order_id == order["id"])
    assert stored.status == "pending"
    assert await dispatcher.run_once() == 0  # not due yet

    await api.post(f"{SANDBOX}/clock", content=body({"advance": "61s"}))

    assert await dispatcher.run_once() == 1
    assert len(shop.requests) == 2
    [stored] = await rows(db, notifications, notifications.c.order_id == order["id"])
    assert (stored.status, stored.attempts) == ("delivered", 2)


async def test_the_clock_only_moves_forward_by_a_duration(api: httpx.AsyncClient) -> None:
    for bad in ("-2h", "2x", "0s", "", "soon"):
        response = await api.post(f"{SANDBOX}/clock", content=body({"advance": bad}))
        assert response.status_code == 422, bad
        assert read(response)["error"]["fields"][0]["name"] == "advance"
    assert read(await api.get(f"{SANDBOX}/clock"))["data"]["offsetSeconds"] == 0


async def test_reset_clock_goes_back_to_the_real_time(api: httpx.AsyncClient) -> None:
    await api.post(f"{SANDBOX}/clock", content=body({"advance": "1d2h"}))
    assert read(await api.get(f"{SANDBOX}/clock"))["data"]["offsetSeconds"] == 93600

    response = await api.post(f"{SANDBOX}/clock/reset")

    assert read(response)["data"] == {**read(response)["data"], "offsetSeconds": 0, "moved": False}
    assert clock.offset() == timedelta(0)


@pytest.mark.parametrize(
    ("lang", "banner"),
    [
        ("ru", "Часы песочницы сдвинуты на +2\u00a0ч"),
        ("en", "The sandbox clock is moved forward by +2\u00a0h"),
    ],
)
async def test_every_page_shows_a_banner_while_the_clock_is_moved(
    api: httpx.AsyncClient, lang: str, banner: str
) -> None:
    order = await create_order(api)
    pages = ["/", "/help", f"/order/{order['orderContainerId']}"]
    for path in pages:
        assert "data-sandbox-clock" not in (await api.get(f"{path}?lang={lang}")).text

    await api.post(f"{SANDBOX}/clock", content=body({"advance": "2h"}))

    for path in pages:
        assert banner in (await api.get(f"{path}?lang={lang}")).text, path
    await api.post(f"{SANDBOX}/clock/reset")
    assert "data-sandbox-clock" not in (await api.get(f"/help?lang={lang}")).text


# -- reset ------------------------------------------------------------------------------------


async def test_reset_empties_sandbox_data_and_keeps_merchants(
    client: httpx.AsyncClient, db: Database, shop: Receiver, dispatcher: Dispatcher
) -> None:
    async with db.transaction() as conn:
        other = await merchants_service.create_merchant(conn, name="Kept shop")
        await merchants_service.rotate_merchant_credentials(conn, DEMO_MERCHANT_ID)
    # The rotation: the demo shop's documented token stops working...
    assert (await client.get(AUTH, headers=DEMO_AUTH)).status_code == 401
    client.headers.update({"Authorization": f"Bearer {other.token}"})
    order = await create_order(
        client, merchant_id=other.id, notificationUrl=shop.url, expires_in=timedelta(hours=1)
    )
    await trigger(client, order["id"], "pay")
    second = await create_order(client, merchant_id=other.id)
    await trigger(client, second["id"], "decline")
    await client.post(f"{SANDBOX}/clock", content=body({"advance": "3h"}))
    await dispatcher.run_once()
    assert await rows(db, notification_attempts)

    response = await client.post(f"{SANDBOX}/reset")

    assert response.status_code == 200, response.text
    deleted = read(response)["data"]["deleted"]
    assert (deleted["orders"], deleted["payments"], deleted["receipts"]) == (2, 2, 1)
    async with db.read() as conn:
        for name in sandbox_repository.EMPTIED:
            count = await conn.execute(select(func.count()).select_from(metadata.tables[name]))
            assert count.scalar_one() == 0, name
        kept = (await conn.execute(select(metadata.tables["merchants"].c.id))).scalars().all()
    assert set(kept) == {DEMO_MERCHANT_ID, other.id}
    assert clock.offset() == timedelta(0)
    # ...and after the reset it works again, as at the first start.
    assert (await client.get(AUTH, headers=DEMO_AUTH)).status_code == 200
    assert (await client.get(AUTH)).status_code == 200
    assert read(await client.get(ORDERS_LIST))["data"] == []


# -- production ---------------------------------------------------------------------------------


@pytest.fixture
async def production(database_url: str, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url, mode="production", session_secret="s" * 32)
    app = create_app(settings, db=db, migrate=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=TEST_PUBLIC_URL, headers=DEMO_AUTH
    ) as http:
        yield http


async def test_every_sandbox_control_is_refused_in_production(
    api: httpx.AsyncClient, production: httpx.AsyncClient, db: Database
) -> None:
    order = await create_order(api)
    calls = [
        *[("POST", f"{SANDBOX}/order/{order['id']}/{a}") for a in ("pay", "decline", "hold")],
        ("POST", f"{SANDBOX}/order/{order['id']}/expire"),
        ("GET", f"{SANDBOX}/clock"),
        ("POST", f"{SANDBOX}/clock"),
        ("POST", f"{SANDBOX}/clock/reset"),
        ("POST", f"{SANDBOX}/reset"),
    ]
    for method, path in calls:
        response = await production.request(method, path, content=body({"advance": "2h"}))
        assert response.status_code == 403, path
        assert read(response)["error"]["code"] == "sandbox_only", path
    assert clock.offset() == timedelta(0)
    assert read(await api.get(f"{ORDERS}/{order['id']}"))["data"]["status"] == "created"
    assert await rows(db, payments) == []
