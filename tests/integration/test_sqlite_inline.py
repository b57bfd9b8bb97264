"""The inline SQLite driver (storage/sqlite_inline.py): statements run on the event loop's
thread, so what it must never do is hold that thread while another process has the write
lock; requests get the one connection in the order they asked; and an answered request
survives the server being killed."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from marketbox.storage import sqlite_inline
from marketbox.storage.db import Database
from tests.integration.test_cli import SERVING, create_order, free_port, running_cli

START_TIMEOUT_SECONDS = 120.0


def url_of(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def two_processes(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Two Databases on one file: each has its own connection, as two processes would."""
    path = tmp_path / "shared.db"
    first, second = Database(url_of(path)), Database(url_of(path))
    async with first.transaction() as conn:
        await conn.execute(text("CREATE TABLE things (name TEXT NOT NULL)"))
    try:
        yield first, second
    finally:
        await first.dispose()
        await second.dispose()


async def ticks_while(work: asyncio.Future[object]) -> int:
    """How often the event loop ran another task while `work` was pending."""
    count = 0
    while not work.done():
        await asyncio.sleep(0.005)
        count += 1
    return count


async def test_waiting_for_another_process_lock_leaves_the_loop_free(
    two_processes: tuple[Database, Database],
) -> None:
    first, second = two_processes
    holding = asyncio.Event()
    release = asyncio.Event()

    async def hold_the_lock() -> None:
        async with first.transaction() as conn:
            await conn.execute(text("INSERT INTO things VALUES ('first')"))
            holding.set()
            await release.wait()

    async def write_behind_it() -> float:
        started = time.monotonic()
        async with second.transaction() as conn:
            await conn.execute(text("INSERT INTO things VALUES ('second')"))
        return time.monotonic() - started

    holder = asyncio.create_task(hold_the_lock())
    await holding.wait()
    waiter = asyncio.ensure_future(write_behind_it())
    loop = asyncio.get_running_loop()
    loop.call_later(0.4, release.set)
    ticks = await ticks_while(waiter)
    await holder
    waited = await waiter

    assert waited >= 0.35  # it really waited for the lock
    assert ticks >= 20  # ...and the loop kept serving other tasks all that time
    async with first.connection() as conn:
        names = (await conn.execute(text("SELECT name FROM things ORDER BY rowid"))).scalars()
        assert list(names) == ["first", "second"]


async def test_a_lock_held_past_the_deadline_is_a_clear_error_and_writes_nothing(
    two_processes: tuple[Database, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = two_processes
    monkeypatch.setattr(sqlite_inline, "LOCK_WAIT_SECONDS", 0.2)
    async with first.transaction() as conn:
        await conn.execute(text("INSERT INTO things VALUES ('first')"))
        with pytest.raises(Exception, match="database is locked"):
            async with second.transaction() as other:
                await other.execute(text("INSERT INTO things VALUES ('second')"))
    async with second.connection() as conn:
        names = (await conn.execute(text("SELECT name FROM things"))).scalars()
        assert list(names) == ["first"]


async def test_a_read_neither_waits_for_nor_takes_the_write_lock(
    two_processes: tuple[Database, Database],
) -> None:
    first, second = two_processes
    async with first.transaction() as conn:
        await conn.execute(text("INSERT INTO things VALUES ('committed')"))
    async with first.transaction() as conn:
        await conn.execute(text("INSERT INTO things VALUES ('in flight')"))
        # Another process reads at once, and sees only what was committed...
        async with second.read() as reader:
            names = (await reader.execute(text("SELECT name FROM things"))).scalars()
            assert list(names) == ["committed"]
            # ...and while it reads, the writer can still commit.
    async with second.read() as reader:
        async with first.transaction() as conn:
            await conn.execute(text("INSERT INTO things VALUES ('during a read')"))
        count = (await reader.execute(text("SELECT count(*) FROM things"))).scalar_one()
        assert count == 3


async def test_transactions_get_the_connection_in_the_order_they_asked(tmp_path: Path) -> None:
    db = Database(url_of(tmp_path / "fair.db"))
    try:
        async with db.transaction() as conn:
            await conn.execute(text("CREATE TABLE turns (who TEXT NOT NULL)"))
        holding = asyncio.Event()

        async def write(who: str) -> None:
            async with db.transaction() as conn:
                await conn.execute(text("INSERT INTO turns VALUES (:who)"), {"who": who})
                holding.set()
                await asyncio.sleep(0.01)

        async def greedy() -> None:
            # Asks again the moment it gives the connection back: it must not jump the queue.
            for _ in range(10):
                await write("greedy")

        first = asyncio.create_task(greedy())
        await holding.wait()
        others = [asyncio.create_task(write(f"other-{n}")) for n in range(5)]
        await asyncio.gather(first, *others)
        async with db.connection() as conn:
            served = list(
                (await conn.execute(text("SELECT who FROM turns ORDER BY rowid"))).scalars()
            )
        # Those who asked while the greedy writer held the connection come before its second turn.
        assert served[:7] == ["greedy", *[f"other-{n}" for n in range(5)], "greedy"]
    finally:
        await db.dispose()


def test_an_answered_order_survives_the_server_being_killed(tmp_path: Path) -> None:
    db_file = tmp_path / "crash.db"
    port = free_port()
    with running_cli("serve", "--port", str(port), db=db_file) as server:
        server.read_until(SERVING, timeout=START_TIMEOUT_SECONDS)
        order = create_order(f"http://127.0.0.1:{port}")
        server.process.send_signal(signal.SIGKILL)
        assert server.process.wait(timeout=30) == -signal.SIGKILL

    with sqlite3.connect(db_file) as conn:
        found = conn.execute("SELECT id FROM orders WHERE id = ?", (order["id"],)).fetchall()
    assert found == [(order["id"],)]
