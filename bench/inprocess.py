"""Confirm's CPU in one process, for A/B comparisons on a busy machine.

``python -m bench.inprocess [COUNT]``: a fresh PostgreSQL database (as the confirm phase
prepares it, statistics included), the app called through ASGI by an httpx client in the same
process, 16 confirmations at a time, 200 untimed and COUNT (default 2500) timed. Prints the
process's CPU per confirmation (client included) and the rate. No HTTP server, no pinning, no
load generator: run two checkouts alternately and compare the CPU figures.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

import httpx
import uvloop

from bench import databases
from bench.confirm import PATH, _prepare
from bench.harness import server_env

WARMUP = 200
PORT = 8000  # named in the public URL only
CONCURRENCY = 16


async def _confirm_all(token: str, requests: list[dict[str, Any]], count: int) -> None:
    from marketbox.app import create_app

    app = create_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        base_url = f"http://127.0.0.1:{PORT}"
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            gate = asyncio.Semaphore(CONCURRENCY)

            async def confirm(request: dict[str, Any]) -> None:
                async with gate:
                    response = await client.post(
                        PATH, content=request["body"], headers={**headers, **request["headers"]}
                    )
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code}: {response.text}")

            await asyncio.gather(*(confirm(r) for r in requests[:WARMUP]))
            cpu, start = time.process_time(), time.perf_counter()
            await asyncio.gather(*(confirm(r) for r in requests[WARMUP:]))
            cpu, elapsed = time.process_time() - cpu, time.perf_counter() - start
    print(f"{1000 * cpu / count:.3f} ms CPU per confirmation, {count / elapsed:.0f}/s", flush=True)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2500
    with databases.postgres("inprocess") as db:
        databases.prepare_marketbox(db)
        token, requests = asyncio.run(_prepare(db.url, count + WARMUP, "inprocess"))
        databases.analyze(db)
        # The confirm phase's server settings; no server listens on the port.
        os.environ.update(server_env(db.url, PORT))
        uvloop.run(_confirm_all(token, requests, count))


if __name__ == "__main__":
    main()
