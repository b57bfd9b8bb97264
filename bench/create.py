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


def measure_create(cfg: RunConfig, kind: str) -> dict[str, Any]:
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
        finally:
            server.stop()
    progress(tag, describe(result))
    return result
