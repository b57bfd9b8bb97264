"""Several API processes on one PostgreSQL database and one Redis (docs/architecture.md
"Several processes"): real `marketbox serve` processes, requests spread over them.

* rate limits are one limit, wherever a request lands;
* a token rotated by the CLI stops working in every process on the next request (no wait).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from marketbox.merchants.service import DEMO_TOKEN
from tests.support import redis as redis_support
from tests.support.databases import REQUIRE_PG, PostgresTemplate
from tests.support.redis import RedisSpace

LIST = "/v3/filter/api/order/order"
AUTH_CHECK = "/v3/security/api/auth/auth"
INVOICES = "/v3/payment/api/invoice"
START_TIMEOUT_SECONDS = 60.0
SERVING = re.compile(r"^marketbox: serving on ")

redis_space = redis_support.redis_space  # the fixture, for this module's tests


@pytest.fixture
async def pg_database(pg_template: PostgresTemplate | None) -> AsyncIterator[str]:
    """A fresh migrated PostgreSQL database (several processes share it: no SQLite here)."""
    if pg_template is None:
        if REQUIRE_PG:
            pytest.fail("PostgreSQL is required (MARKETBOX_REQUIRE_POSTGRES=1) but unreachable")
        pytest.skip("PostgreSQL is unreachable")
    url = await pg_template.new_database()
    yield url
    await pg_template.drop(url)


def environment(database_url: str, space: RedisSpace, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKETBOX_")}
    env.update(
        MARKETBOX_DATABASE_URL=database_url,
        MARKETBOX_MODE="sandbox",
        MARKETBOX_LOG_LEVEL="WARNING",
        **space.env,
        **extra,
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def api_process(env: dict[str, str], log: Path) -> Iterator[str]:
    """`marketbox serve --no-worker` on a free port; yields its base URL once it answers."""
    port = free_port()
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "marketbox.cli.main",
                "serve",
                "--no-worker",
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**env, "MARKETBOX_PUBLIC_URL": f"http://127.0.0.1:{port}"},
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not SERVING.search(log.read_text(encoding="utf-8")):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{base_url} did not start: {log.read_text()}")
            time.sleep(0.05)
        yield base_url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def two_api_processes(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, str]]:
    with ExitStack() as stack:
        first = stack.enter_context(api_process(env, tmp_path / "api-1.log"))
        second = stack.enter_context(api_process(env, tmp_path / "api-2.log"))
        yield first, second


def cli(env: dict[str, str], *args: str) -> dict[str, str]:
    result = subprocess.run(
        [sys.executable, "-m", "marketbox.cli.main", *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, str] = json.loads(result.stdout)
    return answer


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_two_processes_enforce_one_account_limit(
    pg_database: str, redis_space: RedisSpace, tmp_path: Path
) -> None:
    env = environment(
        pg_database,
        redis_space,
        MARKETBOX_RATE_LIMIT_PER_ACCOUNT="5",
        MARKETBOX_RATE_LIMIT_PER_IP="1000",
        MARKETBOX_RATE_LIMIT_WINDOW_SECONDS="60",
    )
    with two_api_processes(env, tmp_path) as (first, second):
        spread = [first, second, first, second, first]
        answers = [httpx.get(f"{url}{LIST}", headers=bearer(DEMO_TOKEN)) for url in spread]
        sixth = httpx.get(f"{second}{LIST}", headers=bearer(DEMO_TOKEN))
        seventh = httpx.get(f"{first}{AUTH_CHECK}", headers=bearer(DEMO_TOKEN))

    assert [r.status_code for r in answers] == [200] * 5
    for refused in (sixth, seventh):
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["ratelimit-remaining"] == "0"
        assert refused.json()["error"]["code"] == "rate_limited"


def test_two_processes_enforce_one_ip_limit(
    pg_database: str, redis_space: RedisSpace, tmp_path: Path
) -> None:
    env = environment(
        pg_database,
        redis_space,
        MARKETBOX_RATE_LIMIT_PER_ACCOUNT="1000",
        MARKETBOX_RATE_LIMIT_PER_IP="3",
        MARKETBOX_RATE_LIMIT_WINDOW_SECONDS="60",
    )
    with two_api_processes(env, tmp_path) as (first, second):
        answers = [httpx.get(f"{url}{AUTH_CHECK}") for url in (first, second, first, second)]

    assert [r.status_code for r in answers] == [200, 200, 200, 429]


def test_a_token_rotated_by_the_cli_stops_working_in_every_process_at_once(
    pg_database: str, redis_space: RedisSpace, tmp_path: Path
) -> None:
    env = environment(pg_database, redis_space, MARKETBOX_RATE_LIMIT_ENABLED="false")
    shop = cli(env, "merchant", "create", "--name", "Shop")
    bank = cli(env, "instrument", "create", "--name", "Bank")
    with two_api_processes(env, tmp_path) as (first, second):
        # Both processes have resolved (and cached) both tokens.
        for url in (first, second):
            assert httpx.get(f"{url}{LIST}", headers=bearer(shop["token"])).status_code == 200
            assert httpx.get(f"{url}{INVOICES}", headers=bearer(bank["token"])).status_code == 200

        rotated = cli(env, "merchant", "rotate", shop["merchantId"], "--token", "--overlap", "0")
        new_bank = cli(env, "instrument", "rotate", bank["id"], "--overlap", "0")

        old_answers = [
            httpx.get(f"{url}{LIST}", headers=bearer(shop["token"])) for url in (first, second)
        ]
        new_answers = [
            httpx.get(f"{url}{LIST}", headers=bearer(rotated["token"])) for url in (first, second)
        ]
        old_bank = [
            httpx.get(f"{url}{INVOICES}", headers=bearer(bank["token"])) for url in (first, second)
        ]
        new_bank_answers = [
            httpx.get(f"{url}{INVOICES}", headers=bearer(new_bank["token"]))
            for url in (first, second)
        ]

    assert [r.status_code for r in old_answers] == [401, 401]
    assert [r.status_code for r in new_answers] == [200, 200]
    assert [r.status_code for r in old_bank] == [401, 401]
    assert [r.status_code for r in new_bank_answers] == [200, 200]
    assert set(rotated) == {"merchantId", "token"}  # --token: the signing key is kept
    assert set(new_bank) == {"id", "token", "signingKey"}
