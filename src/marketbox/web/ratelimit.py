"""Sliding-window rate limits (spec/api.md §5): per account and per client IP.

Counters live in the process; one marketbox process serves one database's API, which is the
deployment we document. Answers carry `Retry-After` and `RateLimit-*` in seconds from now,
which is what the MCP client understands (api.md MCP addendum).
"""

from __future__ import annotations

import math
import time
from collections import deque

from marketbox.errors import RateLimited


class SlidingWindowLimiter:
    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str, now: float | None = None) -> None:
        """Count one request for `key`, or raise RateLimited without counting it."""
        now = time.monotonic() if now is None else now
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
        cutoff = now - self.window
        while hits and hits[0] <= cutoff:
            hits.popleft()
        if len(hits) >= self.limit:
            retry_after = max(1, math.ceil(hits[0] + self.window - now))
            raise RateLimited(
                "Too Many Requests",
                headers={
                    "Retry-After": str(retry_after),
                    "RateLimit-Limit": str(self.limit),
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": str(retry_after),
                },
            )
        hits.append(now)
        if len(self._hits) > 100_000:  # bound memory under a flood of distinct keys
            self._prune(now)

    def _prune(self, now: float) -> None:
        cutoff = now - self.window
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= cutoff]:
            del self._hits[key]
