"""Rate limits of api.md §5: per account and per client IP, 429 in the envelope."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from marketbox.app import create_app
from marketbox.config import Settings
from marketbox.merchants import service as merchants_service
from marketbox.storage.db import Database
from marketbox.storage.shared import SharedState
from tests.conftest import DEMO_AUTH, TEST_PUBLIC_URL, make_settings, read
from tests.support import redis as redis_support

LIST = "/v3/filter/api/order/order"
AUTH = "/v3/security/api/auth/auth"
WINDOW = 60.0

redis_space = redis_support.redis_space  # the fixture, for this module's tests


def test_defaults_are_the_documented_limits() -> None:
    defaults = Settings(database_url="sqlite+aiosqlite:///:memory:")

    assert defaults.rate_limit_enabled is True
    assert defaults.rate_limit_per_account == 100
    assert defaults.rate_limit_per_ip == 500
    assert defaults.rate_limit_window_seconds == 30.0


def limited_app(database_url: str, db: Database, **limits: Any) -> Any:
    settings = make_settings(
        database_url, rate_limit_enabled=True, rate_limit_window_seconds=WINDOW, **limits
    )
    return create_app(settings, db=db, migrate=False)


def client_for(app: Any, ip: str = "10.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url=TEST_PUBLIC_URL)


@pytest.fixture
async def account_limited(database_url: str, db: Database) -> AsyncIterator[Any]:
    yield limited_app(database_url, db, rate_limit_per_account=5, rate_limit_per_ip=1000)


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= WINDOW
    assert response.headers["ratelimit-remaining"] == "0"
    assert 1 <= int(response.headers["ratelimit-reset"]) <= WINDOW  # seconds from now
    assert response.headers["x-request-id"]
    error = read(response)["error"]
    assert error["code"] == "rate_limited"
    assert error["fields"] == []
    assert error["message"]


async def test_sixth_request_of_an_account_is_429(account_limited: Any) -> None:
    async with client_for(account_limited) as client:
        answers = [(await client.get(LIST, headers=DEMO_AUTH)) for _ in range(6)]

    assert [r.status_code for r in answers[:5]] == [200] * 5
    assert_limited(answers[5])


async def test_account_limit_follows_the_account_across_ips(account_limited: Any) -> None:
    for i in range(5):
        async with client_for(account_limited, f"10.0.1.{i}") as client:
            assert (await client.get(LIST, headers=DEMO_AUTH)).status_code == 200

    async with client_for(account_limited, "10.0.2.1") as client:
        assert_limited(await client.get(LIST, headers=DEMO_AUTH))


async def test_the_auth_check_counts_against_the_account(account_limited: Any) -> None:
    async with client_for(account_limited) as client:
        checks = [(await client.get(AUTH, headers=DEMO_AUTH)) for _ in range(6)]
        assert [r.status_code for r in checks[:5]] == [200] * 5
        assert_limited(checks[5])
        # One budget per account: the API is refused too, and the anonymous check still answers.
        assert_limited(await client.get(LIST, headers=DEMO_AUTH))
        assert (await client.get(AUTH)).status_code == 200


async def test_an_instruments_auth_check_counts_against_its_account(
    database_url: str, db: Database
) -> None:
    async with db.transaction() as conn:
        instrument = await merchants_service.create_instrument(conn, name="bank")
    app = limited_app(database_url, db, rate_limit_per_account=2, rate_limit_per_ip=1000)
    headers = {"Authorization": f"Bearer {instrument.token}"}
    async with client_for(app) as client:
        assert (await client.get(AUTH, headers=headers)).status_code == 200
        assert (await client.get(AUTH, headers=headers)).status_code == 200
        assert_limited(await client.get(AUTH, headers=headers))
        assert (await client.get(AUTH, headers=DEMO_AUTH)).status_code == 200


async def test_another_account_is_not_affected(account_limited: Any, db: Database) -> None:
    async with db.transaction() as conn:
        other = await merchants_service.create_merchant(conn, name="Другой магазин")
    other_auth = {"Authorization": f"Bearer {other.token}"}

    async with client_for(account_limited) as client:
        for _ in range(6):
            await client.get(LIST, headers=DEMO_AUTH)
        assert_limited(await client.get(LIST, headers=DEMO_AUTH))
        answers = [(await client.get(LIST, headers=other_auth)) for _ in range(5)]

    assert [r.status_code for r in answers] == [200] * 5


async def test_refused_requests_do_not_extend_the_ban(account_limited: Any) -> None:
    async with client_for(account_limited) as client:
        for _ in range(5):
            await client.get(LIST, headers=DEMO_AUTH)
        first = await client.get(LIST, headers=DEMO_AUTH)
        for _ in range(10):
            await client.get(LIST, headers=DEMO_AUTH)
        later = await client.get(LIST, headers=DEMO_AUTH)

    assert int(later.headers["retry-after"]) <= int(first.headers["retry-after"])


async def test_per_ip_limit(database_url: str, db: Database) -> None:
    app = limited_app(database_url, db, rate_limit_per_account=1000, rate_limit_per_ip=3)

    async with client_for(app, "10.0.0.7") as client:
        answers = [(await client.get(AUTH)) for _ in range(4)]
        authed = await client.get(LIST, headers=DEMO_AUTH)
    async with client_for(app, "10.0.0.8") as other_ip:
        other = await other_ip.get(LIST, headers=DEMO_AUTH)

    assert [r.status_code for r in answers[:3]] == [200] * 3
    assert_limited(answers[3])
    assert_limited(authed)  # a valid token does not lift the IP limit
    assert other.status_code == 200


async def test_disabled_limits_never_refuse(database_url: str, db: Database) -> None:
    settings = make_settings(database_url, rate_limit_per_account=1, rate_limit_per_ip=1)
    app = create_app(settings, db=db, migrate=False)

    async with client_for(app) as client:
        answers = [(await client.get(LIST, headers=DEMO_AUTH)) for _ in range(5)]

    assert {r.status_code for r in answers} == {200}


@pytest.fixture(params=["memory", "redis"])
async def shared_state(request: pytest.FixtureRequest) -> AsyncIterator[SharedState]:
    """Where counters live: this process's memory, or Redis under a prefix of this test's own."""
    if request.param == "memory":
        yield SharedState()
        return
    space = request.getfixturevalue("redis_space")
    shared = SharedState(space.url, space.prefix)
    yield shared
    await shared.aclose()


async def test_moving_window_frees_slots_as_they_age(shared_state: SharedState) -> None:
    from marketbox.errors import RateLimited
    from marketbox.web.ratelimit import RateLimiter

    limiter = RateLimiter(shared_state, "test", limit=2, window=2.0)
    started = time.time()
    await limiter.hit("k")
    await limiter.hit("k")
    with pytest.raises(RateLimited) as caught:
        await limiter.hit("k")
    assert caught.value.headers["Retry-After"] in ("1", "2")
    assert caught.value.headers["RateLimit-Limit"] == "2"

    await limiter.hit("other")  # another key has a window of its own
    await asyncio.sleep(max(0.0, started + 2.1 - time.time()))
    await limiter.hit("k")  # the first hits have left the window
    await limiter.hit("k")
    with pytest.raises(RateLimited):
        await limiter.hit("k")


async def test_an_unreachable_redis_lets_requests_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from marketbox.web.ratelimit import RateLimiter

    shared = SharedState("redis://127.0.0.1:1/0", "unreachable")  # nothing listens on port 1
    limiter = RateLimiter(shared, "test", limit=1, window=30.0)
    for _ in range(3):
        await limiter.hit("k")  # fail open: served, not refused
    await shared.aclose()
    assert "Redis unreachable" in caplog.text
    assert "rate limits are not enforced" in caplog.text
