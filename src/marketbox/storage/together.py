"""Rows of several tables (and PostgreSQL notifications) written in one round trip.

A payment writes its payment, receipts, outbox notifications and letters together
(payments/service.pay_container). On PostgreSQL they go in as one statement: each table's
INSERT a data-modifying CTE, which PostgreSQL runs exactly once and to completion whether or
not the main query reads it, and the main query the `pg_notify` calls of the live events
(notifications/events.py), delivered when the transaction commits. A constraint that fails
fails the whole statement, as the first failing INSERT would have. Elsewhere (SQLite) each
table gets its own INSERT, in the order given.

The statement is built once per shape (the tables, their columns and row counts, the number
of notifications) and bound per call: SQLAlchemy derives the cache key of a freshly built
statement on every call, which costs more than running it (payments/repository.py). It runs
on the driver (storage/driver.py): SQLAlchemy's processing of its ~65 parameters cost about
as much CPU as the round trip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, func, insert, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.storage.driver import DriverStatement

Rows = Sequence[Mapping[str, Any]]
# Built statements by shape; bounded by the shapes the code writes (a payment of N orders).
_STATEMENTS: dict[tuple[Any, ...], DriverStatement] = {}
_MAX_STATEMENTS = 256


async def insert_together(
    conn: AsyncConnection,
    inserts: Sequence[tuple[Table, Rows]],
    *,
    notify: Sequence[tuple[str, str]] = (),
) -> None:
    """INSERT every table's rows (all rows of a table with the same columns) and, on
    PostgreSQL, `pg_notify(channel, payload)` for each of `notify`, in one statement."""
    writes = [(table, rows) for table, rows in inserts if rows]
    if conn.dialect.name != "postgresql":
        if notify:
            raise ValueError("pg_notify is PostgreSQL's")
        for table, rows in writes:
            await conn.execute(insert(table), [dict(row) for row in rows])
        return
    if not writes and not notify:
        return
    shape = (
        tuple((table.name, tuple(rows[0]), len(rows)) for table, rows in writes),
        len(notify),
    )
    statement = _STATEMENTS.get(shape)
    if statement is None:
        statement = DriverStatement(_build(writes, len(notify)))
        if len(_STATEMENTS) < _MAX_STATEMENTS:
            _STATEMENTS[shape] = statement
    params: dict[str, Any] = {}
    for n, (_table, rows) in enumerate(writes):
        for i, row in enumerate(rows):
            for key, value in row.items():
                params[f"w{n}_{i}_{key}"] = value
    for i, (channel, payload) in enumerate(notify):
        params[f"n{i}_channel"] = channel
        params[f"n{i}_payload"] = payload
    await statement.execute(conn, params)


def _build(writes: Sequence[tuple[Table, Rows]], notifications: int) -> Any:
    # One single-row INSERT per row: SQLAlchemy caches no multi-row VALUES statement (it
    # would compile on every call), and PostgreSQL takes any number of CTEs.
    ctes = []
    for n, (table, rows) in enumerate(writes):
        keys = list(rows[0])
        for i in range(len(rows)):
            values = {key: bindparam(f"w{n}_{i}_{key}", type_=table.c[key].type) for key in keys}
            ctes.append(insert(table).values(values).cte(f"w{n}_{i}"))
    columns: list[ColumnElement[Any]] = [
        func.pg_notify(bindparam(f"n{i}_channel"), bindparam(f"n{i}_payload"))
        for i in range(notifications)
    ]
    # No bind parameter besides the named ones (storage/driver.py binds only those).
    return select(*(columns or [literal_column("1")])).add_cte(*ctes)
