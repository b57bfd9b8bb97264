"""The notification phase's timed process: the dispatcher, or the raw aiohttp floor.

``python -m bench.notify_worker dispatcher|floor DB_URL TARGET TIME_LIMIT [WARMUP]``

* dispatcher: one `Dispatcher` in this process. Warm-up is one `run_once()` over the due rows
  (it opens the database pool and the HTTP connections); then the parked rows (TARGET of
  them) are made due (untimed) and `run_forever` runs until none is pending any more, i.e.
  every one recorded (polled every 20 ms), or the time limit passes.
* floor: the same bodies and signatures, read from the outbox, POSTed by a bare aiohttp loop
  with the dispatcher's concurrency; WARMUP of them first, untimed, then the TARGET timed
  bodies FLOOR_REPEAT times over (the receiver does not mind repeats).

Prints one JSON line: delivered, elapsed_s, rate, cpu_s and server_cpu_ms (this process's CPU
per delivered notification).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import aiohttp
import asyncpg
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from bench.notify import PARKED_UNTIL
from marketbox import clock
from marketbox.config import Settings
from marketbox.notifications.dispatcher import Dispatcher
from marketbox.storage.db import Database
from marketbox.storage.tables import notifications

POLL_SECONDS = 0.02  # at ~1000 notifications/s, a 3000-notification run ends within 0.7 %
FLOOR_REPEAT = 5


DELIVERED = "SELECT count(*) FROM notifications WHERE status = 'delivered'"
# Every timed row is pending until its delivery is recorded (a claim leases a row, it does
# not change its status): none left pending means all of them are recorded.
ANY_PENDING = "SELECT EXISTS (SELECT 1 FROM notifications WHERE status = 'pending')"


async def _delivered(counter: Any) -> int:
    """Notifications recorded delivered, read on the harness's own raw asyncpg connection."""
    return int(await counter.fetchval(DELIVERED))


async def _any_pending(counter: Any) -> bool:
    """Whether a notification is still to be recorded: the poll that ends the timed part. It
    runs in the dispatcher's process and its query on a PostgreSQL backend that may share the
    dispatcher's core, so it must cost as little as it can: through SQLAlchemy and the
    dispatcher's pool every 5 ms it was 10-13 % of the CPU measured, and counting the
    delivered rows every 20 ms read up to 15,000 index entries a time. This is one index
    probe."""
    return bool(await counter.fetchval(ANY_PENDING))


async def run_dispatcher(url: str, time_limit: float) -> dict[str, Any]:
    settings = Settings(database_url=url, mode="sandbox", rate_limit_enabled=False)
    db = Database(url)
    counter = await asyncpg.connect(
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        async with Dispatcher(settings, db, name="bench-dispatcher") as dispatcher:
            await dispatcher.run_once()
            start_count = await _delivered(counter)
            async with db.transaction() as conn:
                await conn.execute(
                    update(notifications)
                    .where(notifications.c.next_attempt_at == PARKED_UNTIL)
                    .values(next_attempt_at=clock.now())
                )
            stop = asyncio.Event()
            cpu = time.process_time()
            start = time.perf_counter()
            runner = asyncio.create_task(dispatcher.run_forever(stop))
            while time.perf_counter() - start < time_limit and not runner.done():
                await asyncio.sleep(POLL_SECONDS)
                if not await _any_pending(counter):
                    break
            elapsed = time.perf_counter() - start
            cpu = time.process_time() - cpu
            stop.set()
            await runner
        delivered = await _delivered(counter) - start_count
        return {"delivered": delivered, "elapsed_s": elapsed, "warmup": start_count, "cpu_s": cpu}
    finally:
        await counter.close()
        await db.dispose()


async def run_floor(url: str, target: int, time_limit: float, warmup: int) -> dict[str, Any]:
    db = Database(url)
    try:
        async with db.transaction() as conn:
            n = notifications.c
            rows = (
                await conn.execute(select(n.url, n.body, n.signature).order_by(n.created_at, n.id))
            ).all()
    finally:
        await db.dispose()
    jobs = [(r.url, bytes(r.body), r.signature) for r in rows]
    concurrency = Settings().notification_concurrency
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await _post_all(session, jobs[:warmup], concurrency, time.perf_counter() + time_limit)
        # The floor is fast: send the timed bodies FLOOR_REPEAT times, for a steadier rate.
        timed = jobs[warmup : warmup + target] * FLOOR_REPEAT
        cpu = time.process_time()
        start = time.perf_counter()
        delivered = await _post_all(session, timed, concurrency, start + time_limit)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
    return {"delivered": delivered, "elapsed_s": elapsed, "warmup": warmup, "cpu_s": cpu}


async def _post_all(
    session: aiohttp.ClientSession,
    jobs: list[tuple[str, bytes, str]],
    concurrency: int,
    deadline: float,
) -> int:
    position = 0
    delivered = 0

    async def worker() -> None:
        nonlocal position, delivered
        while position < len(jobs) and time.perf_counter() < deadline:
            url, body, signature = jobs[position]
            position += 1
            headers = {"Content-Type": "application/json", "X-Signature": signature}
            async with session.post(url, data=body, headers=headers) as response:
                reply = await response.read()
                if response.status == 200 and json.loads(reply).get("status") == "success":
                    delivered += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return delivered


def main() -> None:
    mode, url, target, time_limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    if mode == "dispatcher":
        result = asyncio.run(run_dispatcher(url, time_limit))
    else:
        result = asyncio.run(run_floor(url, target, time_limit, int(sys.argv[5])))
    result["rate"] = result["delivered"] / result["elapsed_s"] if result["elapsed_s"] else 0.0
    delivered = result["delivered"]
    result["server_cpu_ms"] = 1000 * result["cpu_s"] / delivered if delivered else 0.0
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
