"""Crash recovery with real processes: a worker killed with SIGKILL mid-delivery loses nothing.

Each test starts `marketbox.notifications.worker.main()` in a child Python process against
the test's database (an SQLite file, or a PostgreSQL database) and a real local shop. Every
wait is bounded; every process the test started is killed at the end.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from marketbox.config import Settings
from marketbox.payments import service as payments_service
from marketbox.storage.db import Database
from marketbox.storage.tables import notification_attempts, notifications
from tests.conftest import TEST_PUBLIC_URL, body, read
from tests.support.builders import order_payload
from tests.support.receiver import Receiver, Reply

ORDERS = "/v3/billing/api/order/order"
WAIT = 30.0
WORKER_CODE = "from marketbox.notifications.worker import main; main()"
# Short leases so a dead worker's claim lapses within the test's patience.
LEASE_SECONDS = "4"


class Workers:
    """Worker processes started by one test; all are killed when it ends."""

    def __init__(self, database_url: str, log_dir: Path) -> None:
        self.database_url = database_url
        self.log_dir = log_dir
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, **env: str) -> subprocess.Popen[bytes]:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("MARKETBOX_")}
        environment.update(
            MARKETBOX_DATABASE_URL=self.database_url,
            MARKETBOX_PUBLIC_URL=TEST_PUBLIC_URL,
            MARKETBOX_NOTIFICATION_LEASE_SECONDS=LEASE_SECONDS,
            MARKETBOX_DISPATCHER_POLL_SECONDS="0.05",
            MARKETBOX_LOG_LEVEL="DEBUG",
            PYTHONUNBUFFERED="1",
        )
        environment.update(env)
        log = (self.log_dir / f"worker-{len(self.started)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-c", WORKER_CODE],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.started.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')}"
            for path in sorted(self.log_dir.glob("worker-*.log"))
        )

    def kill_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=WAIT)


@pytest.fixture
def workers(database_url: str, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(database_url, tmp_path)
    yield started
    started.kill_all()


@pytest.fixture
async def shop() -> AsyncIterator[Receiver]:
    async with Receiver() as receiver:
        yield receiver


async def paid_order(
    api: httpx.AsyncClient, db: Database, settings: Settings, url: str
) -> dict[str, Any]:
    response = await api.post(ORDERS, content=body(order_payload(notificationUrl=url)))
    assert response.status_code == 200, response.text
    order = read(response)["data"]
    async with db.transaction() as conn:
        await payments_service.pay_container(
            conn,
            container_id=order["orderContainerId"],
            method="card",
        )
    return order


async def record_for(db: Database, order_id: str) -> Any:
    async with db.transaction() as conn:
        query = select(notifications).where(notifications.c.order_id == order_id)
        return (await conn.execute(query)).one()


async def attempts_of(db: Database, notification_id: str) -> list[Any]:
    async with db.transaction() as conn:
        query = select(notification_attempts).where(
            notification_attempts.c.notification_id == notification_id
        )
        return list((await conn.execute(query)).all())


async def wait_until(
    check: Callable[[], Awaitable[bool]], workers: Workers, timeout: float = WAIT
) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not await check():
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"condition not met within {timeout} s\n{workers.logs()}")


async def wait_for_requests(shop: Receiver, count: int, workers: Workers) -> None:
    try:
        await shop.wait_for_requests(count, timeout=WAIT)
    except TimeoutError:
        pytest.fail(f"the shop got {len(shop.requests)} of {count} requests\n{workers.logs()}")


async def wait_for_exit(process: subprocess.Popen[bytes], workers: Workers) -> int:
    async def exited() -> bool:
        return process.poll() is not None

    await wait_until(exited, workers)
    return process.returncode


async def test_worker_killed_mid_delivery_is_recovered_by_the_next_one(
    api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    shop: Receiver,
    workers: Workers,
) -> None:
    shop.script(Reply.hang())  # the first worker's request never gets an answer
    order = await paid_order(api, db, settings, shop.url)
    first = workers.start()

    await wait_for_requests(shop, 1, workers)
    os.kill(first.pid, signal.SIGKILL)
    assert await wait_for_exit(first, workers) == -signal.SIGKILL

    orphan = await record_for(db, order["id"])
    assert (orphan.status, orphan.attempts) == ("pending", 0)
    assert orphan.lease_owner is not None  # claimed, committed, then the owner died
    assert await attempts_of(db, orphan.id) == []

    workers.start()

    async def delivered() -> bool:
        return (await record_for(db, order["id"])).status == "delivered"

    await wait_until(delivered, workers)
    crashed, recovered = shop.requests
    assert crashed.body == recovered.body == orphan.body
    assert crashed.headers["x-signature"] == recovered.headers["x-signature"] == orphan.signature
    record = await record_for(db, order["id"])
    assert (record.attempts, record.lease_owner) == (1, None)
    [attempt] = await attempts_of(db, record.id)
    assert attempt.outcome == "success"
    assert attempt.dispatcher != orphan.lease_owner


async def test_notification_committed_while_no_worker_runs_is_sent_when_one_starts(
    api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    shop: Receiver,
    workers: Workers,
) -> None:
    order = await paid_order(api, db, settings, shop.url)
    await asyncio.sleep(0.2)
    assert shop.requests == []
    assert (await record_for(db, order["id"])).status == "pending"

    workers.start()

    async def delivered() -> bool:
        return (await record_for(db, order["id"])).status == "delivered"

    await wait_until(delivered, workers)
    [request] = shop.requests
    assert request.json()["id"] == order["id"]


async def test_sigterm_lets_the_delivery_in_flight_finish_and_be_recorded(
    api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    shop: Receiver,
    workers: Workers,
) -> None:
    shop.script(Reply.slow(1.0))
    order = await paid_order(api, db, settings, shop.url)
    process = workers.start(MARKETBOX_NOTIFICATION_LEASE_SECONDS="30")

    await wait_for_requests(shop, 1, workers)
    process.send_signal(signal.SIGTERM)

    assert await wait_for_exit(process, workers) == 0, workers.logs()
    record = await record_for(db, order["id"])
    assert (record.status, record.attempts, record.lease_owner) == ("delivered", 1, None)
    assert len(shop.requests) == 1
