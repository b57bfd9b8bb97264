"""Notifications delivered per second: one Dispatcher vs a raw aiohttp POST loop.

Both send the same outbox bodies to the same fast receiver (its own process on the load core);
the dispatcher or the floor loop runs in a process on the server core. The outbox is filled
before timing: real orders, queued through `orders.notices.enqueue_for_orders` as "paid" events.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from bench import databases, seed
from bench.harness import RunConfig, attach_profiler, progress
from bench.procs import HOST, LOAD_CORE, PYTHON, SERVER_CORE, Proc, free_port

FLOOR = "floor/notify"
MEASURED = "notify/postgres"
# The timed rows wait with this due date until the warm-up is over (notify_worker arms them).
PARKED_UNTIL = datetime(2100, 1, 1, tzinfo=UTC)


def available() -> bool:
    return importlib.util.find_spec("marketbox.notifications.dispatcher") is not None


def notify_worker_repeat() -> int:
    from bench.notify_worker import FLOOR_REPEAT

    return FLOOR_REPEAT


def warmup_count(cfg: RunConfig) -> int:
    # The dispatcher warms up with one run_once(): one batch (notification_batch_size).
    from marketbox.config import Settings

    return Settings().notification_batch_size


async def _prefill(db_url: str, count: int, warmup: int, receiver_url: str, run_id: str) -> None:
    """`count` pending notifications; all but the first `warmup` parked (due in PARKED_UNTIL)."""
    from marketbox.orders import notices
    from marketbox.storage.db import Database
    from marketbox.storage.tables import notifications, orders

    db = Database(db_url)
    try:
        prefix = f"bench-{run_id}-notify"
        await seed.create_orders(db, count, prefix, notification_url=receiver_url)
        async with db.transaction() as conn:
            rows = (await conn.execute(select(orders).order_by(orders.c.created_at))).all()
            ids: list[str] = []
            for start in range(0, len(rows), 500):
                ids += await notices.enqueue_for_orders(
                    conn, rows[start : start + 500], event="paid"
                )
            # The warm-up must not deliver the timed rows, whatever a claim's batch size does.
            await conn.execute(
                update(notifications)
                .where(notifications.c.id.in_(ids[warmup:]))
                .values(next_attempt_at=PARKED_UNTIL)
            )
    finally:
        await db.dispose()


def _timed(cfg: RunConfig, tag: str, argv: list[str]) -> dict[str, Any]:
    name = f"notify-{tag.split('/')[0]}"
    with Proc(name, argv, pinning=cfg.pinning, core=SERVER_CORE, capture_stdout=True) as proc:
        assert proc.popen.stdout is not None
        if cfg.profile:
            attach_profiler(cfg, proc)
        # The worker bounds itself; this only guards against a hang.
        watchdog = threading.Timer(cfg.time_limit + 90, proc.stop)
        watchdog.start()
        try:
            out = proc.popen.stdout.read().decode()
            proc.popen.wait()
        finally:
            watchdog.cancel()
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if proc.popen.returncode or not lines:
            raise RuntimeError(f"{name} failed; log {proc.log_path}:\n{proc.log_tail()}")
        result: dict[str, Any] = json.loads(lines[-1])
    result["rps"] = result["rate"]
    expected = cfg.notifications * notify_worker_repeat()
    if tag == MEASURED and result["delivered"] < expected:
        result["failed"] = expected - result["delivered"]
        result["errors"] = [f"only {result['delivered']} of {expected} delivered"]
    rate, delivered, elapsed = result["rate"], result["delivered"], result["elapsed_s"]
    cpu_ms = result["server_cpu_ms"]
    progress(
        tag,
        f"{rate:.0f} notifications/s ({delivered} in {elapsed:.2f} s; {cpu_ms:.3f} ms CPU each)",
    )
    return result


def measure(cfg: RunConfig) -> dict[str, dict[str, Any]]:
    """Both the floor and the dispatcher, on one outbox and one receiver."""
    tag = MEASURED
    warmup = warmup_count(cfg)
    # Both deliver the same number of notifications: the floor its timed bodies
    # FLOOR_REPEAT times over, the dispatcher as many rows of its own. (Until 2026-12-08 the
    # dispatcher delivered a fifth of that, under a second, in which its start and the last
    # batch's recording weighed ~10 % of the time.)
    timed = cfg.notifications * notify_worker_repeat()
    total = warmup + timed
    with databases.postgres("notify") as db:
        progress(tag, "creating database…")
        databases.prepare_marketbox(db)
        port = free_port()
        receiver_url = f"http://{HOST}:{port}/notify"
        receiver = Proc(
            "receiver",
            [PYTHON, "-m", "bench.receiver", str(port)],
            pinning=cfg.pinning,
            core=LOAD_CORE,
        )
        with receiver:
            receiver.wait_port(port)
            progress(tag, f"filling the outbox with {total} notifications…")
            asyncio.run(_prefill(db.url, total, warmup, receiver_url, cfg.run_id))
            databases.analyze(db)
            worker = [PYTHON, "-m", "bench.notify_worker"]
            limit = str(cfg.time_limit)
            progress(FLOOR, f"raw aiohttp loop: {warmup} warm-up, {timed} timed…")
            floor = _timed(
                cfg, FLOOR, [*worker, "floor", db.url, str(cfg.notifications), limit, str(warmup)]
            )
            progress(tag, f"dispatcher: one run_once() warm-up, then {timed} timed…")
            measured = _timed(cfg, tag, [*worker, "dispatcher", db.url, str(timed), limit])
    return {FLOOR: floor, MEASURED: measured}
