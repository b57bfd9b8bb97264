"""Moving-window rate limits (spec/api.md §5): per account and per client IP.

The counters live in `SharedState.limits_storage` (storage/shared.py): Redis when
MARKETBOX_REDIS_URL is set, so every API process of the deployment counts against one limit;
this process's memory otherwise. The `limits` library's moving window counts each request at
its time and admits one while fewer than `limit` fall in the last `window` seconds; a refused
request is not counted. Answers carry `Retry-After` and `RateLimit-*` in seconds from now,
which is what the MCP client understands (api.md MCP addendum).

Redis unreachable: the request is admitted (fail open) and a warning logged (at most once a
minute). A rate limit protects capacity; refusing every request because the counter store is
down would turn a Redis outage into an API outage (docs/security.md "Rate limits").
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter

from marketbox.errors import RateLimited
from marketbox.storage.shared import SharedState


class RateLimiter:
    def __init__(self, shared: SharedState, name: str, limit: int, window: float) -> None:
        self.shared = shared
        self.name = name
        self.limit = limit
        self.window = max(1, math.ceil(window))
        self._item = RateLimitItemPerSecond(limit, self.window)
        self._strategy = MovingWindowRateLimiter(shared.limits_storage)

    async def hit(self, key: str) -> None:
        """Count one request for `key`, or raise RateLimited without counting it."""
        try:
            if await self._strategy.hit(self._item, self.name, key):
                return
            stats = await self._strategy.get_window_stats(self._item, self.name, key)
        except Exception as exc:  # the storage is unreachable: serve (module docstring)
            self.shared.warn_unreachable("rate limits are not enforced", exc)
            return
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        retry_after = min(retry_after, self.window)
        raise RateLimited(
            "Too Many Requests",
            headers={
                "Retry-After": str(retry_after),
                "RateLimit-Limit": str(self.limit),
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(retry_after),
            },
        )
