"""What one request may cost: a body size limit checked before parsing (Content-Length and
chunked bodies alike, API and payment-page forms), and HEAD wherever GET is served."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy import func, select

from marketbox.config import Settings
from marketbox.storage.db import Database
from marketbox.storage.tables import idempotency_keys, order_containers, orders, payments
from tests.conftest import body, make_settings, read
from tests.support.builders import order_payload

ORDERS = "/v3/billing/api/order/order"
LIMIT = 4096


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, max_body_bytes=LIMIT)


async def count(db: Database, table: Any) -> int:
    async with db.transaction() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


def oversized_order() -> bytes:
    payload = order_payload(description="x" * LIMIT)
    raw = body(payload)
    assert len(raw) > LIMIT
    return raw


def assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    error = read(response)["error"]
    assert error["code"] == "payload_too_large"
    assert str(LIMIT) in error["message"]
    assert response.headers["connection"] == "close"  # the rest of the body is not read


async def test_an_order_within_the_limit_is_accepted(api: httpx.AsyncClient) -> None:
    raw = body(order_payload())
    assert len(raw) < LIMIT
    response = await api.post(ORDERS, content=raw)
    assert response.status_code == 200, response.text


async def test_a_declared_body_over_the_limit_is_refused_and_changes_nothing(
    api: httpx.AsyncClient, db: Database
) -> None:
    response = await api.post(ORDERS, content=oversized_order())
    assert_too_large(response)
    assert await count(db, orders) == 0


async def test_a_chunked_body_over_the_limit_is_refused_while_it_arrives(
    api: httpx.AsyncClient, db: Database
) -> None:
    raw = oversized_order()
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), 1000):
            sent.append(start)
            yield raw[start : start + 1000]
        # A client that never stops: the server must answer before the body ends.
        while len(sent) < 1000:
            sent.append(-1)
            yield b" " * 1000

    response = await api.post(ORDERS, content=chunks())
    assert "content-length" not in response.request.headers
    assert_too_large(response)
    assert len(sent) <= LIMIT // 1000 + 2
    assert await count(db, orders) == 0


async def test_a_chunked_body_over_the_limit_with_an_idempotency_key_keeps_no_key(
    api: httpx.AsyncClient, db: Database
) -> None:
    raw = oversized_order()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), 1000):
            yield raw[start : start + 1000]

    headers = {"Idempotency-Key": "big"}
    assert_too_large(await api.post(ORDERS, content=chunks(), headers=headers))
    assert await count(db, idempotency_keys) == 0
    retry = await api.post(ORDERS, content=body(order_payload()), headers=headers)
    assert retry.status_code == 200, retry.text


async def test_a_body_exactly_at_the_limit_reaches_the_parser(api: httpx.AsyncClient) -> None:
    response = await api.post(ORDERS, content=b"[" + b" " * (LIMIT - 2) + b"]")
    assert response.status_code == 422, response.text  # parsed: a JSON array is no order


async def test_a_payment_form_over_the_limit_is_refused_and_pays_nothing(
    api: httpx.AsyncClient, db: Database
) -> None:
    created = await api.post(ORDERS, content=body(order_payload()))
    order = read(created)["data"]
    path = httpx.URL(order["paymentUrl"]).path
    form = {"card_number": "4242 4242 4242 4242", "padding": "x" * LIMIT}
    response = await api.post(f"{path}/pay", data=form)
    assert_too_large(response)
    assert await count(db, payments) == 0
    async with db.transaction() as conn:
        status = (
            await conn.execute(
                select(order_containers.c.status).where(
                    order_containers.c.id == order["orderContainerId"]
                )
            )
        ).scalar_one()
    assert status == "pending"


# --- HEAD -------------------------------------------------------------------------------------

VOLATILE = {"x-request-id", "set-cookie", "date"}


async def test_head_is_answered_like_get_without_a_body(app: Any, api: httpx.AsyncClient) -> None:
    created = await api.post(ORDERS, content=body(order_payload()))
    order = read(created)["data"]
    container = order["orderContainerId"]
    paths = [
        "/",
        "/help",
        "/legal/offer",
        f"/order/{container}",
        f"/order/{container}/summary.json",
        f"{ORDERS}/{order['id']}",
        "/v3/security/api/auth/auth",
        "/openapi.json",
        "/static/marketbox.css",
        "/static/miniapp/bridge.js",
        "/marketplace/static/pos-page.js",
        "/order/00000000-0000-7000-8000-000000000000",  # an HTML 404
    ]
    # The payment page masks its form token afresh on every render (BREACH; test_breach.py),
    # and compressed, each random mask has a length of its own: a render's length, not one.
    per_render_length = {f"/order/{container}"}
    for path in paths:
        got = await api.get(path)
        head = await api.head(path)
        assert head.status_code == got.status_code, path
        assert head.status_code != 405, path
        assert head.content == b"", path
        volatile = VOLATILE | ({"content-length"} if path in per_render_length else set())
        expected = {k: v for k, v in got.headers.items() if k not in volatile}
        assert {k: v for k, v in head.headers.items() if k not in volatile} == expected, path
        assert ("content-length" in head.headers) == ("content-length" in got.headers), path


async def test_every_get_route_answers_head(app: Any, client: httpx.AsyncClient) -> None:
    """No GET route is left out: HEAD never meets a 405 where GET would be served."""
    for route in iter_route_contexts(app.routes):
        methods = getattr(route, "methods", None) or set()
        if "GET" not in methods:
            continue
        path = route.path.replace("{", "").replace("}", "")  # any value: 404s are fine
        response = await client.head(path)
        assert response.status_code != 405, route.path
        assert response.content == b""


async def test_head_on_a_post_only_route_stays_405(client: httpx.AsyncClient) -> None:
    response = await client.head("/order/00000000-0000-7000-8000-000000000000/pay")
    assert response.status_code == 405
