"""The benchmark still runs: tiny versions of its phases end to end. Never asserts speed
(bench/ does)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import redis as redis_support
from tests.support.databases import REQUIRE_PG, postgres_available

ROOT = Path(__file__).resolve().parents[2]


async def run_quick(tmp_path: Path, *phases: str, requests: int = 100) -> list[dict[str, Any]]:
    """`python -m bench --quick` with `requests` timed requests per phase (its JSON in
    tmp_path/bench.json); its measurement rows."""
    # The floor (bare FastAPI + asyncpg) needs PostgreSQL even for the SQLite phase.
    if not await postgres_available():
        if REQUIRE_PG:
            pytest.fail("PostgreSQL is required (MARKETBOX_REQUIRE_POSTGRES=1) but unreachable")
        pytest.skip("PostgreSQL is not reachable")
    out = tmp_path / "bench.json"
    argv = ["--quick", "--requests", str(requests), "--json", str(out)]
    for phase in phases:
        argv += ["--phase", phase]

    run = subprocess.run(
        [sys.executable, "-m", "bench", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    rows: list[dict[str, Any]] = json.loads(out.read_text())["measurements"]
    return rows


def assert_measured(row: dict[str, Any]) -> None:
    """Every timed request answered 2xx, and a ratio to the floor came out."""
    assert row["result"]["failed"] == 0, row["result"]["errors"]
    assert row["result"]["ok"] > 0
    assert isinstance(row["ratio"], float) and row["ratio"] > 0


@pytest.mark.slow
async def test_quick_create_on_sqlite_reports_a_ratio(tmp_path: Path) -> None:
    (row,) = await run_quick(tmp_path, "create-sqlite")

    assert row["name"] == "create/sqlite"
    assert_measured(row)


@pytest.mark.slow
async def test_quick_refund_and_shipment_report_ratios(tmp_path: Path) -> None:
    # One run, one floor: refunds of paid orders and shipments of held ones, 150 of each.
    refund, shipment = await run_quick(tmp_path, "refund", "shipment")

    assert (refund["name"], shipment["name"]) == ("refund/postgres", "shipment/postgres")
    assert_measured(refund)
    assert_measured(shipment)
    assert refund["result"]["statuses"] == {"200": refund["result"]["ok"]}
    assert shipment["result"]["statuses"] == {"200": shipment["result"]["ok"]}


async def test_quick_search_phase_reports_search_and_home_rows(tmp_path: Path) -> None:
    # The runner needs PostgreSQL reachable before any phase, even the SQLite one.
    if not await postgres_available():
        if REQUIRE_PG:
            pytest.fail("PostgreSQL is required (MARKETBOX_REQUIRE_POSTGRES=1) but unreachable")
        pytest.skip("PostgreSQL is not reachable")
    out = tmp_path / "bench.json"
    argv = ["--quick", "--phase", "search-sqlite", "--requests", "20", "--json", str(out)]

    run = subprocess.run(
        [sys.executable, "-m", "bench", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    rows = json.loads(out.read_text())["measurements"]
    assert [r["name"] for r in rows] == ["search/sqlite", "home/sqlite"]
    for row in rows:
        assert row["result"]["failed"] == 0, row["result"]["one_client"]["errors"]
        assert row["value"] > 0 and row["result"]["one_client"]["p95_ms"] > 0
        assert isinstance(row["passed"], bool)
    assert "PASS" in run.stdout or "FAIL" in run.stdout


@pytest.mark.slow
async def test_quick_many_processes_pay_once_deliver_once_and_share_the_limit(
    tmp_path: Path,
) -> None:
    # 2 API processes and 2 dispatchers, 30 orders each paid by 3 racing confirmations. The
    # correctness checks are behaviour and asserted; the CPU comparison is speed and is not.
    if not redis_support.redis_available():
        if redis_support.REQUIRE_REDIS:
            pytest.fail("Redis is required (MARKETBOX_REQUIRE_REDIS=1) but unreachable")
        pytest.skip(f"Redis is unreachable at {redis_support.REDIS_URL}")
    await run_quick(tmp_path, "many", requests=30)

    report = json.loads((tmp_path / "bench.json").read_text())["many/postgres"]
    checks = {row["name"]: row for row in report["checks"]}
    assert set(checks) == {
        "paid exactly once",
        "notifications delivered",
        "no notification delivered twice",
        "shared rate limit",
        "CPU per request",
    }
    for name in checks.keys() - {"CPU per request"}:
        assert checks[name]["passed"], checks[name]["detail"]
    assert list(report["steps"]) == ["one-a", "two-a", "two-b", "one-b", "one-c", "two-c"]
    assert all(step["cpu_ms_per_request"] > 0 for step in report["steps"].values())


@pytest.mark.slow
async def test_page_weight_phase_reports_both_checks(tmp_path: Path) -> None:
    # Headless Chromium on a server of its own (SQLite); no PostgreSQL needed.
    from bench.page_weight import chromium_path

    if chromium_path() is None:
        pytest.skip("Chromium is not installed")
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--phase", "page-weight", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(out.read_text())["page-weight/payment"]
    checks = [check["name"] for check in report["checks"]]
    assert checks == ["first visit transferred", "repeat visit requests"]
    first = report["result"]["first"]
    assert first["transferred"] == sum(first["sizes"].values()) > 0
    assert "page-weight/payment: PASS" in run.stdout or "page-weight/payment: FAIL" in run.stdout
