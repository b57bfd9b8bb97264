"""After the payment: refund and shipment throughput on PostgreSQL, one request per order.

    refund/postgres     POST /v3/billing/api/order/refund-order  on paid (`completed`) orders
    shipment/postgres   POST /v3/billing/api/order/shipment      on held (`hold`) orders

The orders are created and paid through marketbox's own services before the server starts
(untimed): captured with the sandbox card for refunds, pre-authorised with the sandbox hold
card for shipments (the first shipment captures the hold, api.md §8.7). Each request then acts
on an order of its own, so no two requests wait for the same container lock: a refund gives
back one line of two (a partial refund, its own merchantOrderId), a shipment ships the whole
basket as the final one.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable
from typing import Any

from bench import databases, payloads, seed
from bench.harness import RunConfig, describe, drive, progress, server_env, start_server
from bench.procs import HOST, free_port
from marketbox.storage.db import Database

REFUND_PATH = "/v3/billing/api/order/refund-order"
SHIPMENT_PATH = "/v3/billing/api/order/shipment"


def refund_available() -> bool:
    return importlib.util.find_spec("marketbox.refunds.routes") is not None


def shipment_available() -> bool:
    return importlib.util.find_spec("marketbox.shipments.routes") is not None


async def _paid_orders(db_url: str, count: int, prefix: str, *, hold: bool) -> list[str]:
    """Ids of `count` fresh orders of the demo shop, paid (or held) by card."""
    db = Database(db_url)
    try:
        orders = await seed.create_orders(db, count, prefix)
        await seed.pay_orders(db, orders, hold=hold)
    finally:
        await db.dispose()
    return [order["id"] for order in orders]


def _measure(
    cfg: RunConfig, tag: str, path: str, *, hold: bool, body: Callable[[str, str], str]
) -> dict[str, Any]:
    kind = tag.split("/", 1)[0]
    progress(tag, "creating and migrating database…")
    with databases.postgres(kind) as db:
        databases.prepare_marketbox(db)
        count = cfg.warmup + cfg.requests
        state = "held" if hold else "paid"
        progress(tag, f"creating {count} {state} orders…")
        prefix = f"bench-{cfg.run_id}-{kind}"
        order_ids = asyncio.run(_paid_orders(db.url, count, prefix, hold=hold))
        databases.analyze(db)
        # Unique per request: a refund's merchantOrderId, a shipment's document number (≤ 36).
        requests = [{"body": body(oid, f"{kind[:4]}-{i}")} for i, oid in enumerate(order_ids)]
        port = free_port()
        server = start_server(
            cfg,
            f"server-{kind}",
            "marketbox.app:create_app",
            server_env(db.url, port),
            port=port,
            factory=True,
        )
        try:
            url = f"http://{HOST}:{port}{path}"
            result = drive(cfg, tag, server, url, requests, headers=payloads.DEMO_HEADERS)
        finally:
            server.stop()
    progress(tag, describe(result))
    return result


def measure_refund(cfg: RunConfig) -> dict[str, Any]:
    return _measure(cfg, "refund/postgres", REFUND_PATH, hold=False, body=payloads.refund_body)


def measure_shipment(cfg: RunConfig) -> dict[str, Any]:
    return _measure(cfg, "shipment/postgres", SHIPMENT_PATH, hold=True, body=payloads.shipment_body)
