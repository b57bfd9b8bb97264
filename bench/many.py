"""From one process to many: 2 API processes and 2 dispatchers on one PostgreSQL and one Redis.

``bench/run --phase many``. On one fresh database, with MARKETBOX_REDIS_URL set for every
process (a key prefix of this run's own, deleted at the end):

1. two `marketbox worker` dispatchers run throughout, delivering to a receiver that records
   every notification id and attempt it gets (bench/recorder.py);
2. the same load (bench/many_load.py: orders created, each invoice paid by several racing
   instrument confirmations) runs four times (ROUNDS): against ONE `marketbox serve
   --no-worker` process, TWO (requests spread over both), TWO, ONE; the API processes' CPU
   time (/proc) over the timed parts, per answered request, is compared: two processes must
   cost within 10 % of one;
3. a separate short step starts two fresh API processes with a low per-account rate limit and
   sends 3 × the limit requests over both at once: exactly `limit` succeed, the rest get 429;
4. the database and the receiver are checked: every invoice paid exactly once (one succeeded
   payment per paid container, one 200 per invoice), every notification delivered, each
   attempt recorded once, none delivered twice.

Two `serve --no-worker` processes on two ports rather than one `serve --workers 2`: the
processes are what a load balancer would see (each one's CPU read from its own /proc entry,
no supervisor in between), requests go to a chosen process rather than wherever the kernel
hands the connection, and the dispatchers are separate `marketbox worker` processes as
docs/deploy.md runs them.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench import databases
from bench.harness import RunConfig, progress
from bench.procs import HOST, LOAD_CORE, PYTHON, SERVER_CORE, Proc, free_port

PHASE = "many"
TAG = "many/postgres"
REDIS_URL = os.environ.get("MARKETBOX_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
API_PROCESSES = 2
DISPATCHERS = 2
CONFIRMATIONS = 3  # racing confirmations per invoice (different paymentOperationIds)
CPU_TARGET = 1.10  # two processes' CPU per request ≤ 1.10 × one process's
CONCURRENCY = 48  # a multiple of CONFIRMATIONS: 16 invoices paid at once
LIST = "/v3/filter/api/order/order"
# The load steps, alternating (ABBAAB): the database grows as the run goes on, and whatever
# that costs falls on both configurations alike. Each configuration's figure is the median of
# its three steps: a step is a few seconds, and a burst of other work on the machine during
# one of them (a shared machine's neighbours) moves that step alone.
ROUNDS = (
    ("one-a", 1),
    ("two-a", API_PROCESSES),
    ("two-b", API_PROCESSES),
    ("one-b", 1),
    ("one-c", 1),
    ("two-c", API_PROCESSES),
)
DRAIN_SECONDS = 60.0
# The main load runs with rate limits on (counted in Redis, as a deployment of several
# processes has them) but far above what the run sends.
UNLIMITED = "1000000"


def redis_available() -> bool:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except (OSError, redis.RedisError):
        return False
    finally:
        client.close()
    return True


def delete_redis_prefix(prefix: str) -> int:
    """Delete this run's keys (never anything else: other runs share the Redis)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    deleted = 0
    try:
        for key in client.scan_iter(match=f"{prefix}:*", count=500):
            deleted += client.delete(key)
    finally:
        client.close()
    return deleted


def _env(db_url: str, prefix: str, **extra: str) -> dict[str, str]:
    return {
        "MARKETBOX_DATABASE_URL": db_url,
        "MARKETBOX_MODE": "sandbox",
        "MARKETBOX_LOG_LEVEL": "WARNING",
        "MARKETBOX_REDIS_URL": REDIS_URL,
        "MARKETBOX_REDIS_KEY_PREFIX": prefix,
        "MARKETBOX_RATE_LIMIT_PER_ACCOUNT": UNLIMITED,
        "MARKETBOX_RATE_LIMIT_PER_IP": UNLIMITED,
        **extra,
    }


def _wait_ready(proc: Proc, port: int, timeout: float = 60.0) -> None:
    """The port answers and /readyz says 200 (database, migrations and Redis fine)."""
    import urllib.error
    import urllib.request

    proc.wait_port(port, timeout)
    deadline = time.monotonic() + timeout
    while True:
        proc.check_alive()
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} not ready within {timeout:.0f} s:\n{proc.log_tail()}")
        time.sleep(0.1)


@contextmanager
def api_processes(
    cfg: RunConfig, name: str, count: int, env: dict[str, str]
) -> Iterator[list[tuple[Proc, str]]]:
    """`count` × `marketbox serve --no-worker` on free ports (server core), stopped on exit."""
    with ExitStack() as stack:
        started = []
        for i in range(count):
            port = free_port()
            argv = [PYTHON, "-m", "marketbox.cli.main", "serve", "--no-worker"]
            argv += ["--host", HOST, "--port", str(port)]
            proc = stack.enter_context(
                Proc(f"{name}-{i + 1}", argv, pinning=cfg.pinning, core=api_core(cfg, i), env=env)
            )
            started.append((proc, f"http://{HOST}:{port}", port))
        for proc, _, port in started:
            _wait_ready(proc, port)
        yield [(proc, url) for proc, url, _ in started]


def _sizes(cfg: RunConfig) -> tuple[int, int]:
    """Timed orders per load step and warm-up orders."""
    orders = cfg.requests_override or (200 if cfg.quick else 1000)
    return orders, 20 if cfg.quick else 100


def api_core(cfg: RunConfig, index: int) -> int:
    """The core of API process `index`: a core of its own (2, 3, …) where the machine has
    enough (the dispatchers keep the server core, the load its core), else the server core,
    which the API processes then share (on 2 cores: with the dispatchers too)."""
    usable = os.sched_getaffinity(0)
    if cfg.pinning.active and set(range(2, 2 + API_PROCESSES)) <= usable:
        return 2 + index
    return SERVER_CORE


def _usage(proc: Proc) -> dict[str, float]:
    """A process's user and system CPU seconds and context switches so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    usage = {"user_s": 0.0, "system_s": 0.0, "voluntary": 0.0, "involuntary": 0.0}
    try:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
    except OSError:
        return usage
    usage["user_s"], usage["system_s"] = int(fields[11]) / tick, int(fields[12]) / tick
    for line in status:
        name, _, value = line.partition(":")
        if name == "voluntary_ctxt_switches":
            usage["voluntary"] = float(value)
        elif name == "nonvoluntary_ctxt_switches":
            usage["involuntary"] = float(value)
    return usage


def drive(
    cfg: RunConfig, step: str, apis: list[tuple[Proc, str]], plan: dict[str, Any]
) -> dict[str, Any]:
    """One load step over `apis`; adds the API processes' CPU per answered request."""
    plan = {**plan, "urls": [url for _, url in apis], "prefix": f"{plan['prefix']}-{step}"}
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="bench_many_") as fh:
        json.dump(plan, fh)
        fh.flush()
        load = Proc(
            f"load-many-{step}",
            [PYTHON, "-m", "bench.many_load", fh.name],
            pinning=cfg.pinning,
            core=LOAD_CORE,
            capture_stdout=True,
        )
        watchdog = threading.Timer(3 * plan["time_limit"] + 60, load.stop)
        watchdog.start()
        try:
            result: dict[str, Any] | None = None
            cpu_start: list[dict[str, float]] = []
            cpu_end: list[dict[str, float]] = []
            assert load.popen.stdout is not None
            for raw in load.popen.stdout:
                line = raw.decode().strip()
                if line == "warmup-done":
                    cpu_start = [_usage(proc) for proc, _ in apis]
                    progress(TAG, f"{step}: warm-up done, {plan['orders']} orders timed…")
                elif line == "timed-done":
                    cpu_end = [_usage(proc) for proc, _ in apis]
                elif line.startswith("{"):
                    result = json.loads(line)
            load.popen.wait()
            if result is None or not cpu_end:
                raise RuntimeError(
                    f"load generator failed; log {load.log_path}:\n{load.log_tail()}"
                )
        finally:
            watchdog.cancel()
            load.stop()
    for proc, _ in apis:
        proc.check_alive()
    used = [
        {k: end[k] - start[k] for k in start} for start, end in zip(cpu_start, cpu_end, strict=True)
    ]
    per_process = [u["user_s"] + u["system_s"] for u in used]
    answered = result["answered"]
    result["api_cpu_s"] = per_process
    if answered:  # where the CPU went: user code, the kernel, and how often a process yielded
        result["per_request"] = {
            "user_ms": 1000 * sum(u["user_s"] for u in used) / answered,
            "system_ms": 1000 * sum(u["system_s"] for u in used) / answered,
            "context_switches": sum(u["voluntary"] + u["involuntary"] for u in used) / answered,
        }
    result["cpu_ms_per_request"] = 1000 * sum(per_process) / answered if answered else 0.0
    result["rps"] = answered / result["elapsed_s"] if result["elapsed_s"] else 0.0
    shares = ", ".join(f"{cpu:.2f} s" for cpu in per_process)
    split = result.get("per_request", {})
    if split:
        shares += (
            f" (per request: user {split['user_ms']:.3f} ms, system {split['system_ms']:.3f} ms,"
            f" {split['context_switches']:.2f} context switches)"
        )
    progress(
        TAG,
        f"{step}: {answered} requests in {result['elapsed_s']:.1f} s ({result['rps']:.0f} req/s),"
        f" statuses {result['statuses']}; API CPU {shares}"
        f" = {result['cpu_ms_per_request']:.3f} ms/request",
    )
    return result


def rate_limit_step(cfg: RunConfig, db_url: str, prefix: str, limit: int) -> dict[str, int]:
    """Two fresh API processes, `limit` requests per account and window: 3 × limit requests
    (authenticated list calls of one shop) sent at once, alternating processes."""
    import aiohttp

    env = _env(
        db_url,
        prefix,
        MARKETBOX_RATE_LIMIT_PER_ACCOUNT=str(limit),
        MARKETBOX_RATE_LIMIT_WINDOW_SECONDS="60",
    )
    with api_processes(cfg, "api-limited", API_PROCESSES, env) as apis:
        urls = [url for _, url in apis]

        async def send() -> dict[int, int]:
            from bench.payloads import DEMO_HEADERS

            counts: dict[int, int] = {}
            timeout = aiohttp.ClientTimeout(total=30.0)
            async with aiohttp.ClientSession(timeout=timeout) as session:

                async def one(i: int) -> None:
                    url = urls[i % len(urls)] + LIST
                    async with session.get(url, headers=DEMO_HEADERS) as answer:
                        await answer.read()
                        counts[answer.status] = counts.get(answer.status, 0) + 1

                await asyncio.gather(*(one(i) for i in range(3 * limit)))
            return counts

        counts = asyncio.run(send())
    counts = dict(sorted(counts.items()))
    progress(TAG, f"rate limit {limit}/60 s over {len(urls)} processes: answers {counts}")
    return counts


async def _prepare(db_url: str, name: str) -> tuple[str, str]:
    from bench import seed
    from marketbox.storage.db import Database

    db = Database(db_url)
    try:
        instrument = await seed.create_instrument(db, name)
    finally:
        await db.dispose()
    return instrument.token, instrument.signing_key


async def _drain(dsn: str, timeout: float) -> int:
    """Wait (bounded) until no notification is pending; the number still pending."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout
        while True:
            pending = int(
                await conn.fetchval("SELECT count(*) FROM notifications WHERE status = 'pending'")
            )
            if pending == 0 or time.monotonic() > deadline:
                return pending
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def _database_facts(dsn: str) -> dict[str, Any]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        double_charged = await conn.fetch(
            "SELECT container_id, count(*) AS n FROM payments WHERE status = 'succeeded'"
            " GROUP BY container_id HAVING count(*) > 1"
        )
        # A container is `paid` exactly when it has one succeeded payment (and that one is
        # the payment it names).
        inconsistent = await conn.fetch(
            "SELECT c.id, c.status, count(p.id) AS n FROM order_containers c"
            " LEFT JOIN payments p ON p.container_id = c.id AND p.status = 'succeeded'"
            " GROUP BY c.id, c.status, c.payment_id"
            " HAVING (c.status = 'paid') <> (count(p.id) = 1)"
            "  OR (c.status = 'paid' AND c.payment_id IS DISTINCT FROM min(p.id))"
        )
        paid = {
            r["id"]
            for r in await conn.fetch("SELECT id FROM order_containers WHERE status = 'paid'")
        }
        notification_statuses = dict(
            await conn.fetch("SELECT status, count(*) FROM notifications GROUP BY status")
        )
        paid_orders_without_notice = await conn.fetchval(
            "SELECT count(*) FROM orders o WHERE o.paid_at IS NOT NULL AND NOT EXISTS"
            " (SELECT 1 FROM notifications n WHERE n.order_id = o.id AND n.event = 'paid')"
        )
        attempts = await conn.fetch(
            "SELECT notification_id, attempt, outcome, dispatcher FROM notification_attempts"
        )
        counters = dict(await conn.fetch("SELECT id, attempts FROM notifications"))
        delivered = {
            r["id"]
            for r in await conn.fetch("SELECT id FROM notifications WHERE status = 'delivered'")
        }
    finally:
        await conn.close()
    return {
        "double_charged": [(r["container_id"], r["n"]) for r in double_charged],
        "inconsistent": [(r["id"], r["status"], r["n"]) for r in inconsistent],
        "paid": paid,
        "notification_statuses": notification_statuses,
        "paid_orders_without_notice": int(paid_orders_without_notice),
        "attempts": [dict(r) for r in attempts],
        "counters": counters,
        "delivered": delivered,
    }


def _seen(receiver_port: int) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(f"http://{HOST}:{receiver_port}/_seen", timeout=10) as answer:
        seen: dict[str, Any] = json.loads(answer.read())
    return seen


def check(name: str, passed: bool, detail: str, checks: list[dict[str, Any]]) -> None:
    checks.append({"name": name, "passed": passed, "detail": detail})


def cpu_per_request(steps: dict[str, dict[str, Any]], processes: int) -> float:
    """The median over the steps run with `processes` API processes of their CPU ms per
    answered request (ROUNDS: why the median)."""
    figures = [s["cpu_ms_per_request"] for s in steps.values() if len(s["api_cpu_s"]) == processes]
    return statistics.median(figures) if figures else 0.0


def evaluate(
    steps: dict[str, dict[str, Any]],
    facts: dict[str, Any],
    seen: dict[str, Any],
    pending: int,
    limit: int,
    limited: dict[int, int],
) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    # 1. Paid exactly once.
    invoices = {cid: ok for step in steps.values() for cid, ok in step["invoices"].items()}
    twice = sorted(cid for cid, ok in invoices.items() if ok > 1)
    unpaid = sorted(cid for cid, ok in invoices.items() if ok == 0)
    server_errors = sum(
        n
        for step in steps.values()
        for counts in step["statuses"].values()
        for status, n in counts.items()
        if int(status) >= 500
    )
    not_paid_in_db = sorted(cid for cid in invoices if cid not in facts["paid"])
    passed = not (twice or unpaid or facts["double_charged"] or facts["inconsistent"])
    passed = passed and not not_paid_in_db and server_errors == 0 and bool(invoices)
    check(
        "paid exactly once",
        passed,
        f"{len(invoices)} invoices × {CONFIRMATIONS} racing confirmations: {len(twice)} with"
        f" two 200s, {len(unpaid)} with none, {server_errors} 5xx;"
        f" database: {len(facts['double_charged'])} containers with 2+ succeeded payments,"
        f" {len(facts['inconsistent'])} paid ≠ one payment, {len(not_paid_in_db)} not paid",
        checks,
    )
    # 2. Notifications: every one delivered, each attempt recorded once, none received twice.
    attempts = facts["attempts"]
    per_notification: dict[str, list[dict[str, Any]]] = {}
    for row in attempts:
        per_notification.setdefault(row["notification_id"], []).append(row)
    successes_twice = [
        nid
        for nid, rows in per_notification.items()
        if sum(1 for r in rows if r["outcome"] == "success") > 1
    ]
    counter_mismatch = [
        nid
        for nid, count in facts["counters"].items()
        if count != len(per_notification.get(nid, []))
    ]
    received = seen["seen"]
    received_twice = sorted(nid for nid, by in received.items() if sum(by.values()) > 1)
    not_received = sorted(facts["delivered"] - set(received))
    unknown = sorted(set(received) - set(facts["counters"]))
    received_total = sum(sum(by.values()) for by in received.values())
    statuses = facts["notification_statuses"]
    total = sum(statuses.values())
    passed = pending == 0 and statuses.get("delivered", 0) == total > 0
    passed = passed and facts["paid_orders_without_notice"] == 0
    check(
        "notifications delivered",
        passed,
        f"{total} notifications {dict(statuses)}, {pending} still pending after the drain,"
        f" {facts['paid_orders_without_notice']} paid orders without a 'paid' notification",
        checks,
    )
    passed = not (successes_twice or counter_mismatch or received_twice or not_received)
    passed = passed and not unknown and received_total == len(attempts) and not seen["unlabelled"]
    dispatchers: dict[str, int] = {}
    for row in attempts:
        dispatchers[row["dispatcher"]] = dispatchers.get(row["dispatcher"], 0) + 1
    check(
        "no notification delivered twice",
        passed,
        f"{len(attempts)} attempts recorded, receiver got {received_total} POSTs;"
        f" {len(received_twice)} ids received twice, {len(not_received)} delivered but not"
        f" received, {len(successes_twice)} with two successful attempts,"
        f" {len(counter_mismatch)} attempt counters ≠ attempt rows;"
        f" by dispatcher {sorted(dispatchers.values(), reverse=True)}",
        checks,
    )
    # 3. One rate limit over both processes.
    expected = {200: limit, 429: 2 * limit}
    check(
        "shared rate limit",
        limited == expected,
        f"{3 * limit} requests over {API_PROCESSES} processes, limit {limit}: {limited}"
        f" (expected {expected})",
        checks,
    )
    # 4. CPU per request.
    one, two = cpu_per_request(steps, 1), cpu_per_request(steps, API_PROCESSES)
    ratio = two / one if one else float("inf")
    each = ", ".join(f"{name} {s['cpu_ms_per_request']:.3f}" for name, s in steps.items())
    check(
        "CPU per request",
        ratio <= CPU_TARGET,
        f"1 process {one:.3f} ms, {API_PROCESSES} processes {two:.3f} ms per request,"
        f" medians of the steps ({each}): ratio {ratio:.3f} (target ≤ {CPU_TARGET:.2f})",
        checks,
    )
    return checks


def measure(cfg: RunConfig) -> dict[str, Any]:
    """The whole phase; a report with `checks` (each PASS/FAIL) and the two load steps."""
    if not redis_available():
        return {"error": f"Redis unreachable at {REDIS_URL}"}
    prefix = f"mbbench-{cfg.run_id}-{secrets.token_hex(3)}"
    limited_prefix = f"{prefix}-limited"
    orders, warmup = _sizes(cfg)
    limit = 10 if cfg.quick else 30
    try:
        with databases.postgres("many") as db, ExitStack() as stack:
            assert db.dsn is not None
            progress(TAG, "creating and migrating database…")
            databases.prepare_marketbox(db)
            token, key = asyncio.run(_prepare(db.url, f"bench-{cfg.run_id}-bank"))
            receiver_port = free_port()
            receiver = stack.enter_context(
                Proc(
                    "recorder",
                    [PYTHON, "-m", "bench.recorder", str(receiver_port)],
                    pinning=cfg.pinning,
                    core=LOAD_CORE,
                )
            )
            receiver.wait_port(receiver_port)
            env = _env(db.url, prefix)
            dispatchers = [
                stack.enter_context(
                    Proc(
                        f"dispatcher-{i + 1}",
                        [PYTHON, "-m", "marketbox.cli.main", "worker"],
                        pinning=cfg.pinning,
                        core=SERVER_CORE,
                        env=env,
                    )
                )
                for i in range(DISPATCHERS)
            ]
            plan = {
                "concurrency": CONCURRENCY,
                "warmup": warmup,
                "orders": orders,
                "confirmations": CONFIRMATIONS,
                "time_limit": cfg.time_limit * 3,
                "instrument_token": token,
                "signing_key": key,
                "notification_url": f"http://{HOST}:{receiver_port}/notify",
                "prefix": f"bench-{cfg.run_id}-many",
            }
            steps: dict[str, dict[str, Any]] = {}
            for step, count in ROUNDS:
                progress(TAG, f"{step}: {count} API process(es), {DISPATCHERS} dispatchers…")
                with api_processes(cfg, f"api-{step}", count, env) as apis:
                    steps[step] = drive(cfg, step, apis, plan)
            progress(TAG, "waiting for the dispatchers to deliver everything…")
            pending = asyncio.run(_drain(db.dsn, DRAIN_SECONDS))
            for proc in dispatchers:
                proc.check_alive()
            limited = rate_limit_step(cfg, db.url, limited_prefix, limit)
            facts = asyncio.run(_database_facts(db.dsn))
            seen = _seen(receiver_port)
    finally:
        deleted = delete_redis_prefix(prefix) + delete_redis_prefix(limited_prefix)
        progress(TAG, f"deleted {deleted} Redis keys under {prefix}")
    checks = evaluate(steps, facts, seen, pending, limit, limited)
    for row in checks:
        progress(TAG, f"{'PASS' if row['passed'] else 'FAIL'} {row['name']}: {row['detail']}")
    for step in steps.values():
        step.pop("invoices")  # thousands of ids: the checks above summarise them
    cpu = {
        "one_process_ms": cpu_per_request(steps, 1),
        "two_processes_ms": cpu_per_request(steps, API_PROCESSES),
    }
    passed = all(c["passed"] for c in checks)
    return {"steps": steps, "cpu_per_request": cpu, "checks": checks, "passed": passed}


def print_summary(report: dict[str, Any]) -> None:
    print()
    print(f"{TAG}: {API_PROCESSES} API processes, {DISPATCHERS} dispatchers, one PostgreSQL, Redis")
    if "error" in report:
        print(f"  ERROR {report['error']}")
        return
    for row in report["checks"]:
        print(f"  {'PASS' if row['passed'] else 'FAIL'}  {row['name']:<32} {row['detail']}")
    print()


def run(cfg: RunConfig, pg_reachable: bool) -> dict[str, Any]:
    """The phase as `python -m bench` runs it: errors reported, never raised."""
    import traceback

    if not pg_reachable:
        report: dict[str, Any] = {"error": "PostgreSQL unreachable"}
    else:
        try:
            report = measure(cfg)
        except Exception as exc:  # reported like the other phases' errors
            traceback.print_exc()
            report = {"error": f"{type(exc).__name__}: {exc}"}
    print_summary(report)
    return report
