"""What every phase shares: the run's settings, progress lines, driving the load generator."""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import HOST, LOAD_CORE, PYTHON, ROOT, SERVER_CORE, Pinning, Proc, uvicorn_argv

CONCURRENCY = 64
PROFILE_DIR = ROOT / "bench" / "results" / "profiles"


@dataclass
class RunConfig:
    quick: bool
    pinning: Pinning
    requests_override: int | None = None
    profile: bool = False
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))

    @property
    def requests(self) -> int:
        """Timed requests per HTTP phase."""
        if self.requests_override:
            return self.requests_override
        return 300 if self.quick else 4000

    @property
    def warmup(self) -> int:
        return 50 if self.quick else 300

    @property
    def time_limit(self) -> float:
        """Seconds a timed phase may take at most; slower phases count what they finished."""
        return 10.0 if self.quick else 20.0

    @property
    def notifications(self) -> int:
        """Outbox rows delivered (timed) in the notification phase."""
        if self.requests_override:
            return self.requests_override
        return 300 if self.quick else 3000


def progress(tag: str, message: str) -> None:
    print(f"[{tag}] {message}", flush=True)


def server_env(db_url: str, port: int) -> dict[str, str]:
    return {
        "MARKETBOX_DATABASE_URL": db_url,
        "MARKETBOX_MODE": "sandbox",
        "MARKETBOX_RATE_LIMIT_ENABLED": "false",
        "MARKETBOX_PUBLIC_URL": f"http://{HOST}:{port}",
        "MARKETBOX_LOG_LEVEL": "WARNING",
    }


def start_server(
    cfg: RunConfig, name: str, app: str, env: dict[str, str], *, port: int, factory: bool
) -> Proc:
    """uvicorn with one worker process on the server core; the caller stops it."""
    argv = uvicorn_argv(app, port, factory=factory)
    proc = Proc(name, argv, pinning=cfg.pinning, core=SERVER_CORE, env=env)
    try:
        proc.wait_port(port)
        if cfg.profile:
            attach_profiler(cfg, proc)
    except BaseException:
        proc.stop()
        raise
    return proc


def attach_profiler(cfg: RunConfig, target: Proc) -> None:
    """py-spy samples `target` (from the load core) until it exits; raw collapsed stacks."""
    py_spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    if not Path(py_spy).exists():
        progress(target.name, "py-spy not installed (.venv/bin/pip install py-spy): no profile")
        return
    out = PROFILE_DIR / f"{target.name}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = [py_spy, "record", "--pid", str(target.pid), "--rate", "200"]
    argv += ["--format", "raw", "--output", str(out)]
    target.companions.append(
        Proc(f"py-spy-{target.name}", argv, pinning=cfg.pinning, core=LOAD_CORE)
    )
    progress(target.name, f"profiling with py-spy into {out}")


def drive(
    cfg: RunConfig,
    tag: str,
    server: Proc,
    url: str,
    requests: list[dict[str, Any]],
    *,
    headers: dict[str, str],
    rate: float | None = None,
    warmup: int | None = None,
    concurrency: int = CONCURRENCY,
    method: str = "POST",
) -> dict[str, Any]:
    """Replay `requests` (warm-up first) against `url` from a load process on the load core.

    Closed loop (`concurrency` requests always in flight) by default; with `rate`, open loop at
    that many requests per second (latency under a given load rather than at saturation).
    A request may carry a ``path`` appended to `url` (GET phases put the query string there).

    Returns the load generator's numbers plus `server_cpu`: the server's CPU use over the
    timed window, as a fraction of one core (near 1.0 means the server is CPU-bound).
    """
    plan = {
        "url": url,
        "method": method,
        "concurrency": concurrency,
        "warmup": cfg.warmup if warmup is None else warmup,
        "time_limit": cfg.time_limit,
        "headers": headers,
        "requests": requests,
        "rate": rate,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="bench_plan_") as fh:
        json.dump(plan, fh)
        fh.flush()
        load = Proc(
            f"load-{tag.replace('/', '-')}",
            [PYTHON, "-m", "bench.load", fh.name],
            pinning=cfg.pinning,
            core=LOAD_CORE,
            capture_stdout=True,
        )
        # The load process bounds itself; this only guards against a hang.
        watchdog = threading.Timer(cfg.time_limit + 90, load.stop)
        watchdog.start()
        try:
            progress(tag, f"warming up ({plan['warmup']} requests, {concurrency} connections)…")
            result: dict[str, Any] | None = None
            cpu_start = cpu_end = 0.0
            assert load.popen.stdout is not None
            for raw in load.popen.stdout:
                line = raw.decode().strip()
                if line == "warmup-done":
                    cpu_start = server.cpu_seconds()
                    pace = f" at {rate:.0f} req/s (open loop)" if rate else ""
                    progress(tag, f"measuring {len(requests) - plan['warmup']} requests{pace}…")
                elif line == "timed-done":
                    cpu_end = server.cpu_seconds()
                elif line.startswith("{"):
                    result = json.loads(line)
            load.popen.wait()
            if result is None:
                raise RuntimeError(
                    f"load generator failed; log {load.log_path}:\n{load.log_tail()}"
                )
        finally:
            watchdog.cancel()
            load.stop()
    cpu = cpu_end - cpu_start
    result["server_cpu"] = cpu / result["elapsed_s"] if result["elapsed_s"] else 0.0
    # Less sensitive to other load on the machine than req/s: what one request costs the server.
    result["server_cpu_ms"] = 1000 * cpu / result["ok"] if result["ok"] else 0.0
    server.check_alive()
    return result


def describe(result: dict[str, Any]) -> str:
    text = (
        f"{result['rps']:.0f} req/s, p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms"
        f" ({result['ok']} ok in {result['elapsed_s']:.1f} s; server CPU"
        f" {result['server_cpu']:.0%} = {result['server_cpu_ms']:.2f} ms/request,"
        f" load generator CPU {result['client_cpu']:.0%})"
    )
    if result["failed"]:
        text += f"; {result['failed']} FAILED, e.g. {result['errors'][0]}"
    return text
