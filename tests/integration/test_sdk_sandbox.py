"""The SDK's sandbox controls (sync and async) against a real server: a trigger, the clock
moved forward so that the running worker expires an order and notifies a real shop, and the
reset (docs/sandbox.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

import marketbox_sdk as mb
from marketbox import clock
from marketbox.merchants.service import DEMO_MERCHANT_ID, DEMO_TOKEN
from tests.support.builders import order_payload
from tests.support.live_server import live_server
from tests.support.receiver import Receiver


@pytest.fixture(autouse=True)
def real_time() -> Iterator[None]:
    clock.set_offset(dt.timedelta(0))
    yield
    clock.set_offset(dt.timedelta(0))


async def test_the_async_client_moves_the_clock_and_the_worker_tells_the_shop(
    database_url: str,
) -> None:
    async with Receiver() as shop:
        with live_server(database_url, run_worker=True, dispatcher_poll_seconds=0.05) as url:
            async with mb.AsyncClient(DEMO_TOKEN, base_url=url) as sdk:
                payload = order_payload(
                    merchant_order_id="SDK-1",
                    notificationUrl=shop.url,
                    expires_in=dt.timedelta(hours=1),
                )
                order = await sdk.create_order_request(mb.CreateOrder.from_dict(payload))

                moved = await sdk.advance_sandbox_clock(dt.timedelta(hours=2))

                assert (moved.offset, moved.moved) == (dt.timedelta(hours=2), True)
                assert moved.now - moved.real_now >= dt.timedelta(hours=2)
                [request] = await shop.wait_for_requests(1, timeout=20)
                assert (request.json()["id"], request.json()["status"]) == (order.id, "expired")
                assert (await sdk.get_order(order.id)).status == "expired"
                assert (await sdk.get_sandbox_clock()).offset_seconds == 7200
                assert (await sdk.reset_sandbox_clock()).moved is False


def test_the_sync_client_triggers_and_resets(database_url: str) -> None:
    with live_server(database_url) as url, mb.Client(DEMO_TOKEN, base_url=url) as sdk:
        payload = order_payload(merchant_order_id="SDK-2")
        order = sdk.create_order_request(mb.CreateOrder.from_dict(payload))

        held = sdk.trigger_sandbox(order.id, "hold")

        assert (held.action, held.result, held.order.status) == ("hold", "held", "hold")
        assert held.payment_id is not None
        with pytest.raises(mb.InvoiceboxError) as refused:
            sdk.trigger_sandbox(order.id, "pay")
        assert refused.value.http_status == 409
        with pytest.raises(ValueError):
            sdk.trigger_sandbox(order.id, "refund")  # type: ignore[arg-type]

        reset = sdk.reset_sandbox()

        assert reset.demo_merchant_id == DEMO_MERCHANT_ID
        assert reset.deleted["orders"] == 1
        with pytest.raises(mb.NotFound):
            sdk.get_order(order.id)
