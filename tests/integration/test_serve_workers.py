"""The processes of a deployment (docs/deploy.md), run as the real CLI: `serve --workers N`
answers from N processes on one port and counts them all in one scrape; `worker` serves its
own metrics; both stop gracefully on SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_cli import (
    SERVING,
    STOP_TIMEOUT_SECONDS,
    free_port,
    run_cli,
    running_cli,
)

START_TIMEOUT_SECONDS = 120.0  # two cores shared with other work: spawning takes a while
TOKEN = "scrape-token-0123456789"
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}
WORKER_RUNNING = re.compile(r"^marketbox: worker running")


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "ops.db"


def children_of(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(p) for p in (task / "children").read_text().split())
    return found


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def json_lines(path: Path) -> list[dict[str, Any]]:
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        entries.append(json.loads(line))  # every line of the process is JSON
    return entries


def counter(scrape: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(scrape):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


def test_serve_with_two_workers_answers_from_two_processes_on_one_port(db_file: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    scratch = db_file.parent / "tmp"
    scratch.mkdir()
    with running_cli(
        "serve",
        "--port",
        str(port),
        "--workers",
        "2",
        db=db_file,
        MARKETBOX_METRICS_ENABLED="1",
        MARKETBOX_METRICS_TOKEN=TOKEN,
        MARKETBOX_LOG_FORMAT="json",
        MARKETBOX_ACCESS_LOG="1",
        PROMETHEUS_MULTIPROC_DIR=None,  # serve makes (and removes) its own, in TMPDIR
        TMPDIR=str(scratch),
    ) as server:
        (line,) = server.read_until(SERVING, timeout=START_TIMEOUT_SECONDS)
        assert "with 2 API processes" in line
        (metrics_dir,) = scratch.glob("marketbox-metrics-*")
        children = children_of(server.process.pid)

        # Bursts of requests, each on a connection of its own, until both processes answered.
        sent: list[httpx.Response] = []
        answered: set[int] = set()
        deadline = time.monotonic() + 60
        with ThreadPoolExecutor(max_workers=8) as pool:
            while len(answered) < 2 and time.monotonic() < deadline:
                sent += pool.map(lambda _: httpx.get(f"{base}/help", timeout=30), range(16))
                access = [e for e in json_lines(server.stderr) if e["logger"] == "marketbox.access"]
                answered = {e["pid"] for e in access}
        assert all(r.status_code == 200 for r in sent)
        assert len(answered) == 2, answered
        assert answered <= children  # two processes of this serve, on the one port

        # One log line per request (written once its answer is sent), with the id the
        # client saw; and whichever process answers the scrape counts the requests of both.
        time.sleep(0.5)
        access = [e for e in json_lines(server.stderr) if e["logger"] == "marketbox.access"]
        logged = {e["request_id"]: e["path"] for e in access}
        assert {r.headers["x-request-id"]: "/help" for r in sent}.items() <= logged.items()
        scrape = httpx.get(f"{base}/metrics", headers=SCRAPE, timeout=30)
        assert scrape.status_code == 200
        help_page = counter(scrape.text, "marketbox_http_requests_total", route="/help")
        assert help_page == len(sent)
        assert httpx.get(f"{base}/readyz", timeout=30).status_code == 200

        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=STOP_TIMEOUT_SECONDS) == 0
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in children)
    assert not metrics_dir.exists()
    messages = [e["message"] for e in json_lines(server.stderr)]
    assert any(m.endswith(" stopped") and m.startswith("dispatcher=") for m in messages)


def test_the_worker_serves_its_metrics_and_stops_on_sigterm(db_file: Path) -> None:
    port = free_port()
    with running_cli(
        "worker",
        "--metrics-port",
        str(port),
        db=db_file,
        MARKETBOX_METRICS_TOKEN=TOKEN,
        MARKETBOX_LOG_FORMAT="json",
    ) as worker:
        worker.read_until(WORKER_RUNNING, timeout=START_TIMEOUT_SECONDS)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz", timeout=30).status_code == 200
        assert httpx.get(f"{base}/metrics", timeout=30).status_code == 401
        scrape = httpx.get(f"{base}/metrics", headers=SCRAPE, timeout=30)
        assert scrape.status_code == 200
        assert counter(scrape.text, "marketbox_outbox_up") == 1
        assert "marketbox_notification_deliveries_total" in scrape.text

        worker.process.send_signal(signal.SIGTERM)
        assert worker.process.wait(timeout=STOP_TIMEOUT_SECONDS) == 0
    messages = [e["message"] for e in json_lines(worker.stderr)]
    assert any(m.endswith(" stopped") and m.startswith("dispatcher=") for m in messages)


def test_worker_metrics_in_production_need_a_token(db_file: Path) -> None:
    result = run_cli(
        "worker",
        "--metrics-port",
        str(free_port()),
        db=db_file,
        MARKETBOX_MODE="production",
        MARKETBOX_SESSION_SECRET="s" * 32,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "marketbox: error: --metrics-port in production mode needs MARKETBOX_METRICS_TOKEN "
        "(scrapes send it as a Bearer token)"
    )
    assert not db_file.exists()  # refused before anything ran


def test_serve_workers_is_a_number_of_processes(db_file: Path) -> None:
    for bad in ("0", "65", "two"):
        result = run_cli("serve", "--workers", bad, db=db_file)
        assert result.returncode == 2
        assert "is not a number of processes: use a whole number in 1-64" in result.stderr
