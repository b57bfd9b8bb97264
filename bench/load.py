"""The load generator: replays a prepared list of HTTP requests over keep-alive connections.

Runs as its own process (pinned to the load core): ``python -m bench.load PLAN.json``.
The plan holds the URL, the method (POST unless ``method`` says otherwise), the concurrency, the
warm-up count, a time limit and the requests (body, per-request headers, and an optional
``path`` appended to the URL, e.g. a query string); the first ``warmup`` requests are sent
untimed. Progress
markers ("warmup-done", "timed-done") and finally one JSON line of results go to stdout, so
the caller can sample the server's CPU exactly over the timed window.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

WARMUP_TIME_LIMIT = 10.0


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    failed: int = 0

    def note_error(self, text: str) -> None:
        self.failed += 1
        if len(self.errors) < 3:
            self.errors.append(text[:500])


async def _send_all(
    session: aiohttp.ClientSession,
    method: str,
    requests: list[tuple[str, bytes, dict[str, str]]],
    concurrency: int,
    time_limit: float,
    tally: Tally,
) -> float:
    """Send every request (or stop at the time limit); returns the elapsed seconds."""
    position = 0
    start = time.perf_counter()
    deadline = start + time_limit

    async def worker() -> None:
        nonlocal position
        while position < len(requests) and time.perf_counter() < deadline:
            url, body, headers = requests[position]
            position += 1
            sent = time.perf_counter()
            try:
                async with session.request(method, url, data=body, headers=headers) as response:
                    text = await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                tally.note_error(f"{type(exc).__name__}: {exc}")
                continue
            tally.latencies.append(time.perf_counter() - sent)
            tally.statuses[status] = tally.statuses.get(status, 0) + 1
            if status >= 300:
                tally.note_error(f"HTTP {status}: {text.decode(errors='replace')}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start


async def _send_at_rate(
    session: aiohttp.ClientSession,
    method: str,
    requests: list[tuple[str, bytes, dict[str, str]]],
    rate: float,
    concurrency: int,
    time_limit: float,
    tally: Tally,
) -> float:
    """Open loop: request i is due at start + i / rate, whatever happened to the others.

    Latency counts from the due time, so a server that falls behind is charged for the queue
    it built (no coordinated omission). At most `concurrency` requests are in flight.
    """
    slots = asyncio.Semaphore(concurrency)
    start = time.perf_counter()
    deadline = start + time_limit

    async def one(url: str, body: bytes, headers: dict[str, str], due: float) -> None:
        async with slots:
            try:
                async with session.request(method, url, data=body, headers=headers) as response:
                    text = await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                tally.note_error(f"{type(exc).__name__}: {exc}")
                return
        tally.latencies.append(time.perf_counter() - due)
        tally.statuses[status] = tally.statuses.get(status, 0) + 1
        if status >= 300:
            tally.note_error(f"HTTP {status}: {text.decode(errors='replace')}")

    tasks = []
    for i, (url, body, headers) in enumerate(requests):
        due = start + i / rate
        if due > deadline:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(url, body, headers, due)))
    await asyncio.gather(*tasks)
    return time.perf_counter() - start


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def summarize(tally: Tally, elapsed: float, cpu: float) -> dict[str, Any]:
    lat = sorted(tally.latencies)
    ok = len(lat) - sum(n for s, n in tally.statuses.items() if s >= 300)
    return {
        "completed": len(lat),
        "ok": ok,
        "failed": tally.failed,
        "elapsed_s": elapsed,
        "rps": ok / elapsed if elapsed > 0 else 0.0,
        "p50_ms": (percentile(lat, 0.50) or 0.0) * 1000,
        "p95_ms": (percentile(lat, 0.95) or 0.0) * 1000,
        "p99_ms": (percentile(lat, 0.99) or 0.0) * 1000,
        "max_ms": (lat[-1] if lat else 0.0) * 1000,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "errors": tally.errors,
        "client_cpu": cpu / elapsed if elapsed > 0 else 0.0,
    }


async def run_plan(plan: dict[str, Any]) -> dict[str, Any]:
    common = plan.get("headers", {})
    method = plan.get("method", "POST")
    requests = [
        (plan["url"] + r.get("path", ""), r["body"].encode(), {**common, **r.get("headers", {})})
        for r in plan["requests"]
    ]
    warmup, timed = requests[: plan["warmup"]], requests[plan["warmup"] :]
    concurrency = plan["concurrency"]
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=plan.get("request_timeout", 30.0))
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await _send_all(session, method, warmup, concurrency, WARMUP_TIME_LIMIT, Tally())
        print("warmup-done", flush=True)
        tally = Tally()
        cpu = time.process_time()
        if plan.get("rate"):
            elapsed = await _send_at_rate(
                session, method, timed, plan["rate"], concurrency, plan["time_limit"], tally
            )
        else:
            elapsed = await _send_all(
                session, method, timed, concurrency, plan["time_limit"], tally
            )
        cpu = time.process_time() - cpu
        print("timed-done", flush=True)
    return summarize(tally, elapsed, cpu)


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as fh:
        plan = json.load(fh)
    result = asyncio.run(run_plan(plan))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
