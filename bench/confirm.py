"""Payment-confirm throughput: instruments confirming fresh invoices, one per request.

Orders (one per invoice, i.e. per container) and the instrument are created before the
server starts; each request confirms a different invoice with its own paymentOperationId,
signed like a real instrument signs (hex HMAC of the exact body, `X-Signature`).
"""

from __future__ import annotations

import asyncio
import importlib.util
import uuid
from typing import Any

from bench import databases, seed
from bench.harness import RunConfig, describe, drive, progress, server_env, start_server
from bench.procs import HOST, free_port
from marketbox import jsonutil
from marketbox.security import signing
from marketbox.storage.db import Database

PATH = "/v3/payment/api/invoice/confirm"


def available() -> bool:
    return importlib.util.find_spec("marketbox.payments.routes") is not None


async def _prepare(db_url: str, count: int, prefix: str) -> tuple[str, list[dict[str, Any]]]:
    """An instrument and `count` signed confirmation requests for fresh invoices."""
    db = Database(db_url)
    try:
        orders = await seed.create_orders(db, count, prefix)
        instrument = await seed.create_instrument(db, f"{prefix}-bank")
    finally:
        await db.dispose()
    requests = []
    for order in orders:
        body = jsonutil.dumps(
            {
                "invoiceId": order["orderContainerId"],
                "paymentOperationId": str(uuid.uuid4()),
                "amount": order["amount"],
                "currencyId": order["currencyId"],
                "status": "paid",
            }
        )
        signature = signing.sign(body, instrument.signing_key)
        requests.append({"body": body.decode(), "headers": {"X-Signature": signature}})
    return instrument.token, requests


def measure_confirm(cfg: RunConfig) -> dict[str, Any]:
    tag = "confirm/postgres"
    progress(tag, "creating and migrating database…")
    with databases.postgres("confirm") as db:
        databases.prepare_marketbox(db)
        count = cfg.warmup + cfg.requests
        progress(tag, f"creating {count} orders to confirm…")
        token, requests = asyncio.run(_prepare(db.url, count, f"bench-{cfg.run_id}-confirm"))
        databases.analyze(db)
        port = free_port()
        server = start_server(
            cfg,
            "server-confirm",
            "marketbox.app:create_app",
            server_env(db.url, port),
            port=port,
            factory=True,
        )
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            url = f"http://{HOST}:{port}{PATH}"
            result = drive(cfg, tag, server, url, requests, headers=headers)
        finally:
            server.stop()
    progress(tag, describe(result))
    return result
