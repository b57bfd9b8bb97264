"""Engine and the unit of work: one transaction per request or per dispatcher job.

SQLite runs with WAL and ``BEGIN IMMEDIATE`` so that concurrent writers queue on the
database lock (busy timeout) instead of failing on a read-to-write upgrade; PostgreSQL runs
with its defaults (READ COMMITTED), and racing state changes use conditional updates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from marketbox.storage import sqlite_inline
from marketbox.storage.driver import READ_ONLY, driver_connection, on_driver

SQLITE_TURN_TIMEOUT_SECONDS = 60
_AFTER_COMMIT = "marketbox_after_commit"  # Connection.info key of the hooks of this unit

log = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[None]]


def after_commit(conn: AsyncConnection, hook: AfterCommit) -> bool:
    """Run `hook` once the unit of work `conn` belongs to has committed (never if it rolls
    back). For what must not be seen before the commit, such as a live event about a row
    (gate/). False when `conn` is not a unit of `Database` (nothing will run the hook)."""
    hooks: list[AfterCommit] | None = conn.info.get(_AFTER_COMMIT)
    if hooks is None:
        return False
    hooks.append(hook)
    return True


@contextmanager
def staged_hooks(conn: AsyncConnection) -> Iterator[None]:
    """The after-commit hooks registered inside join the unit's only if the block ends
    without raising: for a part of a unit that writes, or fails and writes nothing (a guarded
    statement, a transaction inside `Database.statement()`)."""
    outer: list[AfterCommit] | None = conn.info.get(_AFTER_COMMIT)
    if outer is None:
        yield
        return
    staged: list[AfterCommit] = []
    conn.info[_AFTER_COMMIT] = staged
    try:
        yield
    finally:
        conn.info[_AFTER_COMMIT] = outer
    outer.extend(staged)


@asynccontextmanager
async def transaction_on(conn: AsyncConnection) -> AsyncIterator[AsyncConnection]:
    """BEGIN … COMMIT on PostgreSQL's driver, on a connection in autocommit (one that
    `Database.statement()` or `driver_transaction()` checked out): for a unit that tried its
    work in single statements first and now needs a transaction, without a second connection
    from the pool. Raising rolls back; the hooks registered inside run after the unit's
    commit, and only if this transaction committed."""
    driver = await driver_connection(conn)
    transaction = driver.transaction()
    await on_driver("BEGIN", transaction.start())
    with staged_hooks(conn):
        try:
            yield conn
        except BaseException:
            await _end(conn, transaction.rollback(), "ROLLBACK")
            raise
        await _end(conn, transaction.commit(), "COMMIT")


async def _run_after_commit(hooks: list[AfterCommit]) -> None:
    for hook in hooks:
        try:
            await hook()
        except Exception:  # committed already: a hook that fails must not fail the unit
            log.exception("after-commit hook %r failed", hook)


async def _end(conn: AsyncConnection, call: Awaitable[None], what: str) -> None:
    """COMMIT or ROLLBACK on the driver; a connection that fails it is not pooled again (its
    state is unknown), and the error is raised as SQLAlchemy's."""
    try:
        await on_driver(what, call)
    except BaseException:
        with contextlib.suppress(Exception):
            await conn.invalidate()
        raise


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        # Every SQLite transaction takes the write lock (BEGIN IMMEDIATE), so one connection per
        # process serves best: waiting requests queue for it in order (Database._turn) instead
        # of retrying a lock their own process holds (bench/: create rate 143 -> 248 req/s).
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", SQLITE_TURN_TIMEOUT_SECONDS)
        engine = create_async_engine(sqlite_url(url), **kwargs)
        _configure_sqlite(engine)
        return engine
    # A fixed pool: overflow connections would be opened and closed under load, and opening
    # one costs more than a whole request (bench/: 11 % of server CPU at 64 connections).
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 0)
    kwargs.setdefault("pool_timeout", 60)
    kwargs.setdefault("pool_pre_ping", False)
    return create_async_engine(url, **kwargs)


def sqlite_url(url: str) -> Any:
    """Any async SQLite URL (``sqlite+aiosqlite://`` as configured) served by the inline
    driver (storage/sqlite_inline.py): same file, same SQL, no thread hop per call."""
    sqlite_inline.register()
    return make_url(url).set(drivername=f"sqlite+{sqlite_inline.DRIVER}")


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (below) instead of the driver's deferred BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # No busy handler: a statement refused for another process's lock is retried by the
        # driver without holding the event loop (storage/sqlite_inline.py).
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            return  # Database.read(): every SELECT on its own, no lock taken
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """Owns the engine; hands out connections and transactions."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_kwargs)
        # SQLite: one connection per process, handed out in the order it was asked for. The
        # pool alone is not fair: a returned connection goes to whichever task asks next in
        # the same turn of the loop, not to the one waiting longest, and with the inline
        # driver (no await between statements) some requests waited seconds (bench/: p99).
        self._turns = asyncio.Lock() if self.dialect == "sqlite" else None
        # PostgreSQL's autocommit units (statement(), read()) check out through a view of the
        # same pool that carries the isolation level: cheaper than switching each connection
        # to AUTOCOMMIT and back (bench/: about 25 us of CPU per request).
        self._autocommit = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.dialect == "postgresql"
            else None
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection of the pool, first come first served."""
        async with self._turn():
            async with self.engine.connect() as conn:
                yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        hooks: list[AfterCommit] = []
        async with self._turn():
            async with self.engine.begin() as conn:
                conn.info[_AFTER_COMMIT] = hooks
                try:
                    yield conn
                finally:
                    conn.info.pop(_AFTER_COMMIT, None)
        await _run_after_commit(hooks)

    @asynccontextmanager
    async def driver_transaction(self) -> AsyncIterator[AsyncConnection]:
        """`transaction()`, begun and ended on PostgreSQL's driver itself.

        For a hot path whose statements run on the driver (storage/driver.py): the connection
        is checked out in autocommit and BEGIN and COMMIT go straight to asyncpg, without
        SQLAlchemy's transaction objects and their two greenlet switches (each costs more the
        deeper the request's stack: bench/ "confirm"). A statement through SQLAlchemy on it
        runs in the same transaction (SQLAlchemy, seeing autocommit, begins none of its own);
        `after_commit` hooks run as after `transaction()`. Raising rolls back. Elsewhere
        (SQLite) this is `transaction()`.
        """
        if self._autocommit is None:
            async with self.transaction() as conn:
                yield conn
            return
        hooks: list[AfterCommit] = []
        async with self._autocommit.connect() as conn:
            conn.info[_AFTER_COMMIT] = hooks
            try:
                async with transaction_on(conn):
                    yield conn
            finally:
                conn.info.pop(_AFTER_COMMIT, None)
        await _run_after_commit(hooks)

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        if self._turns is None:
            yield
            return
        # As long as the pool would have waited for its one connection (pool_timeout).
        async with asyncio.timeout(SQLITE_TURN_TIMEOUT_SECONDS):
            await self._turns.acquire()
        try:
            yield
        finally:
            self._turns.release()

    @asynccontextmanager
    async def statement(self) -> AsyncIterator[AsyncConnection]:
        """For work that is a single SQL statement, atomic on its own.

        PostgreSQL runs it in autocommit, which saves the BEGIN and COMMIT round trips; SQLite
        keeps its locking transaction (``BEGIN IMMEDIATE``).
        """
        if self.dialect != "postgresql":
            async with self.transaction() as conn:
                yield conn
            return
        hooks: list[AfterCommit] = []
        assert self._autocommit is not None
        async with self._autocommit.connect() as conn:
            conn.info[_AFTER_COMMIT] = hooks
            try:
                yield conn
            finally:
                conn.info.pop(_AFTER_COMMIT, None)
        await _run_after_commit(hooks)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """For reads only, each statement a consistent snapshot of its own.

        PostgreSQL runs them in autocommit (no BEGIN and COMMIT round trips); SQLite without a
        transaction, so a read neither takes nor waits for the write lock (a WAL reader never
        waits for a writer) and another process can write meanwhile.
        """
        if self._autocommit is not None:
            async with self._autocommit.connect() as conn:
                yield conn
            return
        async with self.connection() as conn:
            await conn.execution_options(**{READ_ONLY: True})
            yield conn

    async def dispose(self) -> None:
        await self.engine.dispose()
