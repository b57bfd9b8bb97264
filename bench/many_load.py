"""The many-processes phase's load: orders created and paid through several API processes.

``python -m bench.many_load PLAN.json`` (pinned to the load core by bench/many.py).

Requests are spread over every base URL of the plan. First a warm-up (untimed): `warmup`
orders created and each paid once. Then the timed part: `orders` orders created (request i
goes to process i mod n), then every invoice paid by `confirmations` signed instrument
confirmations sent at the same moment, each with its own paymentOperationId, to alternating
processes: exactly one may succeed (a double charge would show as two 200s, or two succeeded
payments in the database). At most `concurrency` requests in flight; each part stops starting
new work at `time_limit` seconds and counts what finished.

Prints "warmup-done" and "timed-done" (the caller samples the servers' CPU between them), then
one JSON line: answers by status per kind, each invoice's number of 200 answers, errors.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench import payloads
from marketbox import jsonutil
from marketbox.security import signing

CREATE = "/v3/billing/api/order/order"
CONFIRM = "/v3/payment/api/invoice/confirm"


@dataclass
class Tally:
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    failed: int = 0

    def note(self, kind: str, status: int, text: bytes) -> None:
        counts = self.statuses.setdefault(kind, {})
        counts[status] = counts.get(status, 0) + 1
        if status >= 500 or (kind == "create" and status >= 300):
            self.error(f"{kind} HTTP {status}: {text.decode(errors='replace')}")

    def error(self, text: str) -> None:
        self.failed += 1
        if len(self.errors) < 5:
            self.errors.append(text[:300])

    @property
    def answered(self) -> int:
        return sum(sum(counts.values()) for counts in self.statuses.values())


class Client:
    def __init__(self, session: aiohttp.ClientSession, plan: dict[str, Any]) -> None:
        self.session = session
        self.urls: list[str] = plan["urls"]
        self.slots = asyncio.Semaphore(plan["concurrency"])
        self.merchant_headers = payloads.DEMO_HEADERS
        self.token: str = plan["instrument_token"]
        self.key: str = plan["signing_key"]
        self.notification_url: str = plan["notification_url"]

    async def post(
        self, tally: Tally, kind: str, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes] | None:
        async with self.slots:
            try:
                async with self.session.post(url, data=body, headers=headers) as response:
                    text = await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                tally.error(f"{kind}: {type(exc).__name__}: {exc}")
                return None
        tally.note(kind, status, text)
        return status, text

    async def create(self, tally: Tally, index: int, merchant_order_id: str) -> dict[str, Any]:
        """Create one order on process `index` mod n; its answer's data ({} on failure)."""
        body = jsonutil.dumps(
            payloads.order(merchant_order_id, notification_url=self.notification_url)
        )
        url = self.urls[index % len(self.urls)] + CREATE
        answer = await self.post(tally, "create", url, body, self.merchant_headers)
        if answer is None or answer[0] != 200:
            return {}
        data: dict[str, Any] = jsonutil.loads(answer[1])["data"]
        return data

    async def pay(self, tally: Tally, index: int, order: dict[str, Any], times: int) -> int:
        """`times` confirmations of one invoice at once, alternating processes; the 200s."""
        requests = []
        for attempt in range(times):
            body = jsonutil.dumps(
                {
                    "invoiceId": order["orderContainerId"],
                    "paymentOperationId": str(uuid.uuid4()),
                    "amount": order["amount"],
                    "currencyId": order["currencyId"],
                    "status": "paid",
                }
            )
            headers = {
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "X-Signature": signing.sign(body, self.key),
            }
            url = self.urls[(index + attempt) % len(self.urls)] + CONFIRM
            requests.append(self.post(tally, "confirm", url, body, headers))
        answers = await asyncio.gather(*requests)
        return sum(1 for a in answers if a is not None and a[0] == 200)


async def _bounded(jobs: list[Any], workers: int, time_limit: float) -> list[Any]:
    """Run coroutine factories, `workers` at a time; none is started after `time_limit`
    seconds. Returns the results of those that ran."""
    deadline = time.perf_counter() + time_limit
    pending = iter(jobs)
    results: list[Any] = []

    async def worker() -> None:
        for job in pending:
            if time.perf_counter() >= deadline:
                return
            results.append(await job())

    await asyncio.gather(*(worker() for _ in range(workers)))
    return results


async def run_plan(plan: dict[str, Any]) -> dict[str, Any]:
    concurrency = plan["concurrency"]
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=30.0)
    prefix, limit, times = plan["prefix"], plan["time_limit"], plan["confirmations"]
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        client = Client(session, plan)
        warm = Tally()
        made = await _bounded(
            [
                lambda i=i: client.create(warm, i, f"{prefix}-warmup-{i}")
                for i in range(plan["warmup"])
            ],
            concurrency,
            limit,
        )
        await _bounded(
            [lambda i=i, o=o: client.pay(warm, i, o, 1) for i, o in enumerate(made) if o],
            concurrency,
            limit,
        )
        print("warmup-done", flush=True)

        tally = Tally()
        start = time.perf_counter()
        orders = await _bounded(
            [lambda i=i: client.create(tally, i, f"{prefix}-{i}") for i in range(plan["orders"])],
            concurrency,
            limit,
        )
        created = [o for o in orders if o]

        async def pay(index: int, order: dict[str, Any]) -> tuple[str, int]:
            return order["orderContainerId"], await client.pay(tally, index, order, times)

        paid = await _bounded(
            [lambda i=i, o=o: pay(i, o) for i, o in enumerate(created)],
            max(1, concurrency // times),
            limit,
        )
        elapsed = time.perf_counter() - start
        print("timed-done", flush=True)
    return {
        "elapsed_s": elapsed,
        "answered": tally.answered,
        "statuses": {
            k: {str(s): n for s, n in sorted(v.items())} for k, v in tally.statuses.items()
        },
        "failed": tally.failed,
        "errors": tally.errors,
        "warmup_failed": warm.failed,
        "created": len(created),
        "invoices": dict(paid),
    }


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as fh:
        plan = json.load(fh)
    result = asyncio.run(run_plan(plan))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
