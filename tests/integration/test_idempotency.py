"""Idempotency-Key on mutating /v3 calls (docs/api.md "Idempotency-Key"), SQLite and PostgreSQL.

Same key and request again: the stored answer, nothing runs twice. Same key, other request:
422. Same key while the first still runs: 409. A 5xx is not kept. Keys are per account and
are forgotten by the worker's purge after 24 hours.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from marketbox import clock
from marketbox.merchants import service as merchants_service
from marketbox.notifications import worker
from marketbox.notifications.worker import purge_idempotency_keys
from marketbox.orders import routes as orders_routes
from marketbox.orders import service as orders_service
from marketbox.security import signing
from marketbox.storage import idempotency as idempotency_store
from marketbox.storage.db import Database
from marketbox.storage.tables import idempotency_keys
from marketbox.web.idempotency import IdempotencyMiddleware
from tests.conftest import TEST_PUBLIC_URL, body, make_settings, read
from tests.support.builders import order_payload

ORDERS = "/v3/billing/api/order/order"
LIST = "/v3/filter/api/order/order"
CONFIRM = "/v3/payment/api/invoice/confirm"


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


async def count_orders(api: httpx.AsyncClient, merchant_order_id: str) -> int:
    response = await api.get(LIST, params={"merchantOrderId": merchant_order_id})
    return int(read(response)["metaData"]["totalCount"])


async def test_a_repeated_create_is_replayed_and_creates_one_order(
    api: httpx.AsyncClient,
) -> None:
    payload = body(order_payload(merchant_order_id="IDEM-1"))
    first = await api.post(ORDERS, content=payload, headers=key("create-1"))
    second = await api.post(ORDERS, content=payload, headers=key("create-1"))

    assert first.status_code == 200, first.text
    assert "idempotent-replayed" not in first.headers
    assert second.status_code == 200
    assert second.headers["idempotent-replayed"] == "true"
    assert second.content == first.content
    assert second.headers["content-type"] == first.headers["content-type"]
    assert second.headers["x-request-id"] != first.headers["x-request-id"]
    assert await count_orders(api, "IDEM-1") == 1
    # Without the key the same body is a second create, refused as a duplicate number.
    plain = await api.post(ORDERS, content=payload)
    assert read(plain)["error"]["code"] == "merchant_order_id_duplicate"


async def test_the_same_key_for_another_request_is_422(api: httpx.AsyncClient) -> None:
    first = await api.post(
        ORDERS, content=body(order_payload(merchant_order_id="A")), headers=key("k")
    )
    assert first.status_code == 200

    other_body = await api.post(
        ORDERS, content=body(order_payload(merchant_order_id="B")), headers=key("k")
    )
    other_path = await api.put(
        f"{ORDERS}/{read(first)['data']['id']}",
        content=body({"description": "x"}),
        headers=key("k"),
    )
    for response in (other_body, other_path):
        assert response.status_code == 422
        error = read(response)["error"]
        assert error["code"] == "idempotency_key_reused"
        assert error["fields"][0]["name"] == "Idempotency-Key"
    assert await count_orders(api, "B") == 0
    assert (
        read(await api.get(f"{ORDERS}/{read(first)['data']['id']}"))["data"]["description"] != "x"
    )


async def test_a_4xx_is_kept_and_replayed(api: httpx.AsyncClient) -> None:
    payload = body(order_payload(merchant_order_id="BAD", amount=Decimal("1.00")))
    first = await api.post(ORDERS, content=payload, headers=key("bad-amount"))
    second = await api.post(ORDERS, content=payload, headers=key("bad-amount"))

    assert first.status_code == 422
    assert read(first)["error"]["code"] == "wrong_total_amount"
    assert second.status_code == 422
    assert second.headers["idempotent-replayed"] == "true"
    assert second.content == first.content


async def test_update_and_cancel_are_replayed(api: httpx.AsyncClient) -> None:
    created = read(await api.post(ORDERS, content=body(order_payload())))["data"]
    url = f"{ORDERS}/{created['id']}"
    update = body({"description": "Один раз"})
    assert (await api.put(url, content=update, headers=key("u"))).status_code == 200
    again = await api.put(url, content=update, headers=key("u"))
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"

    first = await api.delete(url, headers=key("cancel"))
    second = await api.delete(url, headers=key("cancel"))
    assert first.status_code == second.status_code == 200
    assert read(second)["data"]["status"] == "canceled"
    assert second.headers["idempotent-replayed"] == "true"
    # Without the key a second cancel is what it is: a wrong status.
    assert read(await api.delete(url))["error"]["code"] == "wrong_order_status"


async def test_a_5xx_is_not_kept_so_the_retry_runs(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = orders_service.create_order
    calls = 0

    async def failing_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database fell over")
        return await real(*args, **kwargs)

    monkeypatch.setattr(orders_service, "create_order", failing_once)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {
        "Authorization": f"Bearer {merchants_service.DEMO_TOKEN}",
        "Idempotency-Key": "retry-me",
    }
    payload = body(order_payload(merchant_order_id="RETRY"))
    async with httpx.AsyncClient(transport=transport, base_url=TEST_PUBLIC_URL) as http:
        crashed = await http.post(ORDERS, content=payload, headers=headers)
        retried = await http.post(ORDERS, content=payload, headers=headers)
        replayed = await http.post(ORDERS, content=payload, headers=headers)

    assert crashed.status_code == 500
    assert retried.status_code == 200, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert replayed.headers["idempotent-replayed"] == "true"
    assert calls == 2


async def test_a_claim_left_by_a_dead_process_is_taken_over_after_the_lease(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = orders_service.create_order
    calls = 0

    async def dies_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("process killed")
        return await real(*args, **kwargs)

    async def never_released(*args: Any, **kwargs: Any) -> None:
        return None  # a killed process frees nothing

    monkeypatch.setattr(orders_service, "create_order", dies_once)
    monkeypatch.setattr(idempotency_store, "release", never_released)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {merchants_service.DEMO_TOKEN}", **key("orphan")}
    payload = body(order_payload(merchant_order_id="ORPHAN", expires_in=timedelta(days=2)))
    start = datetime.now(UTC)
    try:
        clock.set_now(lambda: start)
        async with httpx.AsyncClient(transport=transport, base_url=TEST_PUBLIC_URL) as http:
            died = await http.post(ORDERS, content=payload, headers=headers)
            clock.set_now(lambda: start + timedelta(minutes=4))
            held = await http.post(ORDERS, content=payload, headers=headers)
            clock.set_now(lambda: start + timedelta(minutes=6))
            taken_over = await http.post(ORDERS, content=payload, headers=headers)
            replayed = await http.post(ORDERS, content=payload, headers=headers)
    finally:
        clock.set_now(None)

    assert died.status_code == 500
    assert read(held)["error"]["code"] == "idempotency_key_in_use"
    assert taken_over.status_code == 200, taken_over.text
    assert "idempotent-replayed" not in taken_over.headers
    assert replayed.headers["idempotent-replayed"] == "true"
    assert calls == 2


async def test_a_request_in_flight_holds_its_key(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Held while it reads its body, before it takes a connection (SQLite has one).
    real = orders_routes.read_model
    entered, proceed = asyncio.Event(), asyncio.Event()

    async def slow(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        await proceed.wait()
        return await real(*args, **kwargs)

    monkeypatch.setattr(orders_routes, "read_model", slow)
    payload = body(order_payload(merchant_order_id="SLOW"))
    first = asyncio.create_task(api.post(ORDERS, content=payload, headers=key("slow")))
    await asyncio.wait_for(entered.wait(), 10)

    busy = await api.post(ORDERS, content=payload, headers=key("slow"))
    reused = await api.post(
        ORDERS, content=body(order_payload(merchant_order_id="OTHER")), headers=key("slow")
    )
    proceed.set()
    done = await first
    after = await api.post(ORDERS, content=payload, headers=key("slow"))

    assert busy.status_code == 409
    assert read(busy)["error"]["code"] == "idempotency_key_in_use"
    assert busy.headers["retry-after"] == "1"
    assert read(reused)["error"]["code"] == "idempotency_key_reused"
    assert done.status_code == 200, done.text
    assert after.headers["idempotent-replayed"] == "true"
    assert after.content == done.content
    assert await count_orders(api, "SLOW") == 1


async def test_concurrent_requests_with_one_key_run_once(api: httpx.AsyncClient) -> None:
    payload = body(order_payload(merchant_order_id="RACE"))
    responses = await asyncio.gather(
        *(api.post(ORDERS, content=payload, headers=key("race")) for _ in range(8))
    )

    ran = [r for r in responses if r.status_code == 200 and "idempotent-replayed" not in r.headers]
    assert len(ran) == 1
    for response in responses:
        if response is ran[0]:
            continue
        if response.status_code == 409:
            assert read(response)["error"]["code"] == "idempotency_key_in_use"
        else:
            assert response.headers["idempotent-replayed"] == "true"
            assert response.content == ran[0].content
    assert await count_orders(api, "RACE") == 1


async def test_keys_belong_to_one_account(api: httpx.AsyncClient, db: Database) -> None:
    async with db.transaction() as conn:
        other = await merchants_service.create_merchant(conn, name="Другой магазин")
    payload = order_payload(merchant_order_id="SHARED")
    mine = await api.post(ORDERS, content=body(payload), headers=key("shared"))
    theirs = await api.post(
        ORDERS,
        content=body({**payload, "merchantId": other.id}),
        headers={"Authorization": f"Bearer {other.token}", **key("shared")},
    )

    assert mine.status_code == 200
    assert theirs.status_code == 200, theirs.text
    assert "idempotent-replayed" not in theirs.headers
    assert read(theirs)["data"]["merchantId"] == other.id
    assert read(theirs)["data"]["id"] != read(mine)["data"]["id"]


async def test_instrument_confirmations_take_keys_too(
    api: httpx.AsyncClient, client: httpx.AsyncClient, db: Database
) -> None:
    async with db.transaction() as conn:
        bank = await merchants_service.create_instrument(conn, name="Банк")
    order = read(await api.post(ORDERS, content=body(order_payload())))["data"]
    raw = body(
        {
            "invoiceId": order["orderContainerId"],
            "paymentOperationId": "op-1",
            "amount": order["amount"],
            "currencyId": "RUB",
        }
    )
    signature = signing.sign(raw, bank.signing_key, signing.DEFAULT_ALGORITHM)

    async def confirm(sig: str, idem: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {bank.token}", "X-Signature": sig, **key(idem)}
        return await client.post(CONFIRM, content=raw, headers=headers)

    first = await confirm(signature, "pay")
    again = await confirm(signature, "pay")
    forged = await confirm("0" * 40, "pay")  # same body, another signature: another request
    mine = await api.post(
        ORDERS, content=body(order_payload(merchant_order_id="M")), headers=key("pay")
    )

    assert first.status_code == 200, first.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert read(forged)["error"]["code"] == "idempotency_key_reused"
    assert mine.status_code == 200  # the merchant's "pay" is not the bank's


async def test_keys_are_purged_after_a_day(api: httpx.AsyncClient, db: Database) -> None:
    start = datetime.now(UTC)
    try:
        clock.set_now(lambda: start)
        payload = order_payload(merchant_order_id="OLD", expires_in=timedelta(days=5))
        assert (
            await api.post(ORDERS, content=body(payload), headers=key("old"))
        ).status_code == 200

        clock.set_now(lambda: start + timedelta(hours=23))
        assert await purge_idempotency_keys(db) == 0
        newer = order_payload(merchant_order_id="NEW", expires_in=timedelta(days=5))
        kept = await api.post(ORDERS, content=body(newer), headers=key("old"))
        assert read(kept)["error"]["code"] == "idempotency_key_reused"

        clock.set_now(lambda: start + timedelta(hours=25))
        assert await purge_idempotency_keys(db) == 1
        fresh = await api.post(ORDERS, content=body(newer), headers=key("old"))
        assert fresh.status_code == 200, fresh.text
        assert "idempotent-replayed" not in fresh.headers
    finally:
        clock.set_now(None)


async def test_the_running_worker_purges_day_old_keys(
    api: httpx.AsyncClient, db: Database, database_url: str
) -> None:
    try:
        clock.set_now(lambda: datetime.now(UTC) - timedelta(hours=25))
        payload = order_payload(merchant_order_id="AGED", expires_in=timedelta(days=5))
        assert (
            await api.post(ORDERS, content=body(payload), headers=key("aged"))
        ).status_code == 200
    finally:
        clock.set_now(None)
    fresh = order_payload(merchant_order_id="YOUNG")
    assert (await api.post(ORDERS, content=body(fresh), headers=key("young"))).status_code == 200

    settings = make_settings(database_url, dispatcher_poll_seconds=0.05, expiry_sweep_seconds=0.05)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run_worker(settings, db, stop))
    try:
        for _ in range(200):
            if await stored_keys(db) == ["young"]:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
    assert await stored_keys(db) == ["young"]


async def stored_keys(db: Database) -> list[str]:
    async with db.transaction() as conn:
        rows = await conn.execute(select(idempotency_keys.c.key).order_by(idempotency_keys.c.key))
        return [row.key for row in rows]


@pytest.mark.parametrize("value", ["", "   ", "x" * 256, "ключ".encode().decode("latin-1")])
async def test_a_malformed_key_is_422(api: httpx.AsyncClient, value: str) -> None:
    response = await api.post(
        ORDERS,
        content=body(order_payload(merchant_order_id="MALFORMED")),
        headers={"Idempotency-Key": value.encode("latin-1")},  # type: ignore[dict-item]
    )
    assert response.status_code == 422
    assert read(response)["error"]["fields"][0]["name"] == "Idempotency-Key"
    assert await count_orders(api, "MALFORMED") == 0


async def test_the_longest_key_and_reads_with_a_key(api: httpx.AsyncClient) -> None:
    longest = "k" * 255
    payload = body(order_payload(merchant_order_id="LONG"))
    assert (await api.post(ORDERS, content=payload, headers=key(longest))).status_code == 200
    replay = await api.post(ORDERS, content=payload, headers=key(longest))
    assert replay.headers["idempotent-replayed"] == "true"
    # A read ignores the header: it is answered afresh each time.
    listed = await api.get(LIST, headers=key(longest))
    assert listed.status_code == 200
    assert "idempotent-replayed" not in listed.headers


async def test_an_unknown_token_with_a_key_is_a_plain_401(client: httpx.AsyncClient) -> None:
    response = await client.post(
        ORDERS,
        content=body(order_payload()),
        headers={"Authorization": "Bearer nope", **key("k")},
    )
    assert response.status_code == 401
    assert read(response)["error"]["code"] == "unauthorized"


async def test_without_the_header_nothing_is_looked_at() -> None:
    """No key: the middleware hands the request on untouched (no app state, no database)."""
    seen: list[dict[str, Any]] = []

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope)

    middleware = IdempotencyMiddleware(inner)
    scope = {"type": "http", "method": "POST", "path": ORDERS, "headers": []}  # no "app"
    await middleware(scope, _no_receive, _no_send)
    assert seen == [scope]


async def _no_receive() -> AsyncIterator[Any]:  # pragma: no cover - must not be called
    raise AssertionError("the body was read")


async def _no_send(message: Any) -> None:  # pragma: no cover - must not be called
    raise AssertionError("the middleware answered")


async def test_openapi_documents_the_header_on_mutating_operations(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    for path, item in spec["paths"].items():
        if not path.startswith("/v3/"):
            continue
        for method, operation in item.items():
            names = {p["name"] for p in operation.get("parameters", [])}
            if method in ("post", "put", "patch", "delete"):
                assert "Idempotency-Key" in names, (method, path)
            else:
                assert "Idempotency-Key" not in names, (method, path)


async def test_the_python_sdk_retries_safely_with_a_key(app: Any) -> None:
    import marketbox_sdk as mb

    transport = httpx.ASGITransport(app=app)
    async with mb.AsyncClient(
        merchants_service.DEMO_TOKEN, base_url=TEST_PUBLIC_URL, transport=transport
    ) as sdk:
        request = mb.CreateOrder.from_dict(order_payload(merchant_order_id="SDK"))
        order = await sdk.create_order_request(request, idempotency_key="sdk-1")
        retried = await sdk.create_order_request(request, idempotency_key="sdk-1")
        with pytest.raises(mb.InvoiceboxError) as reused:
            await sdk.update_order(order.id, description="x", idempotency_key="sdk-1")
        page = await sdk.list_orders(merchant_order_id="SDK")

    assert retried.id == order.id
    assert reused.value.code == "idempotency_key_reused"
    assert page.total_count == 1
