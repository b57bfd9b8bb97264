"""The sandbox clock: a persisted offset that moves `marketbox.clock.now()` forward.

    real time ──(+ offset, from the sandbox_clock row)──> clock.now() in every process

The offset lives in the database (`sandbox_clock`), so the API processes, the worker and the
CLI agree on it: each long-running process re-reads it every `REFRESH_SECONDS`
(`keep_in_step`), and a process that changes it applies it to itself at once. The offset only
grows (`advance`) or goes back to zero (`reset`); time never runs backwards for stored rows.
Only sandbox mode calls into this module (the routes and the CLI refuse production first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Iterator
from datetime import timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock
from marketbox.sandbox.errors import BadDuration
from marketbox.sandbox.tables import sandbox_clock
from marketbox.storage.db import Database

log = logging.getLogger("marketbox.sandbox")

REFRESH_SECONDS = 1.0
# Ten years: far enough for any deadline or retry schedule, small enough for every database.
MAX_OFFSET = timedelta(days=3650)
_DURATION = re.compile(
    r"(?:(?P<d>[0-9]{1,5})d)?(?:(?P<h>[0-9]{1,6})h)?(?:(?P<m>[0-9]{1,8})m)?(?:(?P<s>[0-9]{1,10})s)?"
)
_ROW = 1


def parse_duration(text: str) -> timedelta:
    """«30s», «15m», «2h», «1d», «1d12h30m»: a positive duration; BadDuration otherwise."""
    value = text.strip().lower().replace(" ", "")
    match = _DURATION.fullmatch(value)
    if not value or match is None:
        raise BadDuration(f"{text!r} is not a duration such as 30m, 2h, 1d or 1d12h")
    parts = {k: int(v) for k, v in match.groupdict().items() if v is not None}
    delta = timedelta(
        days=parts.get("d", 0),
        hours=parts.get("h", 0),
        minutes=parts.get("m", 0),
        seconds=parts.get("s", 0),
    )
    if delta <= timedelta(0):
        raise BadDuration("the duration must be positive")
    if delta > MAX_OFFSET:
        raise BadDuration("at most 3650 days at a time")
    return delta


async def read_offset(conn: AsyncConnection) -> timedelta:
    seconds = (
        await conn.execute(select(sandbox_clock.c.offset_seconds).where(sandbox_clock.c.id == _ROW))
    ).scalar_one_or_none()
    return timedelta(seconds=int(seconds or 0))


async def advance(conn: AsyncConnection, delta: timedelta) -> timedelta:
    """Move the clock forward by `delta` (in the caller's transaction); returns the new offset.

    The row is changed by one statement relative to its stored value, so two processes
    advancing at once add up. This process's clock moves at once; others within a second.
    """
    seconds = int(delta.total_seconds())
    now = clock.now()
    moved = await conn.execute(
        update(sandbox_clock)
        .where(sandbox_clock.c.id == _ROW)
        .values(offset_seconds=sandbox_clock.c.offset_seconds + seconds, updated_at=now)
    )
    if moved.rowcount == 0:
        await conn.execute(
            insert(sandbox_clock).values(id=_ROW, offset_seconds=seconds, updated_at=now)
        )
    offset = await read_offset(conn)
    if offset > MAX_OFFSET:
        raise BadDuration("the clock may be at most 3650 days ahead")
    clock.set_offset(offset)
    return offset


async def reset(conn: AsyncConnection) -> None:
    """Back to the real time (in the caller's transaction)."""
    await conn.execute(delete(sandbox_clock))
    clock.set_offset(timedelta(0))


@contextlib.contextmanager
def kept_on_failure() -> Iterator[None]:
    """Around a transaction that changes the offset: should it fail (or its commit), this
    process's clock goes back to the offset it had, as the database still has it."""
    previous = clock.offset()
    try:
        yield
    except BaseException:
        clock.set_offset(previous)
        raise


async def refresh(db: Database) -> timedelta:
    """Load the stored offset into this process's clock."""
    async with db.read() as conn:
        offset = await read_offset(conn)
    if offset != clock.offset():
        log.info("sandbox clock: %s ahead of real time", offset)
        clock.set_offset(offset)
    return offset


async def keep_in_step(db: Database, stop: asyncio.Event) -> None:
    """Re-read the offset every REFRESH_SECONDS until `stop` is set (or cancelled)."""
    while not stop.is_set():
        try:
            await refresh(db)
        except Exception:  # the next read may succeed; the clock keeps its last offset
            log.exception("sandbox clock refresh failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), REFRESH_SECONDS)
