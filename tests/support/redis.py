"""Redis for tests: used whenever it is reachable, each test under a key prefix of its own.

Set MARKETBOX_REQUIRE_REDIS=1 (CI does) to turn an unreachable Redis into a failure instead of
a skip. MARKETBOX_TEST_REDIS_URL overrides the server (default: redis://127.0.0.1:6379/0).
Only the keys under a test's own prefix are ever deleted, so parallel runs do not collide.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

REDIS_URL = os.environ.get("MARKETBOX_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_REDIS = os.environ.get("MARKETBOX_REQUIRE_REDIS") == "1"


@dataclass(frozen=True)
class RedisSpace:
    url: str
    prefix: str

    @property
    def env(self) -> dict[str, str]:
        """The settings that point a marketbox process at this space."""
        return {"MARKETBOX_REDIS_URL": self.url, "MARKETBOX_REDIS_KEY_PREFIX": self.prefix}


def redis_available() -> bool:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except (OSError, redis.RedisError):
        return False
    finally:
        client.close()
    return True


def delete_prefix(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(match=f"{prefix}:*", count=500):
            client.delete(key)
    finally:
        client.close()


@pytest.fixture
def redis_space() -> Iterator[RedisSpace]:
    """A Redis key prefix of this test's own, deleted afterwards; skipped without Redis
    (failed when MARKETBOX_REQUIRE_REDIS=1)."""
    if not redis_available():
        if REQUIRE_REDIS:
            pytest.fail("Redis is required (MARKETBOX_REQUIRE_REDIS=1) but unreachable")
        pytest.skip(f"Redis is unreachable at {REDIS_URL}")
    prefix = f"mbtest-{secrets.token_hex(6)}"
    yield RedisSpace(REDIS_URL, prefix)
    delete_prefix(prefix)
