"""Rows of several tables (and PostgreSQL notifications) written in one round trip.

A payment writes its payment, receipts, outbox notifications and letters together
(payments/service.pay_container). On PostgreSQL they go in as one statement: each table's
INSERT a data-modifying CTE, which PostgreSQL runs exactly once and to completion whether or
not the main query reads it, and the main query the `pg_notify` calls of the live events
(notifications/events.py), delivered when the transaction commits. A constraint that fails
fails the whole statement, as the first failing INSERT would have. Elsewhere (SQLite) each
table gets its own INSERT, in the order given.

A guarded write (`Guard`, PostgreSQL only) goes ahead only if a condition holds when it
runs: the guard's own data-modifying CTEs (e.g. a claim `UPDATE … WHERE <what was read is
still so> RETURNING`) come first, every INSERT becomes `INSERT … SELECT … WHERE EXISTS (the
gate)` and the main query reads `FROM` the gate, so a gate that yields no row writes nothing
and the call answers False.

The statement is built once per shape (the tables, their columns and row counts, the number
of notifications) and bound per call: SQLAlchemy derives the cache key of a freshly built
statement on every call, which costs more than running it (payments/repository.py). It runs
on the driver (storage/driver.py): SQLAlchemy's processing of its ~65 parameters cost about
as much CPU as the round trip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Table,
    bindparam,
    exists,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.storage.driver import DriverStatement

Rows = Sequence[Mapping[str, Any]]
# Built statements by shape; bounded by the shapes the code writes (a payment of N orders).
_STATEMENTS: dict[tuple[Any, ...], DriverStatement] = {}
_MAX_STATEMENTS = 256


@dataclass(frozen=True)
class Guard:
    """The condition of a guarded write: `gate`, a CTE that yields a row when the writes may
    go ahead, and `effects`, further data-modifying CTEs of the statement (they run whether or
    not anything reads them, so each must itself depend on the gate)."""

    gate: CTE
    effects: tuple[CTE, ...] = ()


async def insert_together(
    conn: AsyncConnection,
    inserts: Sequence[tuple[Table, Rows]],
    *,
    notify: Sequence[tuple[str, str]] = (),
    check: ColumnElement[Any] | None = None,
    check_params: Mapping[str, Any] | None = None,
    guard: Guard | None = None,
) -> Any:
    """INSERT every table's rows (all rows of a table with the same columns) and, on
    PostgreSQL, `pg_notify(channel, payload)` for each of `notify`, in one statement.

    `check`, a scalar SQL expression (its bind parameters in `check_params`), is evaluated in
    the same statement and its value returned (None without one). It sees the database as it
    was before these writes: on PostgreSQL what was committed before the statement began (and
    this transaction's earlier changes), like the statement's other reads. A caller uses it to
    learn, in the same round trip, whether something changed since its earlier statements'
    snapshot, and raises to roll its transaction back.

    With `guard` (PostgreSQL), the answer is whether the gate let the writes go ahead; the
    guard's bind parameters go in `check_params` too."""
    writes = [(table, rows) for table, rows in inserts if rows]
    if conn.dialect.name != "postgresql":
        if notify or guard is not None:
            raise ValueError("pg_notify and guarded writes are PostgreSQL's")
        checked = None
        if check is not None:  # before the writes, as the statement's snapshot is on PostgreSQL
            checked = (await conn.execute(select(check), dict(check_params or {}))).scalar()
        for table, rows in writes:
            await conn.execute(insert(table), [dict(row) for row in rows])
        return checked
    if not writes and not notify and check is None and guard is None:
        return None
    shape = (
        tuple((table.name, tuple(rows[0]), len(rows)) for table, rows in writes),
        len(notify),
        id(check),
        id(guard),
    )
    statement = _STATEMENTS.get(shape)
    if statement is None:
        statement = DriverStatement(_build(writes, len(notify), check, guard))
        if len(_STATEMENTS) < _MAX_STATEMENTS:
            _STATEMENTS[shape] = statement
    params: dict[str, Any] = dict(check_params or {})
    for n, (_table, rows) in enumerate(writes):
        for i, row in enumerate(rows):
            for key, value in row.items():
                params[f"w{n}_{i}_{key}"] = value
    for i, (channel, payload) in enumerate(notify):
        params[f"n{i}_channel"] = channel
        params[f"n{i}_payload"] = payload
    if guard is not None:
        return bool(await statement.rows(conn, params))
    if check is None:
        await statement.execute(conn, params)
        return None
    rows = await statement.rows(conn, params)
    return rows[0]._mapping[_CHECK]


_CHECK = "together_check"


def _build(
    writes: Sequence[tuple[Table, Rows]],
    notifications: int,
    check: ColumnElement[Any] | None,
    guard: Guard | None,
) -> Any:
    # One single-row INSERT per row: SQLAlchemy caches no multi-row VALUES statement (it
    # would compile on every call), and PostgreSQL takes any number of CTEs.
    ctes: list[CTE] = [] if guard is None else [guard.gate, *guard.effects]
    for n, (table, rows) in enumerate(writes):
        keys = list(rows[0])
        for i in range(len(rows)):
            values = {key: bindparam(f"w{n}_{i}_{key}", type_=table.c[key].type) for key in keys}
            if guard is None:
                ctes.append(insert(table).values(values).cte(f"w{n}_{i}"))
                continue
            row = select(*values.values()).where(exists(guard.gate.select()))
            ctes.append(insert(table).from_select(keys, row).cte(f"w{n}_{i}"))
    columns: list[ColumnElement[Any]] = [
        func.pg_notify(bindparam(f"n{i}_channel"), bindparam(f"n{i}_payload"))
        for i in range(notifications)
    ]
    if check is not None:
        columns.append(check.label(_CHECK))
    # No bind parameter besides the named ones (storage/driver.py binds only those).
    main = select(*(columns or [literal_column("1")]))
    if guard is not None:
        main = main.select_from(guard.gate)
    return main.add_cte(*ctes)
