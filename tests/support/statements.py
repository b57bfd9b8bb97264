"""What a piece of work sends to the database, statement by statement."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from marketbox.storage.db import Database

_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK")


@contextmanager
def statements_sent(db: Database, *, transaction_control: bool = False) -> Iterator[list[str]]:
    """The SQL of every statement sent while inside, BEGIN/COMMIT/ROLLBACK left out unless
    `transaction_control`: on PostgreSQL those SQLAlchemy executes and those sent on asyncpg
    itself (storage/driver.py), which SQLAlchemy's events never see; on SQLite every statement
    the `sqlite3` connection runs, whoever sent it (SQLAlchemy or storage/driver.py)."""
    sent: list[str] = []
    skipped = () if transaction_control else _TRANSACTION_CONTROL
    engine = db.engine.sync_engine
    drivers: list[Any] = []
    traced: list[sqlite3.Connection] = []

    def keep(statement: str) -> None:
        if not statement.lstrip().upper().startswith(skipped):
            sent.append(statement)

    def on_cursor(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if db.dialect != "sqlite":  # SQLite's are traced below, with the driver's own
            keep(statement)

    def on_query(record: Any) -> None:
        keep(record.query)

    def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.set_trace_callback(keep)
            traced.append(dbapi_connection)
            return
        driver = getattr(dbapi_connection, "driver_connection", None)
        if hasattr(driver, "add_query_logger"):  # asyncpg
            driver.add_query_logger(on_query)
            drivers.append(driver)

    event.listen(engine, "before_cursor_execute", on_cursor)
    event.listen(engine, "checkout", on_checkout)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", on_cursor)
        event.remove(engine, "checkout", on_checkout)
        for driver in drivers:
            driver.remove_query_logger(on_query)
        for connection in traced:
            connection.set_trace_callback(None)
