"""Production mode never sends requests to private networks: notification URLs (order and
merchant default) and mini-app URLs are refused when saved, and the dispatcher checks the
address it actually connects to. The sandbox keeps delivering to localhost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from marketbox.app import create_app
from marketbox.config import Settings
from marketbox.errors import ValidationFailed
from marketbox.merchants import service as merchants_service
from marketbox.notifications import outbox
from marketbox.notifications.dispatcher import Dispatcher
from marketbox.storage.db import Database
from marketbox.storage.tables import notification_attempts, notifications, orders
from tests.conftest import DEMO_AUTH, TEST_PUBLIC_URL, body, make_settings, read
from tests.integration.test_cli import run_cli
from tests.support.builders import order_payload
from tests.support.receiver import Receiver

ORDERS = "/v3/billing/api/order/order"
SHOPS = "/v3/marketplace/api/shop"
PRIVATE_URLS = [
    "https://127.0.0.1:9/",
    "https://10.0.0.1/notify",
    "https://[::1]/notify",
    "https://169.254.169.254/latest/meta-data/",
    "https://[fd00:ec2::254]/",
    "https://100.64.0.1/",
    "https://localhost/notify",  # a name that resolves to 127.0.0.1
]
PUBLIC_URLS = ["https://93.184.215.14/notify", "https://shop.example/notify"]


def production(database_url: str, **overrides: Any) -> Settings:
    return make_settings(database_url, mode="production", session_secret="test-secret", **overrides)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return production(database_url)


@pytest.fixture
async def shop() -> AsyncIterator[Receiver]:
    async with Receiver() as receiver:
        yield receiver


async def order_count(db: Database) -> int:
    async with db.transaction() as conn:
        return len((await conn.execute(select(orders.c.id))).all())


def assert_refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    [error] = read(response)["error"]["fields"]
    assert error["name"] == field
    assert "not allowed" in error["message"]


# --- on save --------------------------------------------------------------------------------


@pytest.mark.parametrize("url", PRIVATE_URLS)
async def test_an_order_notification_url_on_a_private_network_is_refused(
    api: httpx.AsyncClient, db: Database, url: str
) -> None:
    created = await api.post(ORDERS, content=body(order_payload(notificationUrl=url)))
    assert_refused(created, "notificationUrl")
    assert await order_count(db) == 0


async def test_updating_an_order_to_a_private_notification_url_is_refused(
    api: httpx.AsyncClient, db: Database
) -> None:
    created = read(await api.post(ORDERS, content=body(order_payload())))["data"]
    updated = await api.put(
        f"{ORDERS}/{created['id']}", content=body({"notificationUrl": "https://10.1.2.3/n"})
    )
    assert_refused(updated, "notificationUrl")
    assert read(await api.get(f"{ORDERS}/{created['id']}"))["data"].get("notificationUrl") in (
        None,
        "",
    )


@pytest.mark.parametrize("url", PUBLIC_URLS)
async def test_public_notification_urls_are_accepted(api: httpx.AsyncClient, url: str) -> None:
    created = await api.post(ORDERS, content=body(order_payload(notificationUrl=url)))
    assert created.status_code == 200, created.text


async def test_the_sandbox_accepts_localhost(database_url: str, db: Database) -> None:
    app = create_app(make_settings(database_url), db=db, migrate=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=TEST_PUBLIC_URL, headers=DEMO_AUTH
    ) as client:
        payload = order_payload(notificationUrl="http://127.0.0.1:9/notify")
        assert (await client.post(ORDERS, content=body(payload))).status_code == 200


async def test_a_merchant_default_url_on_a_private_network_is_refused(db: Database) -> None:
    with pytest.raises(ValidationFailed) as refused:
        async with db.transaction() as conn:
            await merchants_service.create_merchant(
                conn,
                name="Shop",
                notification_url="https://169.254.169.254/",
                block_private_networks=True,
            )
    assert [f.name for f in refused.value.fields] == ["notificationUrl"]
    async with db.transaction() as conn:
        created = await merchants_service.create_merchant(
            conn, name="Shop", notification_url="http://localhost:9/", block_private_networks=False
        )
    assert created.id


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"miniApp": {"url": "https://127.0.0.1/app"}}, "miniApp.url"),
        ({"miniApp": {"url": "https://localhost/app"}}, "miniApp.url"),
        ({"miniAppUrl": "https://[fd00:ec2::254]/app"}, "miniAppUrl"),
    ],
)
async def test_a_mini_app_url_on_a_private_network_is_refused(
    api: httpx.AsyncClient, payload: dict[str, Any], field: str
) -> None:
    created = await api.post(SHOPS, content=body({"title": "Лаунж", **payload}))
    assert_refused(created, field)
    plain = read(await api.post(SHOPS, content=body({"title": "Кофейня"})))["data"]
    updated = await api.post(f"{SHOPS}/{plain['id']}", content=body(payload))
    assert_refused(updated, field)
    public = await api.post(
        f"{SHOPS}/{plain['id']}", content=body({"miniApp": {"url": "https://lounge.example/app"}})
    )
    assert public.status_code == 200, public.text


# --- on delivery ----------------------------------------------------------------------------


async def queue_test_notification(db: Database, url: str) -> str:
    """A merchant whose URL was saved without the check (before production mode, or a name
    that resolved elsewhere then): what the dispatcher must still refuse."""
    async with db.transaction() as conn:
        merchant = await merchants_service.create_merchant(conn, name="Shop", notification_url=url)
        return await outbox.enqueue_test(conn, merchant_id=merchant.id, payment_url="https://x")


async def notification_state(db: Database, notification_id: str) -> tuple[str, str, list[Any]]:
    async with db.transaction() as conn:
        row = (
            await conn.execute(select(notifications).where(notifications.c.id == notification_id))
        ).one()
        tries = (
            await conn.execute(
                select(notification_attempts).where(
                    notification_attempts.c.notification_id == notification_id
                )
            )
        ).all()
    return row.status, row.last_error, [t._mapping for t in tries]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
async def test_production_delivery_to_a_private_address_is_refused_and_final(
    settings: Settings, db: Database, shop: Receiver, host: str
) -> None:
    url = f"http://{host}:{shop.port}/notify"
    notification_id = await queue_test_notification(db, url)

    async with Dispatcher(settings, db, name="prod") as dispatcher:
        result = await dispatcher.deliver_now(notification_id)
        assert await dispatcher.run_once() == 0  # nothing left to retry

    assert result is not None and result.outcome == "rejected"
    assert shop.requests == []
    status, last_error, [attempt] = await notification_state(db, notification_id)
    assert status == "rejected"
    assert "blocked in production mode" in last_error
    assert "not allowed" in last_error
    assert attempt["outcome"] == "rejected" and attempt["http_status"] is None
    assert attempt["error"] == last_error


async def test_the_sandbox_still_delivers_to_localhost(
    database_url: str, db: Database, shop: Receiver
) -> None:
    notification_id = await queue_test_notification(db, f"http://localhost:{shop.port}/notify")
    async with Dispatcher(make_settings(database_url), db, name="sandbox") as dispatcher:
        result = await dispatcher.deliver_now(notification_id)
    assert result is not None and result.outcome == "success"
    assert len(shop.requests) == 1
    assert (await notification_state(db, notification_id))[0] == "delivered"


def test_the_cli_refuses_a_private_default_url_in_production(tmp_path: Path) -> None:
    db_file = tmp_path / "cli.db"
    secret = {"MARKETBOX_SESSION_SECRET": "test-secret"}
    args = ("merchant", "create", "--name", "Shop", "--notification-url")

    refused = run_cli(
        *args, "https://127.0.0.1/n", db=db_file, MARKETBOX_MODE="production", **secret
    )
    public = run_cli(
        *args, "https://shop.example/n", db=db_file, MARKETBOX_MODE="production", **secret
    )
    sandbox = run_cli(*args, "http://127.0.0.1:9/n", db=db_file)

    assert refused.returncode != 0
    assert "notificationUrl" in refused.stderr and "127.0.0.1" in refused.stderr
    assert public.returncode == 0, public.stderr
    assert sandbox.returncode == 0, sandbox.stderr


async def test_a_test_notification_to_a_private_address_is_refused(
    api: httpx.AsyncClient, shop: Receiver
) -> None:
    response = await api.post("/v3/notification/api/test", content=body({"url": shop.url}))

    assert_refused(response, "url")
    assert shop.requests == []
