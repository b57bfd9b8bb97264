"""The benchmark still runs: tiny versions of its phases end to end. Never asserts speed
(bench/ does)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.databases import REQUIRE_PG, postgres_available

ROOT = Path(__file__).resolve().parents[2]


async def run_quick(tmp_path: Path, *phases: str) -> list[dict[str, Any]]:
    """`python -m bench --quick` with 100 timed requests per phase; its measurement rows."""
    # The floor (bare FastAPI + asyncpg) needs PostgreSQL even for the SQLite phase.
    if not await postgres_available():
        if REQUIRE_PG:
            pytest.fail("PostgreSQL is required (MARKETBOX_REQUIRE_POSTGRES=1) but unreachable")
        pytest.skip("PostgreSQL is not reachable")
    out = tmp_path / "bench.json"
    argv = ["--quick", "--requests", "100", "--json", str(out)]
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
