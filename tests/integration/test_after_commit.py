"""`storage.db.after_commit`: a hook runs once its unit of work has committed, never after a
rollback, and a failing hook does not undo or fail the committed work (gate events use it)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from marketbox.storage.db import Database, after_commit
from marketbox.storage.tables import gate_connections
from tests.integration.test_gate import GATE_ROW


async def test_a_hook_runs_after_the_commit_and_sees_the_committed_row(db: Database) -> None:
    seen: list[int] = []

    async def count_rows() -> None:
        async with db.read() as conn:
            seen.append(len((await conn.execute(select(gate_connections))).all()))

    async with db.transaction() as conn:
        await conn.execute(gate_connections.insert().values(**GATE_ROW))
        assert after_commit(conn, count_rows)
        assert seen == []

    assert seen == [1]


async def test_a_hook_of_a_rolled_back_unit_never_runs(db: Database) -> None:
    ran: list[str] = []

    async def hook() -> None:
        ran.append("ran")

    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            after_commit(conn, hook)
            raise RuntimeError("changed my mind")
    async with db.transaction():
        pass

    assert ran == []


async def test_a_failing_hook_is_logged_and_the_work_stays_committed(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken() -> None:
        raise ValueError("the bus is down")

    with caplog.at_level(logging.ERROR, logger="marketbox.storage.db"):
        async with db.transaction() as conn:
            await conn.execute(gate_connections.insert().values(**GATE_ROW))
            after_commit(conn, broken)

    async with db.read() as conn:
        assert len((await conn.execute(select(gate_connections))).all()) == 1
    assert "after-commit hook" in caplog.text


async def test_a_connection_outside_a_unit_of_work_takes_no_hook(db: Database) -> None:
    async def hook() -> None:
        raise AssertionError("never")

    async with db.read() as conn:
        assert after_commit(conn, hook) is False
