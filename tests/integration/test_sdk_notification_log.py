"""The SDK's delivery log calls against the real app: the async client in-process, the sync
client against a live server. The shop is a real local HTTP server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import marketbox_sdk as mb
from marketbox.config import Settings
from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import DEMO_TOKEN
from marketbox.notifications.dispatcher import Dispatcher
from marketbox.payments import service as payments_service
from marketbox.storage.db import Database
from tests.conftest import TEST_PUBLIC_URL, make_settings
from tests.support.builders import order_payload
from tests.support.live_server import live_server
from tests.support.receiver import Receiver, Reply


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url, notification_retry_schedule=(0,) * 10, notification_timeout_seconds=2.0
    )


@pytest.fixture
async def sdk(app: Any) -> AsyncIterator[mb.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with mb.AsyncClient(DEMO_TOKEN, base_url=TEST_PUBLIC_URL, transport=transport) as c:
        yield c


@pytest.fixture
async def shop() -> AsyncIterator[Receiver]:
    async with Receiver() as receiver:
        yield receiver


async def paid_order(sdk: mb.AsyncClient, db: Database, url: str, number: str) -> mb.Order:
    payload = order_payload(merchant_order_id=number, notificationUrl=url)
    order = await sdk.create_order_request(mb.CreateOrder.from_dict(payload))
    async with db.transaction() as conn:
        await payments_service.pay_container(
            conn, container_id=order.order_container_id, method="card"
        )
    return order


async def test_the_async_client_reads_the_log_and_resends(
    sdk: mb.AsyncClient, db: Database, settings: Settings, shop: Receiver
) -> None:
    order = await paid_order(sdk, db, shop.url, "SDK-LOG-1")
    failing = await paid_order(sdk, db, shop.url, "SDK-LOG-2")
    shop.script_for(failing.id, Reply.error("order_not_found"))
    async with Dispatcher(settings, db) as dispatcher:
        await dispatcher.run_once()

        [listed] = (await sdk.list_notifications(order_id=order.id)).items
        shown = await sdk.get_notification(listed.id)
        resent = await sdk.resend_notification(listed.id)
        failed_again = await sdk.resend_failed_notifications()
        assert await dispatcher.run_once() == 2

    assert (listed.status, listed.attempt_count) == ("delivered", 1)
    [attempt] = shown.attempts
    [sent] = [r for r in shop.requests[:2] if r.notification_id == order.id]
    assert attempt.request.body.encode() == sent.body
    assert attempt.request.headers["X-Signature"] == sent.headers["x-signature"]
    assert attempt.response is not None and attempt.response.status == 200
    assert (attempt.outcome, attempt.reason) == ("success", "delivered")
    assert (resent.status, resent.resent_from) == ("pending", listed.id)
    assert len(failed_again) == 1
    assert (await sdk.get_notification(failed_again[0])).status == "delivered"
    assert len(shop.requests) == 4


async def test_the_async_client_maps_the_log_errors(
    sdk: mb.AsyncClient, db: Database, settings: Settings, shop: Receiver
) -> None:
    order = await paid_order(sdk, db, shop.url, "SDK-LOG-3")
    async with db.transaction() as conn:
        other = await merchants_service.create_merchant(conn, name="Другой")
    shop.script(Reply.hang())
    async with Dispatcher(settings, db) as dispatcher:
        sending = asyncio.create_task(dispatcher.run_once())
        try:
            await shop.wait_for_requests(1)
            [listed] = (await sdk.list_notifications(order_id=order.id)).items
            with pytest.raises(mb.NotificationInFlight):
                await sdk.resend_notification(listed.id)
        finally:
            shop.release()
            await sending
    transport = sdk._http._transport
    async with mb.AsyncClient(other.token, base_url=TEST_PUBLIC_URL, transport=transport) as c:
        with pytest.raises(mb.NotFound):
            await c.get_notification(listed.id)


async def test_the_sync_client_sends_the_test_notification(database_url: str) -> None:
    async with Receiver() as shop:
        shop.script(Reply.error("signature_error"))

        def work() -> tuple[mb.NotificationTestResult, mb.NotificationTestResult]:
            with (
                live_server(database_url) as base_url,
                mb.Client(DEMO_TOKEN, base_url=base_url) as c,
            ):
                return c.send_test_notification(url=shop.url), c.send_test_notification(
                    url=shop.url
                )

        refused, accepted = await asyncio.to_thread(work)

    assert not refused.accepted
    assert refused.attempt is not None and refused.attempt.reply_code == "signature_error"
    assert accepted.accepted and accepted.status == "delivered"
    assert len(shop.requests) == 2
