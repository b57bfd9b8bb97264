"""The delivery log API: every attempt's exact request and the shop's reply, resend, resend of
the failed, the test notification answered at once, tenancy. The shop is a real local HTTP
server (tests/support/receiver.py)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from marketbox.config import Settings
from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import DEMO_MERCHANT_ID, DEMO_SIGNING_KEY
from marketbox.notifications.dispatcher import Dispatcher
from marketbox.notifications.outbox import TEST_NOTIFICATION_ORDER_ID
from marketbox.payments import service as payments_service
from marketbox.storage.db import Database
from tests.conftest import body, make_settings, read
from tests.support.builders import order_payload
from tests.support.receiver import Receiver, Reply

ORDERS = "/v3/billing/api/order/order"
LOG = "/v3/notification/api/notification"
TEST = "/v3/notification/api/test"
_numbers = itertools.count(1)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url,
        notification_retry_schedule=(0,) * 10,
        notification_timeout_seconds=2.0,
        dispatcher_poll_seconds=0.05,
    )


@pytest.fixture
async def shop() -> AsyncIterator[Receiver]:
    async with Receiver() as receiver:
        yield receiver


@pytest.fixture
async def dispatcher(settings: Settings, db: Database) -> AsyncIterator[Dispatcher]:
    async with Dispatcher(settings, db, name="test-dispatcher") as d:
        yield d


async def paid_order(api: httpx.AsyncClient, db: Database, url: str) -> dict[str, Any]:
    payload = order_payload(merchant_order_id=f"LOG-{next(_numbers)}", notificationUrl=url)
    response = await api.post(ORDERS, content=body(payload))
    assert response.status_code == 200, response.text
    order: dict[str, Any] = read(response)["data"]
    async with db.transaction() as conn:
        await payments_service.pay_container(
            conn, container_id=order["orderContainerId"], method="card", card_last4="4242"
        )
    return order


async def log_of(api: httpx.AsyncClient, **query: str) -> list[dict[str, Any]]:
    response = await api.get(LOG, params=query)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = read(response)["data"]
    return items


async def only_notification_of(api: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    [item] = await log_of(api, orderId=order_id)
    return item


async def detail(api: httpx.AsyncClient, notification_id: str) -> dict[str, Any]:
    response = await api.get(f"{LOG}/{notification_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = read(response)["data"]
    return found


def hmac_sha1(key: str, data: bytes) -> str:
    return hmac.new(key.encode(), data, hashlib.sha1).hexdigest()


async def other_merchant_auth(db: Database) -> dict[str, str]:
    async with db.transaction() as conn:
        other = await merchants_service.create_merchant(conn, name="Другой магазин")
    return {"Authorization": f"Bearer {other.token}"}


async def test_every_attempt_shows_the_exact_request_and_the_shops_reply(
    api: httpx.AsyncClient, db: Database, shop: Receiver, dispatcher: Dispatcher
) -> None:
    order = await paid_order(api, db, shop.url)
    shop.script(Reply.error("out_of_service"), Reply.success())

    assert await dispatcher.run_once() == 1
    assert await dispatcher.run_once() == 1

    listed = await only_notification_of(api, order["id"])
    assert (listed["status"], listed["attemptCount"], listed["url"]) == ("delivered", 2, shop.url)
    shown = await detail(api, listed["id"])
    first, second = shown["attempts"]
    received = shop.requests
    assert first["request"]["url"] == shop.url
    assert first["request"]["body"].encode() == received[0].body
    assert first["request"]["headers"]["X-Signature"] == received[0].headers["x-signature"]
    assert first["request"]["headers"]["X-Signature"] == hmac_sha1(
        DEMO_SIGNING_KEY, received[0].body
    )
    assert first["request"]["headers"]["X-Request-Id"] == received[0].headers["x-request-id"]
    assert first["response"]["status"] == 200
    assert "application/json" in first["response"]["headers"]["Content-Type"]
    assert '"out_of_service"' in first["response"]["body"]
    assert (first["outcome"], first["reason"], first["replyCode"]) == (
        "retry",
        "shop_error",
        "out_of_service",
    )
    assert first["durationMs"] >= 0
    assert (second["attempt"], second["outcome"], second["reason"]) == (2, "success", "delivered")
    assert shown["request"]["body"].encode() == received[1].body


async def test_an_attempt_without_a_reply_shows_why(
    api: httpx.AsyncClient, db: Database, dispatcher: Dispatcher
) -> None:
    async with Receiver() as gone:
        url = gone.url  # a port nobody listens on once the server stops
    order = await paid_order(api, db, url)

    assert await dispatcher.run_once() == 1

    listed = await only_notification_of(api, order["id"])
    [attempt] = (await detail(api, listed["id"]))["attempts"]
    assert attempt["response"] is None
    assert (attempt["outcome"], attempt["reason"]) == ("retry", "connection_error")
    assert attempt["error"]


async def test_the_log_filters_and_pages(
    api: httpx.AsyncClient, db: Database, shop: Receiver, dispatcher: Dispatcher
) -> None:
    first = await paid_order(api, db, shop.url)
    second = await paid_order(api, db, shop.url)
    shop.script(Reply.error("order_not_found"))
    await dispatcher.run_once()

    assert [n["orderId"] for n in await log_of(api, orderId=second["id"])] == [second["id"]]
    rejected = await log_of(api, status="rejected")
    delivered = await log_of(api, status="delivered")
    assert len(rejected) == 1
    assert len(delivered) == 1
    assert {rejected[0]["orderId"], delivered[0]["orderId"]} == {first["id"], second["id"]}
    response = await api.get(LOG, params={"pageSize": "1", "page": "2"})
    assert read(response)["metaData"]["totalCount"] == 2
    assert len(read(response)["data"]) == 1
    bad = await api.get(LOG, params={"createdAt[ge]": "yesterday"})
    assert bad.status_code == 422


async def test_resend_delivers_again_signed_with_the_current_key_and_is_recorded(
    api: httpx.AsyncClient, db: Database, shop: Receiver, dispatcher: Dispatcher
) -> None:
    order = await paid_order(api, db, shop.url)
    await dispatcher.run_once()
    original = await only_notification_of(api, order["id"])
    async with db.transaction() as conn:
        rotated = await merchants_service.rotate_merchant_credentials(
            conn, DEMO_MERCHANT_ID, token=False
        )

    response = await api.post(f"{LOG}/{original['id']}/resend")
    assert await dispatcher.run_once() == 1

    assert response.status_code == 200, response.text
    resent = read(response)["data"]
    assert resent["id"] != original["id"]
    assert (resent["status"], resent["resentFrom"]) == ("pending", original["id"])
    first, again = shop.requests
    assert again.body == first.body
    assert again.headers["x-signature"] == hmac_sha1(rotated.signing_key, again.body)
    shown = await detail(api, resent["id"])
    assert (shown["status"], [a["outcome"] for a in shown["attempts"]]) == (
        "delivered",
        ["success"],
    )
    assert shown["attempts"][0]["request"]["headers"]["X-Signature"] == again.headers["x-signature"]
    assert (await detail(api, original["id"]))["attemptCount"] == 1


async def test_a_notification_being_delivered_cannot_be_resent(
    api: httpx.AsyncClient, db: Database, shop: Receiver, dispatcher: Dispatcher
) -> None:
    order = await paid_order(api, db, shop.url)
    shop.script(Reply.hang())
    sending = asyncio.create_task(dispatcher.run_once())
    try:
        await shop.wait_for_requests(1)
        listed = await only_notification_of(api, order["id"])

        response = await api.post(f"{LOG}/{listed['id']}/resend")

        assert listed["inFlight"] is True
        assert response.status_code == 409
        assert read(response)["error"]["code"] == "notification_in_flight"
    finally:
        shop.release()
        await sending
    assert len(shop.requests) == 1


async def test_resend_failed_resends_each_failed_notification_once(
    api: httpx.AsyncClient, db: Database, shop: Receiver, dispatcher: Dispatcher
) -> None:
    orders = [await paid_order(api, db, shop.url) for _ in range(2)]
    shop.script(Reply.error("order_not_found"), Reply.error("order_wrong_status"))
    await dispatcher.run_once()

    response = await api.post(f"{LOG}/resend-failed")
    again = await api.post(f"{LOG}/resend-failed")
    assert await dispatcher.run_once() == 2

    resent = read(response)["data"]["notificationIds"]
    assert len(resent) == 2
    assert read(again)["data"]["notificationIds"] == []
    assert sorted(r.json()["id"] for r in shop.requests[2:]) == sorted(o["id"] for o in orders)
    for notification_id in resent:
        assert (await detail(api, notification_id))["status"] == "delivered"


async def test_another_merchants_notifications_are_not_found(
    api: httpx.AsyncClient, db: Database, shop: Receiver, dispatcher: Dispatcher
) -> None:
    order = await paid_order(api, db, shop.url)
    await dispatcher.run_once()
    mine = await only_notification_of(api, order["id"])
    other = await other_merchant_auth(db)

    shown = await api.get(f"{LOG}/{mine['id']}", headers=other)
    resend = await api.post(f"{LOG}/{mine['id']}/resend", headers=other)
    listed = await api.get(LOG, headers=other)

    assert (shown.status_code, resend.status_code) == (404, 404)
    assert read(shown)["error"]["code"] == "not_found"
    assert read(listed)["data"] == []
    assert await dispatcher.run_once() == 0
    assert (await api.get(f"{LOG}/not-a-uuid")).status_code == 404
    assert (await api.get(LOG, headers={"Authorization": "Bearer nope"})).status_code == 401


async def test_the_test_notification_returns_the_shops_answer_at_once(
    api: httpx.AsyncClient, shop: Receiver
) -> None:
    shop.script(Reply.error("signature_error", "bad signature"))

    response = await api.post(TEST, content=body({"url": shop.url}))

    assert response.status_code == 200, response.text
    result = read(response)["data"]
    [received] = shop.requests
    assert received.json()["id"] == TEST_NOTIFICATION_ORDER_ID
    assert result["status"] == "rejected"
    attempt = result["attempt"]
    assert (attempt["outcome"], attempt["replyCode"]) == ("rejected", "signature_error")
    assert attempt["response"]["status"] == 200
    assert "bad signature" in attempt["response"]["body"]
    assert attempt["request"]["headers"]["X-Signature"] == received.headers["x-signature"]
    logged = await detail(api, result["notificationId"])
    assert [a["attempt"] for a in logged["attempts"]] == [1]


async def test_the_test_notification_needs_somewhere_to_go(api: httpx.AsyncClient) -> None:
    # The demo shop of the tests has no default notification URL.
    missing = await api.post(TEST)
    bad = await api.post(TEST, content=body({"url": "javascript:alert(1)"}))

    assert missing.status_code == 422
    assert read(missing)["error"]["fields"][0]["name"] == "url"
    assert bad.status_code == 422
    assert await log_of(api) == []
