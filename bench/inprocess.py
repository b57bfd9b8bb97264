"""One write path's CPU in one process, for A/B comparisons on a busy machine.

``python -m bench.inprocess [confirm|refund|shipment] [COUNT] [--statements]``: a fresh
PostgreSQL database prepared as that phase prepares it (statistics included), the app called
through ASGI by an httpx client in the same process, 16 requests at a time, 200 untimed and
COUNT (default 2500) timed. Prints the process's CPU per request (client included) and the
rate. No HTTP server, no pinning, no load generator: run two checkouts alternately and compare
the CPU figures. With ``--statements`` one more request is sent alone and every statement it
sent to PostgreSQL is listed (BEGIN and COMMIT included): where its round trips go.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import uvloop

from bench import after_payment, confirm, databases, payloads
from bench.harness import server_env

WARMUP = 200
PORT = 8000  # named in the public URL only
CONCURRENCY = 16


@dataclass(frozen=True)
class WritePath:
    """A write path: its URL and, for `count` requests, the database prepared and the
    requests (each a body and its own headers) with the headers they share."""

    url: str
    prepare: Callable[[str, int], tuple[dict[str, str], list[dict[str, Any]]]]


def _confirmations(db_url: str, count: int) -> tuple[dict[str, str], list[dict[str, Any]]]:
    token, requests = asyncio.run(confirm._prepare(db_url, count, "inprocess"))
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, requests


def _after_payment(
    hold: bool, body: Callable[[str, str], str]
) -> Callable[[str, int], tuple[dict[str, str], list[dict[str, Any]]]]:
    def prepare(db_url: str, count: int) -> tuple[dict[str, str], list[dict[str, Any]]]:
        order_ids = asyncio.run(after_payment._paid_orders(db_url, count, "inprocess", hold=hold))
        requests = [
            {"body": body(oid, f"inp-{i}"), "headers": {}} for i, oid in enumerate(order_ids)
        ]
        return payloads.DEMO_HEADERS, requests

    return prepare


PATHS = {
    "confirm": WritePath(confirm.PATH, _confirmations),
    "refund": WritePath(after_payment.REFUND_PATH, _after_payment(False, payloads.refund_body)),
    "shipment": WritePath(
        after_payment.SHIPMENT_PATH, _after_payment(True, payloads.shipment_body)
    ),
}


async def _send_all(
    name: str, headers: dict[str, str], requests: list[dict[str, Any]], count: int, show: bool
) -> None:
    from marketbox.app import create_app

    app = create_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        base_url = f"http://127.0.0.1:{PORT}"
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            gate = asyncio.Semaphore(CONCURRENCY)

            async def send(request: dict[str, Any]) -> None:
                async with gate:
                    response = await client.post(
                        PATHS[name].url,
                        content=request["body"],
                        headers={**headers, **request["headers"]},
                    )
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code}: {response.text}")

            await asyncio.gather(*(send(r) for r in requests[:WARMUP]))
            cpu, start = time.process_time(), time.perf_counter()
            await asyncio.gather(*(send(r) for r in requests[WARMUP : WARMUP + count]))
            cpu, elapsed = time.process_time() - cpu, time.perf_counter() - start
            print(
                f"{1000 * cpu / count:.3f} ms CPU per {name}, {count / elapsed:.0f}/s", flush=True
            )
            if show:
                sent = await _statements_of(app, send, requests[-1])
                print(f"{len(sent)} statements for one {name}:")
                for number, query in enumerate(sent, 1):
                    print(f"{number:3}. {' '.join(query.split())[:150]}")


async def _statements_of(app: Any, send: Any, request: dict[str, Any]) -> list[str]:
    """Every statement (and BEGIN/COMMIT) one request sends: SQLAlchemy's executions and,
    through asyncpg's query logger on every connection of the pool, what goes to the driver
    directly (storage/driver.py) and the transactions' BEGIN and COMMIT."""
    from sqlalchemy import event

    from marketbox.storage.driver import driver_connection

    sent: list[str] = []
    database = app.state.ctx.db
    connections = []
    for _ in range(database.engine.pool.size()):
        connections.append(await database.engine.connect())
    drivers = [await driver_connection(conn) for conn in connections]
    for conn in connections:
        await conn.close()

    def log(record: Any) -> None:
        sent.append(record.query)

    def on_cursor(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    for driver in drivers:
        driver.add_query_logger(log)
    event.listen(database.engine.sync_engine, "before_cursor_execute", on_cursor)
    try:
        await send(request)
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", on_cursor)
        for driver in drivers:
            driver.remove_query_logger(log)
    return sent


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    name = args.pop(0) if args and args[0] in PATHS else "confirm"
    count = int(args[0]) if args else 2500
    show = "--statements" in sys.argv
    with databases.postgres("inprocess") as db:
        databases.prepare_marketbox(db)
        headers, requests = PATHS[name].prepare(db.url, WARMUP + count + 1)
        databases.analyze(db)
        # The phases' server settings; no server listens on the port.
        os.environ.update(server_env(db.url, PORT))
        uvloop.run(_send_all(name, headers, requests, count, show))


if __name__ == "__main__":
    main()
