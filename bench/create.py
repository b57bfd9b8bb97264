"""Create-order throughput: marketbox (PostgreSQL, SQLite) and the bare floor app."""

from __future__ import annotations

from typing import Any

from bench import databases, payloads
from bench.harness import RunConfig, describe, drive, progress, server_env, start_server
from bench.procs import HOST, free_port

PATH = "/v3/billing/api/order/order"


def _bodies(cfg: RunConfig, tag: str) -> list[dict[str, Any]]:
    """Warm-up plus timed bodies, each with its own merchantOrderId."""
    prefix = f"bench-{cfg.run_id}-{tag.replace('/', '-')}"
    return [
        {"body": payloads.order_body(f"{prefix}-{i}")} for i in range(cfg.warmup + cfg.requests)
    ]


def measure_floor(cfg: RunConfig) -> dict[str, Any]:
    tag = "floor/create"
    progress(tag, "creating database…")
    with databases.postgres("floor") as db:
        assert db.dsn is not None
        port = free_port()
        env = {"BENCH_FLOOR_DSN": db.dsn}
        server = start_server(cfg, "floor", "bench.floor_app:app", env, port=port, factory=False)
        try:
            url = f"http://{HOST}:{port}{PATH}"
            result = drive(cfg, tag, server, url, _bodies(cfg, tag), headers=payloads.DEMO_HEADERS)
        finally:
            server.stop()
    progress(tag, describe(result))
    return result


def _latency_at(cfg: RunConfig, tag: str, server: Any, url: str, rate: float) -> dict[str, Any]:
    """p50/p99 with requests arriving at `rate` per second (open loop, a few seconds)."""
    count = max(50, min(cfg.requests, int(rate * min(cfg.time_limit, 8.0))))
    bodies = _bodies(cfg, f"{tag}-latency")[:count]
    timed = drive(
        cfg, f"{tag}@rate", server, url, bodies, headers=payloads.DEMO_HEADERS, rate=rate, warmup=0
    )
    progress(
        tag, f"at {rate:.0f} req/s: p50 {timed['p50_ms']:.1f} ms, p99 {timed['p99_ms']:.1f} ms"
    )
    keys = ("p50_ms", "p99_ms", "max_ms", "ok", "failed")
    return {"rate": rate, **{k: timed[k] for k in keys}}


def measure_create(
    cfg: RunConfig, kind: str, *, latency_rate: float | None = None
) -> dict[str, Any]:
    """Throughput at saturation; with `latency_rate`, then latency at that fixed rate too."""
    tag = f"create/{kind}"
    progress(tag, "creating and migrating database…")
    with databases.postgres("create") if kind == "postgres" else databases.sqlite() as db:
        databases.prepare_marketbox(db)
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
            url = f"http://{HOST}:{port}{PATH}"
            result = drive(cfg, tag, server, url, _bodies(cfg, tag), headers=payloads.DEMO_HEADERS)
            progress(tag, describe(result))
            if latency_rate:
                result["latency"] = _latency_at(cfg, tag, server, url, latency_rate)
        finally:
            server.stop()
    return result
