"""The sandbox commands of the real `marketbox` CLI, in a subprocess (docs/sandbox.md): they
act on the same database as the API, the clock they move is the one every process reads, and
production mode refuses each of them in one line."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from marketbox import clock
from marketbox.app import create_app
from marketbox.sandbox import clock as sandbox_clock
from marketbox.storage.db import Database
from marketbox.storage.migrate import upgrade_async
from tests.conftest import DEMO_AUTH, TEST_PUBLIC_URL, body, make_settings, read
from tests.integration.test_cli import cli_environment, one_line, run_cli
from tests.support.builders import order_payload
from tests.support.receiver import Receiver, Reply

ORDERS = "/v3/billing/api/order/order"


@pytest.fixture(autouse=True)
def real_time() -> Iterator[None]:
    clock.set_offset(timedelta(0))
    yield
    clock.set_offset(timedelta(0))


async def api_call(db_file: Path, method: str, path: str, payload: Any = None) -> Any:
    """One request to an in-process app on the CLI's database file."""
    settings = make_settings(f"sqlite+aiosqlite:///{db_file}")
    db = Database(settings.database_url)
    try:
        from marketbox.bootstrap import prepare_database

        await prepare_database(settings, db)
        await sandbox_clock.refresh(db)
        app = create_app(settings, db=db, migrate=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=TEST_PUBLIC_URL, headers=DEMO_AUTH
        ) as http:
            content = body(payload) if payload is not None else None
            response = await http.request(method, path, content=content)
            assert response.status_code == 200, response.text
            return read(response)["data"]
    finally:
        await db.dispose()


async def test_trigger_and_clock_commands_act_on_the_shared_database(tmp_path: Path) -> None:
    db_file = tmp_path / "sandbox.db"
    await upgrade_async(f"sqlite+aiosqlite:///{db_file}")
    due = await api_call(
        db_file,
        "POST",
        ORDERS,
        order_payload(merchant_order_id="C-1", expires_in=timedelta(hours=1)),
    )
    unpaid = await api_call(db_file, "POST", ORDERS, order_payload(merchant_order_id="C-2"))

    paid = run_cli("trigger", "pay", unpaid["id"], "--json", db=db_file)
    assert paid.returncode == 0, paid.stderr
    assert json.loads(paid.stdout)["result"] == "paid"
    again = run_cli("trigger", "pay", unpaid["id"], db=db_file)
    assert again.returncode == 1
    assert "The order is completed" in one_line(again.stderr)

    moved = run_cli("clock", "advance", "2h", "--json", db=db_file)
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout) | {"now": ""} == {
        "now": "",
        "offsetSeconds": 7200,
        "expiredOrders": 1,
    }
    # Another process (this one) reads the same clock, and sees the order expired.
    assert (await api_call(db_file, "GET", "/v3/sandbox/api/clock"))["offsetSeconds"] == 7200
    assert (await api_call(db_file, "GET", f"{ORDERS}/{due['id']}"))["status"] == "expired"
    assert (await api_call(db_file, "GET", f"{ORDERS}/{unpaid['id']}"))["status"] == "completed"
    shown = run_cli("clock", "show", "--json", db=db_file)
    assert json.loads(shown.stdout)["offsetSeconds"] == 7200

    reset = run_cli("sandbox", "reset", "--json", db=db_file)
    assert reset.returncode == 0, reset.stderr
    assert json.loads(reset.stdout)["deleted"]["orders"] == 2
    assert json.loads(run_cli("clock", "show", "--json", db=db_file).stdout)["offsetSeconds"] == 0


async def test_a_worker_process_sends_the_retry_once_another_process_moves_the_clock(
    tmp_path: Path,
) -> None:
    db_file = tmp_path / "worker.db"
    await upgrade_async(f"sqlite+aiosqlite:///{db_file}")
    async with Receiver() as shop:
        shop.script(Reply.http(500), Reply.success())
        order = await api_call(
            db_file,
            "POST",
            ORDERS,
            order_payload(merchant_order_id="W-1", notificationUrl=shop.url),
        )
        await api_call(db_file, "POST", f"/v3/sandbox/api/order/{order['id']}/pay")
        worker = subprocess.Popen(
            [sys.executable, "-m", "marketbox.cli.main", "worker"],
            env=cli_environment(db_file, {"MARKETBOX_DISPATCHER_POLL_SECONDS": "0.1"}),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            await shop.wait_for_requests(1, timeout=30)  # refused: the retry is due in 60 s
            await asyncio.sleep(1.0)
            assert len(shop.requests) == 1

            await api_call(db_file, "POST", "/v3/sandbox/api/clock", {"advance": "61s"})

            # The worker reads the moved clock within a second and sends the retry now.
            requests = await shop.wait_for_requests(2, timeout=10)
            assert [r.notification_id for r in requests] == [requests[0].notification_id] * 2
        finally:
            worker.terminate()
            worker.wait(timeout=30)


def test_a_bad_duration_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("clock", "advance", "yesterday", db=tmp_path / "x.db")

    assert result.returncode == 2
    assert "not a duration" in one_line(result.stderr)


@pytest.mark.parametrize(
    "command",
    [
        ["trigger", "pay", "ffffffff-ffff-ffff-ffff-ffffffffffff"],
        ["trigger", "expire", "ffffffff-ffff-ffff-ffff-ffffffffffff"],
        ["clock", "show"],
        ["clock", "advance", "2h"],
        ["clock", "reset"],
        ["sandbox", "reset"],
    ],
)
def test_every_sandbox_command_is_refused_in_production(tmp_path: Path, command: list[str]) -> None:
    db_file = tmp_path / "prod.db"
    result = run_cli(
        *command,
        db=db_file,
        MARKETBOX_MODE="production",
        MARKETBOX_SESSION_SECRET="s" * 32,
    )

    assert result.returncode == 1
    assert "disabled in production mode" in one_line(result.stderr)
    assert not db_file.exists()  # refused before the database was opened
