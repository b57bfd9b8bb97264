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
come back as SQLAlchemy's `IntegrityError` (the driver's exception as `.orig`), as callers
expect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

_Processor = Callable[[Any], Any] | None


class DriverStatement:
    """One statement with named bind parameters, e.g. ``insert(t).values(a=bindparam("a"))``."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: tuple[Dialect, str, list[tuple[str, _Processor]]] | None = None

    def _prepare(self, dialect: Dialect) -> tuple[str, list[tuple[str, _Processor]]]:
        compiled = self._compiled
        if compiled is None or compiled[0] is not dialect:
            sql = cast(SQLCompiler, cast(ClauseElement, self.statement).compile(dialect=dialect))
            processors = sql._bind_processors
            order = [
                (name, cast(_Processor, processors.get(name))) for name in sql.positiontup or []
            ]
            compiled = self._compiled = (dialect, sql.string, order)
        return compiled[1], compiled[2]

    async def execute(self, conn: AsyncConnection, params: dict[str, Any]) -> None:
        driver = await _autocommit_driver(conn)
        if driver is None:
            await conn.execute(self.statement, params)
            return
        sql, order = self._prepare(conn.dialect)
        args = [
            process(params[name])
            if process is not None and params.get(name) is not None
            # A parameter the caller left out is NULL, as SQLAlchemy would bind it.
            else params.get(name)
            for name, process in order
        ]
        try:
            await driver.execute(sql, *args)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(sql, None, exc) from exc


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
