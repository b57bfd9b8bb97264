"""An injectable "now": timezone-aware UTC, so tests can pin time.

In sandbox mode the sandbox clock (docs/sandbox.md) may be moved forward: `now()` is the real
(or pinned) time plus that offset, which `marketbox.sandbox.clock` loads from the database
into every process (API, worker, CLI) and keeps in step at most a second late. Production never
loads it, so there `offset()` is always zero.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731
_offset = timedelta(0)


def now() -> datetime:
    return _now() + _offset


def set_now(func: Callable[[], datetime] | None) -> None:
    """Pin the clock (tests); ``None`` restores the real one."""
    global _now
    _now = func if func is not None else (lambda: datetime.now(UTC))


def offset() -> timedelta:
    """How far the sandbox clock is moved forward (zero unless moved)."""
    return _offset


def set_offset(delta: timedelta) -> None:
    """Move this process's clock by `delta` from the real time (the sandbox clock)."""
    global _offset
    _offset = delta
