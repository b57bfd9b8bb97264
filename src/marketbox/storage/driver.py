"""Hot statements run on PostgreSQL's driver (asyncpg) itself, compiled by SQLAlchemy once.

SQLAlchemy's execution path (a greenlet hop, an execution context, parameter processing,
a cursor adapter, a result with its row objects) costs about as much CPU as the driver's own
work for one statement (bench/: a fifth of the server's CPU per create-order request, a
quarter of a payment confirmation's). `DriverStatement` keeps the SQL SQLAlchemy compiled,
its bind processors and its result processors (the column types: ExactJSON, UTCDateTime…),
and hands the parameters straight to the asyncpg connection under the pooled
`AsyncConnection`.

`execute` and `rows` always join the unit of work they are given. In autocommit
(`Database.statement()`) the statement commits on its own, exactly as it does through
SQLAlchemy. Inside a transaction (`Database.transaction()`) it takes the connection's
execution lock and opens the transaction first if nothing has yet (both as SQLAlchemy's
asyncpg adapter does before each of its statements), so that SQLAlchemy commits or rolls back
this statement with the rest of the unit. On SQLite inside a transaction (BEGIN IMMEDIATE
already taken) it goes straight to the `sqlite3` connection the same way (storage/
sqlite_inline.py runs it on the event loop's thread either way); otherwise through SQLAlchemy.
Constraint violations come back as SQLAlchemy's `IntegrityError` (the driver's exception as
`.orig`), any other database error as SQLAlchemy's `DBAPIError`, as callers expect.

`fetch` (autocommit only; elsewhere through SQLAlchemy) returns the rows as mappings of column
name to value. On the driver the values are the driver's own (no result processors run): use
it for columns whose driver value is final (strings, numbers, bytes; `timestamptz` comes back
timezone-aware), not for `ExactJSON`. `driver_fetch` runs SQL written for PostgreSQL alone
(e.g. array parameters with `unnest`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

_Processor = Callable[[Any], Any] | None
READ_ONLY = "marketbox_read_only"  # execution option of Database.read() connections
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class DriverRow:
    """A returned row, read as SQLAlchemy's rows are read (`row._mapping["column"]`)."""

    _mapping: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _Compiled:
    dialect: Dialect
    sql: str
    # (name, processor, value when the caller gives none: a literal's, else NULL)
    binds: list[tuple[str, _Processor, Any]]
    results: list[tuple[str, _Processor]]  # (key, processor) of each returned column


class DriverStatement:
    """One statement with named bind parameters, e.g. ``insert(t).values(a=bindparam("a"))``.

    A parameter the caller leaves out is the literal's value it was built with (``status ==
    "pending"``), else NULL, as SQLAlchemy binds them; a column's Python-side default is
    not filled in here."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: _Compiled | None = None

    def _prepare(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled
        if compiled is None or compiled.dialect is not dialect:
            sql = cast(SQLCompiler, cast(ClauseElement, self.statement).compile(dialect=dialect))
            processors = sql._bind_processors
            # A value written into the statement (`.where(c == "pending")`) is a bind
            # parameter too; the caller's params only name the `bindparam`s left open.
            binds = [
                (
                    name,
                    cast(_Processor, processors.get(name)),
                    sql.binds[name].effective_value if name in sql.binds else None,
                )
                for name in sql.positiontup or []
            ]
            results = [
                (
                    column.keyname,
                    cast(_Processor, column.type._cached_result_processor(dialect, None)),
                )
                for column in sql._result_columns
            ]
            compiled = self._compiled = _Compiled(dialect, sql.string, binds, results)
        return compiled

    def _args(self, conn: AsyncConnection, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        compiled = self._prepare(conn.dialect)
        args = []
        for name, process, default in compiled.binds:
            value = params.get(name, default)
            # A parameter left open and not given is NULL, as SQLAlchemy would bind it.
            args.append(process(value) if process is not None and value is not None else value)
        return compiled.sql, args

    async def execute(self, conn: AsyncConnection, params: dict[str, Any]) -> None:
        await self._run(conn, params, returning=False)

    async def rows(self, conn: AsyncConnection, params: dict[str, Any]) -> list[Any]:
        """The rows the statement returns (RETURNING, SELECT), each read as `row._mapping`."""
        rows: list[Any] = await self._run(conn, params, returning=True)
        return rows

    async def _run(self, conn: AsyncConnection, params: dict[str, Any], returning: bool) -> Any:
        adapted = await _adapted_asyncpg(conn)
        if adapted is None and (sqlite := _sqlite_in_transaction(conn)) is not None:
            return self._run_sqlite(conn, sqlite, params, returning)
        if adapted is None:
            result = await conn.execute(self.statement, params)
            return list(result.all()) if returning else None
        sql, args = self._args(conn, params)
        driver = adapted.driver_connection
        if getattr(adapted, "autocommit", False):
            records = await on_driver(sql, _send(driver, sql, args, returning))
        else:
            async with adapted._execute_mutex:
                if adapted._transaction is None:
                    await adapted._start_transaction()
                records = await on_driver(sql, _send(driver, sql, args, returning))
        if not returning:
            return None
        return self._rows(conn, records)

    def _run_sqlite(
        self,
        conn: AsyncConnection,
        sqlite: sqlite3.Connection,
        params: dict[str, Any],
        returning: bool,
    ) -> Any:
        sql, args = self._args(conn, params)
        try:
            cursor = sqlite.cursor()  # storage/sqlite_inline.Cursor
            cursor.execute(sql, args)
            records = cursor.fetchall() if returning else None
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(sql, args, exc) from exc
        except sqlite3.Error as exc:
            raise DBAPIError(sql, args, exc) from exc
        if records is None:
            return None
        return self._rows(conn, records)

    def _rows(self, conn: AsyncConnection, records: Sequence[Sequence[Any]]) -> list[DriverRow]:
        results = self._prepare(conn.dialect).results
        return [
            DriverRow(
                {
                    key: process(value) if process is not None else value
                    for (key, process), value in zip(results, record, strict=True)
                }
            )
            for record in records
        ]

    async def fetch(
        self, conn: AsyncConnection, params: Mapping[str, Any]
    ) -> Sequence[Mapping[str, Any]]:
        """The statement's rows (RETURNING or SELECT), each a mapping by column name."""
        driver = await _autocommit_driver(conn)
        if driver is None:
            result = await conn.execute(self.statement, dict(params))
            return cast(Sequence[Mapping[str, Any]], result.mappings().all())
        sql, args = self._args(conn, params)
        rows: Sequence[Mapping[str, Any]] = await on_driver(sql, driver.fetch(sql, *args))
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
    rows: Sequence[Mapping[str, Any]] = await on_driver(sql, driver.fetch(sql, *args))
    return rows


async def on_driver(sql: str, call: Awaitable[_T]) -> _T:
    """The driver's errors as SQLAlchemy's, as the same statement run through it would raise."""
    try:
        return await call
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(sql, None, exc) from exc
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DBAPIError(sql, None, exc) from exc


async def _send(driver: Any, sql: str, args: list[Any], returning: bool) -> Any:
    if returning:
        return await driver.fetch(sql, *args)
    await driver.execute(sql, *args)
    return None


async def driver_connection(conn: AsyncConnection) -> Any:
    """The asyncpg connection under `conn` (PostgreSQL); None on another database."""
    adapted = await _adapted_asyncpg(conn)
    return None if adapted is None else adapted.driver_connection


def _sqlite_in_transaction(conn: AsyncConnection) -> sqlite3.Connection | None:
    """The `sqlite3` connection under `conn` when it is SQLite's and inside a transaction
    (`Database.transaction()`: BEGIN IMMEDIATE holds the write lock, so no statement waits
    for another process); else None. Its statements run on the event loop's thread anyway
    (storage/sqlite_inline.py): skipping SQLAlchemy's execution path costs nothing else."""
    if conn.dialect.name != "sqlite" or not conn.in_transaction():
        return None
    sync = conn.sync_connection
    if sync is None or sync.closed or sync.invalidated:
        return None
    if sync.get_execution_options().get(READ_ONLY):
        return None  # Database.read(): no BEGIN IMMEDIATE was taken
    raw = sync.connection.dbapi_connection
    return raw if isinstance(raw, sqlite3.Connection) else None


async def _adapted_asyncpg(conn: AsyncConnection) -> Any:
    """SQLAlchemy's adapter of the asyncpg connection under `conn`; None on another database."""
    if conn.dialect.name != "postgresql":
        return None
    sync = conn.sync_connection
    # A connection checked out and not invalidated holds its pooled connection: reading it
    # needs no I/O (get_raw_connection() would spawn a greenlet for the same attribute).
    if sync is not None and not sync.closed and not sync.invalidated:
        pooled = sync.connection
    else:
        pooled = await conn.get_raw_connection()
    return pooled.dbapi_connection


async def _autocommit_driver(conn: AsyncConnection) -> Any:
    """The asyncpg connection under `conn` when it is in autocommit; else None."""
    adapted = await _adapted_asyncpg(conn)
    if adapted is None or not getattr(adapted, "autocommit", False):
        return None
    return adapted.driver_connection
