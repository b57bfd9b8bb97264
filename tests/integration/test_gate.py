"""The WebSocket JSON-RPC gate (notifications.md §8, docs/gate.md) against real `marketbox
serve` processes: an order paid through the API reaches a connected client as
`onOrderStatusChange`, from another API process too (PostgreSQL with Redis, PostgreSQL
alone), a bad token is closed with 4401, `marketbox listen` forwards signed bodies to a local
shop, and `marketbox gate status` lists who is connected.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from marketbox import jsonutil
from marketbox.merchants.service import DEMO_MERCHANT_ID, DEMO_SIGNING_KEY, DEMO_TOKEN
from marketbox.security import signing
from tests.integration.test_many_processes import (
    api_process,
    cli,
    environment,
    free_port,
    pg_database,
    redis_space,
    two_api_processes,
)
from tests.support.builders import order_payload
from tests.support.receiver import Receiver

__all__ = ["pg_database", "redis_space"]  # the fixtures, for this module's tests

ORDERS = "/v3/billing/api/order/order"
CONFIRM = "/v3/payment/api/invoice/confirm"
FRAME_TIMEOUT_SECONDS = 15.0
GATE_ROW = {
    "id": "0190aa01-0000-7000-8000-0000000000c1",
    "merchant_id": DEMO_MERCHANT_ID,
    "process": "host:1",
    "remote": "127.0.0.1:5000",
    "connected_at": datetime(2026, 1, 1, tzinfo=UTC),
    "seen_at": datetime(2026, 1, 1, tzinfo=UTC),
}


def sqlite_environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKETBOX_")}
    env.update(
        MARKETBOX_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'gate.db'}",
        MARKETBOX_MODE="sandbox",
        MARKETBOX_LOG_LEVEL="WARNING",
        MARKETBOX_RATE_LIMIT_ENABLED="false",
    )
    return env


def gate_url(base_url: str, token: str = DEMO_TOKEN) -> str:
    return base_url.replace("http://", "ws://") + f"/v3/gate/rpc?token={token}"


def create_order(base_url: str, merchant_order_id: str) -> dict[str, Any]:
    response = httpx.post(
        f"{base_url}{ORDERS}",
        content=jsonutil.dumps(order_payload(merchant_order_id=merchant_order_id)),
        headers={"Authorization": f"Bearer {DEMO_TOKEN}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    order: dict[str, Any] = jsonutil.loads(response.content)["data"]
    return order


def pay(base_url: str, bank: dict[str, str], order: dict[str, Any]) -> None:
    """The bank confirms the invoice (api.md §13.2): the order becomes `completed`."""
    raw = jsonutil.dumps(
        {
            "invoiceId": order["orderContainerId"],
            "paymentOperationId": order["id"],
            "amount": order["amount"],
            "currencyId": "RUB",
            "status": "paid",
        }
    )
    response = httpx.post(
        f"{base_url}{CONFIRM}",
        content=raw,
        headers={
            "Authorization": f"Bearer {bank['token']}",
            "Content-Type": "application/json",
            "X-Signature": signing.sign(raw, bank["signingKey"]),
        },
    )
    assert response.status_code == 200, response.text


async def next_call(ws: ClientConnection, method: str) -> dict[str, Any]:
    """The next call of `method` the gate makes; other calls are answered with success."""
    for _ in range(10):
        frame = await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT_SECONDS)
        message: dict[str, Any] = jsonutil.loads(frame)
        if message.get("method") == method:
            return message
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": {}}))
    raise AssertionError(f"no {method} call in 10 frames")


async def answer_get_status(ws: ClientConnection) -> None:
    call = await next_call(ws, "getStatus")
    assert call["params"] == {"logQuantity": 40}
    result = {"version": "1.0", "type": "test-client", "settings": {}, "log": []}
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": call["id"], "result": result}))


@pytest.fixture
async def sqlite_server(tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, str]]]:
    env = sqlite_environment(tmp_path)
    with api_process(env, tmp_path / "api.log") as base_url:
        yield base_url, env


async def test_a_connected_client_is_called_when_its_order_is_paid(
    sqlite_server: tuple[str, dict[str, str]],
) -> None:
    base_url, env = sqlite_server
    bank = cli(env, "instrument", "create", "--name", "Bank")
    async with connect(gate_url(base_url)) as ws:
        await answer_get_status(ws)
        order = create_order(base_url, "GATE-1")
        pay(base_url, bank, order)

        call = await next_call(ws, "onOrderStatusChange")
        await ws.send(
            json.dumps({"jsonrpc": "2.0", "id": call["id"], "result": {"status": "success"}})
        )
        status = cli(env, "gate", "status")

    assert call["jsonrpc"] == "2.0"
    [notice] = call["params"]
    assert notice["id"] == order["id"]
    assert notice["status"] == "completed"
    assert notice["merchantOrderId"] == "GATE-1"
    assert notice["amount"] == order["amount"]  # Decimal on both sides
    assert notice["paidAt"]
    [connection] = status  # type: ignore[misc]
    assert connection["merchant_id"] == order["merchantId"]  # type: ignore[index]
    assert connection["client_status"]["type"] == "test-client"  # type: ignore[index]


async def test_a_client_that_leaves_is_no_longer_listed(
    sqlite_server: tuple[str, dict[str, str]],
) -> None:
    base_url, env = sqlite_server
    async with connect(gate_url(base_url)) as ws:
        await answer_get_status(ws)
    deadline = time.monotonic() + 10
    while cli(env, "gate", "status") and time.monotonic() < deadline:  # type: ignore[truthy-bool]
        await asyncio.sleep(0.1)
    assert cli(env, "gate", "status") == []


@pytest.mark.parametrize("token", ["", "0000000000000000000000000000dead"])
async def test_a_bad_token_is_closed_with_4401(
    sqlite_server: tuple[str, dict[str, str]], token: str
) -> None:
    base_url, _ = sqlite_server
    async with connect(gate_url(base_url, token)) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT_SECONDS)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


async def test_a_call_from_the_client_is_method_not_found(
    sqlite_server: tuple[str, dict[str, str]],
) -> None:
    base_url, _ = sqlite_server
    async with connect(gate_url(base_url)) as ws:
        await answer_get_status(ws)
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 7, "method": "getStatus"}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT_SECONDS))
        await ws.send("not json")
        parse_error = json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT_SECONDS))

    assert reply == {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {"code": -32601, "message": "Method not found"},
    }
    assert parse_error["error"]["code"] == -32700


@pytest.mark.parametrize("bus", ["redis", "postgresql"])
async def test_an_event_caused_on_one_process_reaches_a_client_of_another(
    pg_database: str, redis_space: Any, tmp_path: Path, bus: str
) -> None:
    env = environment(pg_database, redis_space, MARKETBOX_RATE_LIMIT_ENABLED="false")
    if bus == "postgresql":  # LISTEN/NOTIFY: no Redis at all
        env = {k: v for k, v in env.items() if not k.startswith("MARKETBOX_REDIS")}
    bank = cli(env, "instrument", "create", "--name", "Bank")
    with two_api_processes(env, tmp_path) as (first, second):
        async with connect(gate_url(first)) as on_first:
            await answer_get_status(on_first)
            order = create_order(second, f"MANY-{bus}")
            pay(second, bank, order)
            call = await next_call(on_first, "onOrderStatusChange")

    [notice] = call["params"]
    assert notice["id"] == order["id"]
    assert notice["status"] == "completed"


async def test_listen_forwards_each_event_signed_to_a_local_shop(
    sqlite_server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    base_url, env = sqlite_server
    bank = cli(env, "instrument", "create", "--name", "Bank")
    output = tmp_path / "listen.out"
    async with Receiver() as shop:
        with output.open("w", encoding="utf-8") as out:
            listen = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "marketbox.cli.main",
                    "listen",
                    "--forward-to",
                    shop.url,
                    "--url",
                    base_url,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        try:
            deadline = time.monotonic() + 30
            while "listening on" not in output.read_text(encoding="utf-8"):
                assert listen.poll() is None, output.read_text(encoding="utf-8")
                assert time.monotonic() < deadline, "listen did not connect"
                await asyncio.sleep(0.05)
            order = create_order(base_url, "LISTEN-1")
            pay(base_url, bank, order)
            [received] = await shop.wait_for_requests(1)
            deadline = time.monotonic() + 10
            while "[200]" not in output.read_text(encoding="utf-8") and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            listen.terminate()
            listen.wait(timeout=10)

    assert received.headers["x-signature"] == signing.sign(received.body, DEMO_SIGNING_KEY)
    forwarded = jsonutil.loads(received.body)
    assert forwarded["id"] == order["id"]
    assert forwarded["status"] == "completed"
    printed = output.read_text(encoding="utf-8")
    assert f"order {order['id']}  completed" in printed
    assert f"-> POST {shop.url} [200]" in printed


async def test_listen_stops_when_the_token_is_refused(
    sqlite_server: tuple[str, dict[str, str]],
) -> None:
    base_url, env = sqlite_server
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "marketbox.cli.main",
            "listen",
            "--url",
            base_url,
            "--merchant-token",
            "0000000000000000000000000000dead",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1
    assert "refused the token" in result.stderr


async def test_listen_says_it_reconnects_when_the_gate_is_unreachable(tmp_path: Path) -> None:
    env = sqlite_environment(tmp_path)
    nowhere = f"http://127.0.0.1:{free_port()}"
    output = tmp_path / "listen.out"
    with output.open("w", encoding="utf-8") as out:
        listen = subprocess.Popen(
            [sys.executable, "-m", "marketbox.cli.main", "listen", "--url", nowhere],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 30
        while output.read_text(encoding="utf-8").count("reconnecting in") < 2:
            assert listen.poll() is None, output.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, output.read_text(encoding="utf-8")
            await asyncio.sleep(0.1)
    finally:
        listen.terminate()
        listen.wait(timeout=10)

    printed = output.read_text(encoding="utf-8")
    assert f"cannot connect to {nowhere.replace('http', 'ws')}/v3/gate/rpc" in printed
    assert "reconnecting in 1 s" in printed
    assert "reconnecting in 2 s" in printed
