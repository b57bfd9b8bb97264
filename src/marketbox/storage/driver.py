"""A hot statement run on PostgreSQL's driver (asyncpg) itself, compiled by SQLAlchemy once.

SQLAlchemy's execution path (a greenlet hop, an execution context, parameter processing,
a cursor adapter) costs about as much CPU as the driver's own work for a single INSERT
(bench/: a fifth of the server's CPU per create-order request). `DriverStatement` keeps the
SQL SQLAlchemy compiled and its bind processors (the column types: ExactJSON, UTCDateTime…),
and hands the parameters straight to the asyncpg connection under the pooled
`AsyncConnection`.

Only in autocommit (`Database.statement()`): the statement then commits on its own, exactly
as it does through SQLAlchemy. Inside a transaction, or on another database, it runs through
SQLAlchemy as before, so it always joins the unit of work it is given. Constraint violations
come back as SQLAlchemy's `IntegrityError` (the driver's exception as `.orig`), any other
database error as SQLAlchemy's `DBAPIError`, as callers expect.

`fetch` returns the rows as mappings of column name to value. On the driver the values are the
driver's own (no result processors run): use it for columns whose driver value is final
(strings, numbers, bytes; `timestamptz` comes back timezone-aware), not for `ExactJSON`.
`driver_fetch` runs SQL written for PostgreSQL alone (e.g. array parameters with `unnest`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

_Processor = Callable[[Any], Any] | None
_T = TypeVar("_T")


class DriverStatement:
    """One statement with named bind parameters, e.g. ``insert(t).values(a=bindparam("a"))``."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: tuple[Dialect, str, list[tuple[str, _Processor, Any]]] | None = None

    def _prepare(self, dialect: Dialect) -> tuple[str, list[tuple[str, _Processor, Any]]]:
        compiled = self._compiled
        if compiled is None or compiled[0] is not dialect:
            sql = cast(SQLCompiler, cast(ClauseElement, self.statement).compile(dialect=dialect))
            processors = sql._bind_processors
            # A value written into the statement (`.where(c == "pending")`) is a bind
            # parameter too; the caller's params only name the `bindparam`s left open.
            order = [
                (
                    name,
                    cast(_Processor, processors.get(name)),
                    sql.binds[name].effective_value if name in sql.binds else None,
                )
                for name in sql.positiontup or []
            ]
            compiled = self._compiled = (dialect, sql.string, order)
        return compiled[1], compiled[2]

    def _args(self, conn: AsyncConnection, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        sql, order = self._prepare(conn.dialect)
        args = []
        for name, process, default in order:
            value = params.get(name, default)
            # A parameter left open and not given is NULL, as SQLAlchemy would bind it.
            args.append(process(value) if process is not None and value is not None else value)
        return sql, args

    async def execute(self, conn: AsyncConnection, params: dict[str, Any]) -> None:
        driver = await _autocommit_driver(conn)
        if driver is None:
            await conn.execute(self.statement, params)
            return
        sql, args = self._args(conn, params)
        await _on_driver(sql, driver.execute(sql, *args))

    async def fetch(
        self, conn: AsyncConnection, params: Mapping[str, Any]
    ) -> Sequence[Mapping[str, Any]]:
        """The statement's rows (RETURNING or SELECT), each a mapping by column name."""
        driver = await _autocommit_driver(conn)
        if driver is None:
            result = await conn.execute(self.statement, dict(params))
            return cast(Sequence[Mapping[str, Any]], result.mappings().all())
        sql, args = self._args(conn, params)
        rows: Sequence[Mapping[str, Any]] = await _on_driver(sql, driver.fetch(sql, *args))
        return rows


async def driver_fetch(
    conn: AsyncConnection, sql: str, *args: Any
) -> Sequence[Mapping[str, Any]] | None:
    """PostgreSQL SQL (`$1`… parameters) run on the driver under `conn`, which must be in
    autocommit (`Database.statement()`); None when it is not (another database, or inside a
    transaction), for the caller to take its portable path."""
    driver = await _autocommit_driver(conn)
    if driver is None:
        return None
    rows: Sequence[Mapping[str, Any]] = await _on_driver(sql, driver.fetch(sql, *args))
    return rows


async def _on_driver(sql: str, call: Awaitable[_T]) -> _T:
    """The driver's errors as SQLAlchemy's, as the same statement run through it would raise."""
    try:
        return await call
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(sql, None, exc) from exc
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DBAPIError(sql, None, exc) from exc


async def _autocommit_driver(conn: AsyncConnection) -> Any:
    """The asyncpg connection under `conn` when it is in autocommit; else None."""
    if conn.dialect.name != "postgresql":
        return None
    sync = conn.sync_connection
    # A connection checked out and not invalidated holds its pooled connection: reading it
    # needs no I/O (get_raw_connection() would spawn a greenlet for the same attribute).
    if sync is not None and not sync.closed and not sync.invalidated:
        pooled = sync.connection
    else:
        pooled = await conn.get_raw_connection()
    adapted = pooled.dbapi_connection
    if not getattr(adapted, "autocommit", False):
        return None
    return adapted.driver_connection if adapted is not None else None
