"""State that every process of one deployment must see alike: Redis when MARKETBOX_REDIS_URL is
set, this process's memory otherwise (one process; docs/architecture.md "Several processes").

Two things live here:

* the storage of the rate limit counters (`limits`, moving window): Redis, or memory;
* the *credentials version*, a counter that is raised whenever a token or a signing key
  changes. A process caches a resolved token together with the version it was read under and
  trusts it only while the version is unchanged, so a rotation made by any process (or the
  CLI) takes effect in every process on its next request.

Redis unreachable: counters fail open (the request is served, a warning is logged at most once
a minute) and the credentials version reads as unknown, so tokens are looked up in the
database on every request until Redis answers again. Neither ever lets a revoked token in.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from limits.aio.storage import MemoryStorage, RedisStorage, Storage

log = logging.getLogger(__name__)

# Bounded waits: a Redis that does not answer must not hold up a request for long.
REDIS_TIMEOUT_SECONDS = 0.5
_WARN_EVERY_SECONDS = 60.0


class SharedState:
    """Rate limit storage and credentials version of one deployment."""

    def __init__(self, redis_url: str | None = None, key_prefix: str = "marketbox") -> None:
        self.redis_url = redis_url
        self.key_prefix = key_prefix
        self._local_version = 0
        self._last_warning = 0.0
        self.redis: Any = None
        self.limits_storage: Storage
        if redis_url:
            import redis.asyncio as aioredis

            self.redis = aioredis.Redis.from_url(
                redis_url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            self.limits_storage = RedisStorage(
                f"async+{redis_url}",
                implementation="redispy",
                key_prefix=f"{key_prefix}:limits",
                wrap_exceptions=True,
                connection_pool=self.redis.connection_pool,
            )
        else:
            self.limits_storage = MemoryStorage()
        log.debug(
            "shared state: %s",
            f"Redis {self.redis_url_safe}" if redis_url else "this process only (no Redis)",
        )

    @property
    def shared(self) -> bool:
        """Whether other processes see this state (Redis) or only this one (memory)."""
        return self.redis is not None

    @property
    def _version_key(self) -> str:
        return f"{self.key_prefix}:credentials-version"

    async def credentials_version(self) -> int | None:
        """The current credentials version; None when it cannot be known (Redis down)."""
        if self.redis is None:
            return self._local_version
        try:
            value = await self.redis.get(self._version_key)
        except Exception as exc:  # redis.RedisError, OSError, timeouts
            self.warn_unreachable("credentials version", exc)
            return None
        return int(value) if value is not None else 0

    async def credentials_changed(self) -> None:
        """Call after a token or a signing key changed (after its commit): every process
        stops trusting what it cached before."""
        self._local_version += 1
        if self.redis is None:
            return
        try:
            await self.redis.incr(self._version_key)
        except Exception as exc:
            # The change is committed; other processes keep their cached entries until their
            # TTL (merchants/service.py TokenCache) runs out.
            log.error("could not publish a credentials change to Redis: %s", exc)

    def warn_unreachable(self, what: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY_SECONDS or not self._last_warning:
            self._last_warning = now
            log.warning("Redis unreachable (%s), %s: %s", self.redis_url_safe, what, exc)

    @property
    def redis_url_safe(self) -> str:
        """The Redis URL without its password, for messages."""
        url = self.redis_url or ""
        scheme, sep, rest = url.partition("://")
        if "@" in rest:
            rest = "***@" + rest.rsplit("@", 1)[1]
        return f"{scheme}{sep}{rest}"

    async def aclose(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
