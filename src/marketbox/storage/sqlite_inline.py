"""SQLite for the async engine without a thread hop per call (docs/architecture.md "Storage").

aiosqlite runs every call (open a cursor, execute, fetch, close, commit) on a thread of its
own and wakes the event loop when it is done: six to ten thread round trips for a request of
three statements, which cost the serving process more CPU than SQLite's own work (bench/:
create on SQLite). A statement of ours takes microseconds in SQLite, so this dialect calls
the standard `sqlite3` module directly on the event loop's thread, inside SQLAlchemy's
greenlet, as a synchronous driver would on one writer thread.

The one wait that could stall the loop is the write lock held by another process (another
API process, a dispatcher, the CLI). SQLite's busy handler would sleep holding the thread,
so it is off (``busy_timeout`` 0): a statement refused with SQLITE_BUSY is retried after an
asyncio sleep that lets every other request run, with growing pauses, until the same
deadline the busy handler had. A refused statement had no effect, so retrying it is safe.

Durability is SQLite's, unchanged: WAL with ``synchronous=NORMAL`` keeps every committed
transaction through a crash of the process (kill -9).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine.url import URL
from sqlalchemy.util.concurrency import await_, in_greenlet

DRIVER = "inline"
# The longest a statement waits for another process's write lock, as the busy handler did.
LOCK_WAIT_SECONDS = 30.0
FIRST_PAUSE = 0.001
LONGEST_PAUSE = 0.05


def _is_busy(error: sqlite3.OperationalError) -> bool:
    return getattr(error, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _pause(seconds: float) -> None:
    """Wait without holding the event loop when called from the async engine's greenlet."""
    if in_greenlet():
        await_(asyncio.sleep(seconds))
    else:
        time.sleep(seconds)


async def _done() -> None:
    """An awaitable that is ready at once: awaiting it never reaches the event loop."""


def _retrying(call: Any) -> Any:
    if in_greenlet():
        # The async engine insists that a statement awaited something (AwaitRequired); this
        # switch to the calling greenlet and straight back is all it costs.
        await_(_done())
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    pause = FIRST_PAUSE
    while True:
        try:
            return call()
        except sqlite3.OperationalError as error:
            if not _is_busy(error) or time.monotonic() + pause > deadline:
                raise
        _pause(pause)
        pause = min(pause * 2, LONGEST_PAUSE)


class Cursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        return _retrying(lambda: super(Cursor, self).execute(sql, parameters))  # type: ignore[no-any-return]

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Cursor:
        rows = list(seq_of_parameters)  # an iterator could not be replayed after a refusal
        return _retrying(lambda: super(Cursor, self).executemany(sql, rows))  # type: ignore[no-any-return]

    async def _async_soft_close(self) -> None:
        """Called by the async engine before it hands a result over; an aiosqlite cursor is
        closed there. Rows of a `sqlite3` cursor are read later, in the same thread, as the
        result asks for them, so there is nothing to do."""


class Connection(sqlite3.Connection):
    def cursor(self, factory: Any = Cursor) -> Any:
        return super().cursor(factory)

    def commit(self) -> None:
        # A COMMIT refused with SQLITE_BUSY leaves the transaction open and may be retried.
        _retrying(super().commit)


class DBAPI:
    """The `sqlite3` module, connecting with the classes above."""

    def __init__(self) -> None:
        for name in dir(sqlite3):
            if not name.startswith("_") and not hasattr(DBAPI, name):
                setattr(self, name, getattr(sqlite3, name))

    def connect(self, *args: Any, **kwargs: Any) -> Connection:
        kwargs["factory"] = Connection
        # The pool may close a connection from the garbage collector's thread; it is only
        # ever used by one task at a time (the pool hands it out).
        kwargs["check_same_thread"] = False
        kwargs["timeout"] = 0  # no busy handler: waits happen in _retrying, off the loop
        connection: Connection = sqlite3.connect(*args, **kwargs)
        return connection


class InlineSQLiteDialect(SQLiteDialect_pysqlite):
    driver = DRIVER
    is_async = True
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> Any:
        return DBAPI()

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        if cls._is_url_file_db(url):
            return pool.AsyncAdaptedQueuePool
        return pool.StaticPool


def register() -> None:
    """Make ``sqlite+inline://`` URLs known to SQLAlchemy (idempotent)."""
    registry.register(f"sqlite.{DRIVER}", __name__, "InlineSQLiteDialect")
