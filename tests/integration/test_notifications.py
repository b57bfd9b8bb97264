"""Notification delivery end to end: pay an order, run the dispatcher, a real shop receives it.

The shop is tests/support/receiver.py, a real HTTP server; nothing of ours is mocked. Retries
are scheduled at 0 s here (the schedule itself is checked with a pinned clock).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from marketbox import clock
from marketbox.config import DEFAULT_RETRY_SCHEDULE, Settings
from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import DEMO_MERCHANT_ID, DEMO_SIGNING_KEY
from marketbox.notifications import service, worker
from marketbox.notifications.dispatcher import Dispatcher
from marketbox.notifications.errors import NotificationNotFound
from marketbox.notifications.outbox import TEST_NOTIFICATION_ORDER_ID
from marketbox.payments import service as payments_service
from marketbox.storage.db import Database
from marketbox.storage.tables import notification_attempts, notifications
from tests.conftest import body, make_settings, read
from tests.support.builders import basket_item, order_payload
from tests.support.receiver import Receiver, Reply

ORDERS = "/v3/billing/api/order/order"
NO_RETRY_DELAY = (0,) * 10
FINAL_CODES = [
    "order_wrong_amount",
    "order_already_paid",
    "order_not_found",
    "shipping_unavailable",
    "signature_error",
    "order_wrong_status",
]
_order_numbers = itertools.count(1)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url,
        notification_retry_schedule=NO_RETRY_DELAY,
        notification_timeout_seconds=1.0,
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


@pytest.fixture
def pinned_clock() -> Iterator[list[datetime]]:
    """clock.now() returns now[0]; the test moves it."""
    now = [datetime.now(UTC)]
    clock.set_now(lambda: now[0])
    yield now
    clock.set_now(None)


async def create_order(
    api: httpx.AsyncClient, *, auth: dict[str, str] | None = None, **overrides: Any
) -> dict[str, Any]:
    overrides.setdefault("merchant_order_id", f"N-{next(_order_numbers)}")
    response = await api.post(ORDERS, content=body(order_payload(**overrides)), headers=auth)
    assert response.status_code == 200, response.text
    return read(response)["data"]


async def pay(db: Database, settings: Settings, order: dict[str, Any]) -> None:
    async with db.transaction() as conn:
        await payments_service.pay_container(
            conn,
            container_id=order["orderContainerId"],
            method="card",
            card_last4="4242",
        )


async def paid_order(
    api: httpx.AsyncClient, db: Database, settings: Settings, url: str, **overrides: Any
) -> dict[str, Any]:
    order = await create_order(api, notificationUrl=url, **overrides)
    await pay(db, settings, order)
    return order


async def notification_for(db: Database, order_id: str) -> Any:
    async with db.transaction() as conn:
        query = select(notifications).where(notifications.c.order_id == order_id)
        return (await conn.execute(query)).one()


async def notification(db: Database, notification_id: str) -> Any:
    async with db.transaction() as conn:
        query = select(notifications).where(notifications.c.id == notification_id)
        return (await conn.execute(query)).one()


async def attempts_of(db: Database, notification_id: str) -> list[Any]:
    async with db.transaction() as conn:
        query = (
            select(notification_attempts)
            .where(notification_attempts.c.notification_id == notification_id)
            .order_by(notification_attempts.c.attempt)
        )
        return list((await conn.execute(query)).all())


async def drain(dispatcher: Dispatcher, rounds: int = 30) -> int:
    sent = 0
    for _ in range(rounds):
        count = await dispatcher.run_once()
        if count == 0:
            return sent
        sent += count
    raise AssertionError("the dispatcher never ran out of due notifications")


def hmac_sha1(key: str, data: bytes) -> str:
    return hmac.new(key.encode(), data, hashlib.sha1).hexdigest()


# -- delivery -----------------------------------------------------------------------------


async def test_paid_order_reaches_the_shop_byte_exact_and_signed(
    api: httpx.AsyncClient, db: Database, settings: Settings, shop: Receiver, dispatcher: Dispatcher
) -> None:
    amount = Decimal("2790.67")
    order = await paid_order(
        api, db, settings, shop.url, items=[basket_item(name="Проездной билет", amount=amount)]
    )
    stored = await notification_for(db, order["id"])

    assert await dispatcher.run_once() == 1

    [request] = shop.requests
    assert request.method == "POST"
    assert request.body == stored.body
    assert request.headers["x-signature"] == hmac_sha1(DEMO_SIGNING_KEY, request.body)
    assert request.headers["x-signature"] == stored.signature
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "marketbox/0.1.0"
    assert request.headers["x-request-id"].startswith(f"{stored.id}-1-")
    assert b"\\/order\\/" in request.body  # PHP json_encode: "/" escaped
    assert "Проездной билет".encode() in request.body  # UTF-8 unescaped
    assert b"\\u04" not in request.body
    assert b": " not in request.body and b", " not in request.body
    sent = request.json()
    assert sent["id"] == order["id"]
    assert sent["status"] == "completed"
    assert sent["amount"] == amount
    assert sent["merchantId"] == DEMO_MERCHANT_ID
    assert sent["merchantOrderId"] == order["merchantOrderId"]
    assert sent["paymentUrl"] == f"{settings.public_base}/order/{order['orderContainerId']}"
    assert "paidAt" in sent

    record = await notification(db, stored.id)
    assert (record.status, record.attempts, record.lease_owner) == ("delivered", 1, None)
    assert record.finished_at is not None
    [attempt] = await attempts_of(db, stored.id)
    assert (attempt.attempt, attempt.outcome, attempt.http_status) == (1, "success", 200)
    assert attempt.response_body == '{"status":"success"}'
    assert attempt.dispatcher == "test-dispatcher"
    assert await dispatcher.run_once() == 0
    assert len(shop.requests) == 1


async def test_merchant_default_url_is_used_when_the_order_has_none(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    shop: Receiver,
    dispatcher: Dispatcher,
) -> None:
    async with db.transaction() as conn:
        merchant = await merchants_service.create_merchant(
            conn, name="Second shop", notification_url=shop.url
        )
    auth = {"Authorization": f"Bearer {merchant.token}"}
    order = await create_order(client, auth=auth, merchant_id=merchant.id)
    await pay(db, settings, order)

    assert await dispatcher.run_once() == 1

    [request] = shop.requests
    assert request.json()["id"] == order["id"]
    assert request.json()["merchantId"] == merchant.id
    assert request.headers["x-signature"] == hmac_sha1(merchant.signing_key, request.body)
    assert (await notification_for(db, order["id"])).status == "delivered"


async def test_order_without_any_url_is_kept_but_not_sent(
    api: httpx.AsyncClient, db: Database, settings: Settings, shop: Receiver, dispatcher: Dispatcher
) -> None:
    order = await create_order(api)
    await pay(db, settings, order)

    assert await dispatcher.run_once() == 0
    assert (await notification_for(db, order["id"])).status == "no_url"
    assert shop.requests == []


@pytest.mark.parametrize(
    ("failure", "http_status", "reply_code"),
    [
        (Reply.error("out_of_service"), 200, "out_of_service"),
        (Reply.error(), 200, "out_of_service"),
        (Reply.error("some_new_code"), 200, "some_new_code"),
        (Reply.http(500), 500, None),
        (Reply.http(400, b'{"status":"success"}'), 400, None),
        (Reply.http(302), 302, None),
        (Reply.invalid_json(), 200, None),
        (Reply(body=b'{"status":"ok"}'), 200, None),
        (Reply.slow(3.0), None, None),
    ],
    ids=[
        "out_of_service",
        "error-without-code",
        "unknown-code",
        "http-500",
        "http-400",
        "redirect",
        "invalid-json",
        "unexpected-status",
        "timeout",
    ],
)
async def test_failed_delivery_is_retried_until_success(
    api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    shop: Receiver,
    dispatcher: Dispatcher,
    failure: Reply,
    http_status: int | None,
    reply_code: str | None,
) -> None:
    shop.script(failure, failure)
    order = await paid_order(api, db, settings, shop.url)
    stored = await notification_for(db, order["id"])

    assert await drain(dispatcher) == 3

    assert len(shop.requests) == 3
    assert {r.body for r in shop.requests} == {stored.body}
    assert {r.headers["x-signature"] for r in shop.requests} == {stored.signature}
    assert [r.headers["x-request-id"].rsplit("-", 1)[0] for r in shop.requests] == [
        f"{stored.id}-{n}" for n in (1, 2, 3)
    ]
    assert len({r.headers["x-request-id"] for r in shop.requests}) == 3
    attempts = await attempts_of(db, stored.id)
    assert [a.outcome for a in attempts] == ["retry", "retry", "success"]
    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert attempts[0].http_status == http_status
    assert attempts[0].reply_code == reply_code
    assert attempts[0].error
    record = await notification(db, stored.id)
    assert (record.status, record.attempts, record.last_error) == ("delivered", 3, None)


async def test_slow_reply_within_the_timeout_is_a_success(
    api: httpx.AsyncClient, db: Database, settings: Settings, shop: Receiver, dispatcher: Dispatcher
) -> None:
    shop.script(Reply.slow(0.3))
    order = await paid_order(api, db, settings, shop.url)

    assert await dispatcher.run_once() == 1
    [attempt] = await attempts_of(db, (await notification_for(db, order["id"])).id)
    assert attempt.outcome == "success"
    assert attempt.duration_ms >= 300


@pytest.mark.parametrize("code", FINAL_CODES)
async def test_final_error_codes_stop_the_retries(
    api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    shop: Receiver,
    dispatcher: Dispatcher,
    code: str,
) -> None:
    shop.script(Reply.error(code, "Сумма не совпадает"))
    order = await paid_order(api, db, settings, shop.url)

    assert await drain(dispatcher) == 1

    assert len(shop.requests) == 1
    record = await notification_for(db, order["id"])
    assert (record.status, record.attempts) == ("rejected", 1)
    assert record.last_error == f"rejected: {code}"
    [attempt] = await attempts_of(db, record.id)
    assert (attempt.outcome, attempt.reply_code) == ("rejected", code)
    assert "Сумма не совпадает" in attempt.response_body


async def test_shipping_unavailable_marks_the_order(
    api: httpx.AsyncClient, db: Database, settings: Settings, shop: Receiver, dispatcher: Dispatcher
) -> None:
    other = await paid_order(api, db, settings, shop.url)
    order = await paid_order(api, db, settings, shop.url)
    shop.script_for(order["id"], Reply.error("shipping_unavailable"))

    assert await drain(dispatcher) == 2

    seen = read(await api.get(f"{ORDERS}/{order['id']}"))["data"]
    assert seen["processingStatus"] == "shipping_unavailable"
    assert seen["status"] == "completed"
    untouched = read(await api.get(f"{ORDERS}/{other['id']}"))["data"]
    assert untouched["processingStatus"] == ""


async def test_gives_up_after_eleven_failed_attempts(
    api: httpx.AsyncClient, db: Database, settings: Settings, shop: Receiver, dispatcher: Dispatcher
) -> None:
    shop.default = Reply.http(503)
    order = await paid_order(api, db, settings, shop.url)

    assert await drain(dispatcher) == 11

    assert len(shop.requests) == 11
    record = await notification_for(db, order["id"])
    assert (record.status, record.attempts) == ("abandoned", 11)
    assert record.last_error == "HTTP 503"
    assert record.finished_at is not None
    attempts = await attempts_of(db, record.id)
    assert [a.attempt for a in attempts] == list(range(1, 12))
    assert {a.outcome for a in attempts} == {"retry"}


async def test_retries_follow_the_documented_schedule(
    api: httpx.AsyncClient,
    db: Database,
    database_url: str,
    shop: Receiver,
    pinned_clock: list[datetime],
) -> None:
    settings = make_settings(database_url, notification_timeout_seconds=1.0)
    shop.default = Reply.error("out_of_service")
    order = await paid_order(api, db, settings, shop.url)
    record = await notification_for(db, order["id"])
    gaps = []
    async with Dispatcher(settings, db) as dispatcher:
        for attempt in range(1, 12):
            assert await dispatcher.run_once() == 1
            assert await dispatcher.run_once() == 0  # not due yet
            after = await notification(db, record.id)
            assert after.attempts == attempt
            if attempt <= 10:
                gaps.append((after.next_attempt_at - pinned_clock[0]).total_seconds())
                pinned_clock[0] = after.next_attempt_at

    assert gaps == list(DEFAULT_RETRY_SCHEDULE)
    assert sum(gaps) == timedelta(hours=22, minutes=51).total_seconds()
    assert (await notification(db, record.id)).status == "abandoned"
    assert len(shop.requests) == 11


async def test_monitoring_test_notification(
    db: Database, settings: Settings, shop: Receiver, dispatcher: Dispatcher
) -> None:
    async with db.transaction() as conn:
        merchant = await merchants_service.create_merchant(
            conn, name="Monitored shop", notification_url=shop.url
        )
        notification_id = await worker.send_test(conn, merchant_id=merchant.id, settings=settings)

    assert await dispatcher.run_once() == 1

    [request] = shop.requests
    sent = request.json()
    assert sent["id"] == TEST_NOTIFICATION_ORDER_ID == "ffffffff-ffff-ffff-ffff-ffffffffffff"
    assert sent["merchantOrderId"] == ""
    assert sent["merchantId"] == merchant.id
    assert sent["status"] == "completed"
    assert sent["paymentUrl"] == f"{settings.public_base}/order/{TEST_NOTIFICATION_ORDER_ID}"
    assert request.headers["x-signature"] == hmac_sha1(merchant.signing_key, request.body)
    assert (await notification(db, notification_id)).status == "delivered"


async def test_test_notification_to_a_merchant_without_url_is_not_sent(
    db: Database, settings: Settings, shop: Receiver, dispatcher: Dispatcher
) -> None:
    async with db.transaction() as conn:
        notification_id = await worker.send_test(
            conn, merchant_id=DEMO_MERCHANT_ID, settings=settings
        )

    assert await dispatcher.run_once() == 0
    assert (await notification(db, notification_id)).status == "no_url"
    async with db.transaction() as conn:
        with pytest.raises(LookupError):
            await worker.send_test(conn, merchant_id="nobody", settings=settings)


async def test_deliver_now_sends_one_notification_immediately(
    db: Database, settings: Settings, shop: Receiver, dispatcher: Dispatcher
) -> None:
    async with db.transaction() as conn:
        merchant = await merchants_service.create_merchant(
            conn, name="CLI shop", notification_url=shop.url
        )
        notification_id = await worker.send_test(conn, merchant_id=merchant.id, settings=settings)
    shop.script(Reply.error("signature_error"))

    result = await dispatcher.deliver_now(notification_id)

    assert result is not None
    assert (result.outcome, result.reply_code, result.http_status) == (
        "rejected",
        "signature_error",
        200,
    )
    assert await dispatcher.deliver_now(notification_id) is None  # rejected: nothing to send
    assert (await notification(db, notification_id)).status == "rejected"


# -- resend -------------------------------------------------------------------------------


async def test_resend_of_a_finished_notification_sends_the_same_bytes_again(
    api: httpx.AsyncClient, db: Database, settings: Settings, shop: Receiver, dispatcher: Dispatcher
) -> None:
    order = await paid_order(api, db, settings, shop.url)
    original = await notification_for(db, order["id"])
    await dispatcher.run_once()

    async with db.transaction() as conn:
        resent_id = await service.resend(conn, original.id, merchant_id=DEMO_MERCHANT_ID)
    assert await dispatcher.run_once() == 1

    assert resent_id != original.id
    assert [r.body for r in shop.requests] == [original.body, original.body]
    assert {r.headers["x-signature"] for r in shop.requests} == {original.signature}
    resent = await notification(db, resent_id)
    assert (resent.status, resent.attempts, resent.order_id) == ("delivered", 1, order["id"])
    kept = await notification(db, original.id)
    assert (kept.status, kept.attempts) == ("delivered", 1)
    assert len(await attempts_of(db, original.id)) == 1


async def test_resend_of_a_pending_notification_makes_it_due_now(
    api: httpx.AsyncClient, db: Database, database_url: str, shop: Receiver
) -> None:
    settings = make_settings(database_url, notification_timeout_seconds=1.0)  # retry in 60 s
    shop.script(Reply.error("out_of_service"))
    order = await paid_order(api, db, settings, shop.url)
    original = await notification_for(db, order["id"])
    async with Dispatcher(settings, db) as dispatcher:
        assert await dispatcher.run_once() == 1
        assert await dispatcher.run_once() == 0

        async with db.transaction() as conn:
            assert await service.resend(conn, original.id, merchant_id=None) == original.id
        assert await dispatcher.run_once() == 1

    record = await notification(db, original.id)
    assert (record.status, record.attempts) == ("delivered", 2)


async def test_resend_is_scoped_to_the_merchant(
    api: httpx.AsyncClient, db: Database, settings: Settings, shop: Receiver
) -> None:
    order = await paid_order(api, db, settings, shop.url)
    original = await notification_for(db, order["id"])

    async with db.transaction() as conn:
        with pytest.raises(NotificationNotFound):
            await service.resend(conn, original.id, merchant_id="another-merchant")
        with pytest.raises(NotificationNotFound):
            await service.resend(conn, "no-such-notification", merchant_id=None)


# -- claims -------------------------------------------------------------------------------


async def test_a_dispatcher_that_lost_its_claim_records_nothing(
    api: httpx.AsyncClient, db: Database, settings: Settings, shop: Receiver
) -> None:
    order = await paid_order(api, db, settings, shop.url)
    record = await notification_for(db, order["id"])
    shop.script(Reply.hang())  # A's request hangs; B's is answered with success
    async with (
        Dispatcher(
            settings.model_copy(update={"notification_timeout_seconds": 10.0}), db, name="A"
        ) as a,
        Dispatcher(settings, db, name="B") as b,
    ):
        stalled = asyncio.create_task(a.run_once())
        await shop.wait_for_requests(1, timeout=10)
        async with db.transaction() as conn:  # A's lease runs out while it waits for the shop
            await conn.execute(
                update(notifications)
                .where(notifications.c.id == record.id)
                .values(lease_until=clock.now() - timedelta(seconds=1))
            )
        assert await b.run_once() == 1
        shop.release()  # A finally gets its reply (success too), after B recorded
        assert await asyncio.wait_for(stalled, 10) == 1

    after = await notification(db, record.id)
    assert (after.status, after.attempts, after.lease_owner) == ("delivered", 1, None)
    [attempt] = await attempts_of(db, record.id)
    assert attempt.dispatcher == "B"
    assert len(shop.requests) == 2  # at-least-once: the shop saw it twice


async def test_a_reply_header_that_is_not_utf8_is_recorded_with_its_attempt(
    api: httpx.AsyncClient, db: Database, settings: Settings, dispatcher: Dispatcher
) -> None:
    """A shop's reply header with bytes that are not UTF-8 (aiohttp's server cannot send one,
    so this shop writes its reply by hand): the attempt and its batch are still recorded."""
    reply = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Odd: a\xffb\r\n"
        b'Content-Length: 20\r\nConnection: close\r\n\r\n{"status":"success"}'
    )

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        order = await paid_order(api, db, settings, f"http://127.0.0.1:{port}/notify")
        assert await dispatcher.run_once() == 1
    finally:
        server.close()
        await server.wait_closed()

    record = await notification_for(db, order["id"])
    assert (record.status, record.attempts, record.lease_owner) == ("delivered", 1, None)
    [attempt] = await attempts_of(db, record.id)
    assert attempt.response_headers["X-Odd"] == "a\ufffdb"


async def test_one_batch_of_mixed_answers_is_recorded_whole(
    api: httpx.AsyncClient, db: Database, settings: Settings, shop: Receiver, dispatcher: Dispatcher
) -> None:
    """Successes, a retry and a final refusal answered in one batch (on PostgreSQL the
    successes are recorded by a statement of their own): every notification gets its state and
    exactly one attempt with the exact request and reply."""
    delivered = [await paid_order(api, db, settings, shop.url) for _ in range(2)]
    retried = await paid_order(api, db, settings, shop.url)
    refused = await paid_order(api, db, settings, shop.url)
    shop.script_for(retried["id"], Reply.error("out_of_service"))
    shop.script_for(refused["id"], Reply.error("shipping_unavailable"))

    assert await dispatcher.run_once() == 4

    expected = {
        delivered[0]["id"]: ("delivered", "success", None),
        delivered[1]["id"]: ("delivered", "success", None),
        retried["id"]: ("pending", "retry", "out_of_service"),
        refused["id"]: ("rejected", "rejected", "shipping_unavailable"),
    }
    for order_id, (status, outcome, code) in expected.items():
        record = await notification_for(db, order_id)
        assert (record.status, record.attempts, record.lease_owner) == (status, 1, None)
        [attempt] = await attempts_of(db, record.id)
        assert (attempt.attempt, attempt.outcome, attempt.reply_code) == (1, outcome, code)
        assert attempt.dispatcher == "test-dispatcher"
        assert attempt.http_status == 200
        [sent] = [r for r in shop.requests if r.notification_id == order_id]
        assert attempt.request_url == shop.url
        assert attempt.request_headers["X-Signature"] == sent.headers["x-signature"]
        assert attempt.request_headers["X-Request-Id"] == sent.headers["x-request-id"]
        assert attempt.response_headers["Content-Type"].startswith("application/json")
        assert attempt.response_body.startswith("{")
    seen = read(await api.get(f"{ORDERS}/{refused['id']}"))["data"]
    assert seen["processingStatus"] == "shipping_unavailable"


async def test_an_attempt_that_cannot_be_recorded_spoils_only_itself(
    api: httpx.AsyncClient, db: Database, settings: Settings, shop: Receiver
) -> None:
    """Recorded as a batch, one row failing (here: its attempt number is taken) must not lose
    the others: they are recorded one by one, and the failing one is left to its lease."""
    orders = [await paid_order(api, db, settings, shop.url) for _ in range(3)]
    records = [await notification_for(db, o["id"]) for o in orders]
    shop.default = Reply.hang()
    patient = settings.model_copy(update={"notification_timeout_seconds": 10.0})
    async with Dispatcher(patient, db, name="A") as dispatcher:
        running = asyncio.create_task(dispatcher.run_once())
        await shop.wait_for_requests(3, timeout=10)
        async with db.transaction() as conn:  # attempt 1 of the first is taken meanwhile
            await conn.execute(
                notification_attempts.insert().values(
                    notification_id=records[0].id,
                    attempt=1,
                    dispatcher="someone else",
                    started_at=clock.now(),
                    duration_ms=0,
                    outcome="retry",
                )
            )
        shop.release()
        assert await asyncio.wait_for(running, 10) == 3

    spoiled = await notification(db, records[0].id)
    assert (spoiled.status, spoiled.attempts, spoiled.lease_owner) == ("pending", 0, "A")
    assert [a.dispatcher for a in await attempts_of(db, records[0].id)] == ["someone else"]
    for record in records[1:]:
        after = await notification(db, record.id)
        assert (after.status, after.attempts, after.lease_owner) == ("delivered", 1, None)
        [attempt] = await attempts_of(db, record.id)
        assert (attempt.attempt, attempt.dispatcher, attempt.outcome) == (1, "A", "success")


async def test_run_worker_delivers_and_expires_overdue_orders(
    api: httpx.AsyncClient,
    db: Database,
    database_url: str,
    shop: Receiver,
) -> None:
    settings = make_settings(database_url, dispatcher_poll_seconds=0.05, expiry_sweep_seconds=0.05)
    paid = await paid_order(api, db, settings, shop.url)
    overdue = await create_order(api, notificationUrl=shop.url, expires_in=timedelta(seconds=2))
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run_worker(settings, db, stop))
    try:
        await shop.wait_for_requests(2, timeout=30)
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)

    statuses = {r.json()["id"]: r.json()["status"] for r in shop.requests}
    assert statuses == {paid["id"]: "completed", overdue["id"]: "expired"}
    for order in (paid, overdue):
        assert (await notification_for(db, order["id"])).status == "delivered"


# Several dispatchers need PostgreSQL (SKIP LOCKED); SQLite runs one worker by design.
@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_concurrent_dispatchers_deliver_each_notification_exactly_once(
    api: httpx.AsyncClient, db: Database, database_url: str, shop: Receiver
) -> None:
    count = 200
    orders = [
        await paid_order(api, db, make_settings(database_url), shop.url) for _ in range(count)
    ]
    shop.default = Reply.slow(0.01)
    settings = make_settings(
        database_url,
        notification_batch_size=10,
        notification_concurrency=5,
        dispatcher_poll_seconds=0.02,
    )
    databases = [Database(database_url) for _ in range(3)]
    stop = asyncio.Event()
    dispatchers = [Dispatcher(settings, d, name=f"D{i}") for i, d in enumerate(databases)]
    running = [asyncio.create_task(d.run_forever(stop)) for d in dispatchers]
    try:
        await shop.wait_for_requests(count, timeout=60)
        await asyncio.sleep(0.5)  # room for a duplicate to show up
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*running), 30)
        for d in dispatchers:
            await d.close()
        for database in databases:
            await database.dispose()

    per_id = shop.count_by_id()
    assert set(per_id) == {o["id"] for o in orders}
    assert set(per_id.values()) == {1}
    async with db.transaction() as conn:
        statuses = (await conn.execute(select(notifications.c.status))).scalars().all()
        attempts = (await conn.execute(select(notification_attempts))).all()
    assert statuses == ["delivered"] * count
    assert len(attempts) == count
    assert len({a.dispatcher for a in attempts}) >= 2


async def test_run_forever_delivers_a_backlog_once_each(
    api: httpx.AsyncClient, db: Database, database_url: str, shop: Receiver
) -> None:
    count = 150
    base = make_settings(database_url)
    orders = [await paid_order(api, db, base, shop.url) for _ in range(count)]
    shop.script(*[Reply.error("out_of_service")] * 10)  # a few retries in the mix
    settings = make_settings(
        database_url,
        notification_batch_size=20,
        notification_concurrency=10,
        notification_retry_schedule=NO_RETRY_DELAY,
        dispatcher_poll_seconds=0.02,
    )
    stop = asyncio.Event()
    async with Dispatcher(settings, db) as dispatcher:
        running = asyncio.create_task(dispatcher.run_forever(stop))
        try:
            await shop.wait_for_requests(count + 10, timeout=60)
        finally:
            stop.set()
            await asyncio.wait_for(running, 30)

    assert set(shop.count_by_id()) == {o["id"] for o in orders}
    assert sum(shop.count_by_id().values()) == count + 10
    async with db.transaction() as conn:
        statuses = (await conn.execute(select(notifications.c.status))).scalars().all()
        attempts = (await conn.execute(select(notification_attempts))).all()
    assert statuses == ["delivered"] * count
    assert len(attempts) == count + 10


async def test_one_round_claims_no_more_than_one_batch(
    api: httpx.AsyncClient, db: Database, database_url: str, shop: Receiver
) -> None:
    """A dispatcher leases one batch at a time, leaving the rest to its peers."""
    batch = 5
    settings = make_settings(database_url, notification_batch_size=batch)
    orders = [await paid_order(api, db, settings, shop.url) for _ in range(3 * batch)]

    async with Dispatcher(settings, db, name="one-batch") as dispatcher:
        sent = await dispatcher.run_once()

    assert sent == batch
    assert len(shop.requests) == batch
    records = [await notification_for(db, o["id"]) for o in orders]
    untouched = [r for r in records if r.attempts == 0]
    assert len(untouched) == 2 * batch
    assert all(r.status == "pending" and r.lease_owner is None for r in untouched)
