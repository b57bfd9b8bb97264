"""Opening the database named by MARKETBOX_DATABASE_URL, for every command that uses one.

`open_database` checks the URL before anything connects (it parses, names a database and a
driver marketbox runs on, and an SQLite file's directory exists), then connects once within
a bounded time, then migrates (and seeds the sandbox). Each way this can fail becomes one
`CommandError` line that names the variable and says what to change. A database password
never appears in a message: URLs are rendered with it masked and `redact` removes it from
driver messages.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from marketbox.cli.errors import CommandError
from marketbox.config import Settings
from marketbox.storage.db import Database

VARIABLE = "MARKETBOX_DATABASE_URL"
EXAMPLES = (
    "sqlite+aiosqlite:///./marketbox.db or postgresql+asyncpg://user:password@host:5432/dbname"
)
# The async driver marketbox ships for each database it runs on.
DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
CONNECT_TIMEOUT_SECONDS = 10.0

# PostgreSQL error classes (SQLSTATE) that point at one part of the URL.
_UNKNOWN_DATABASE = "3D000"
_LOGIN_REFUSED = ("28000", "28P01")
# `scheme://user:` of a URL with a password, up to the last @ of the word (a password with a
# raw @ in it still ends there).
_URL_PASSWORD = re.compile(r"(://[^/:@\s]*:)\S*@")


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """The migrated database (seeded in sandbox mode), or a `CommandError` naming what to fix."""
    from marketbox.bootstrap import prepare_database

    check_database_url(settings.database_url)
    db = Database(settings.database_url)
    try:
        await _check_connection(db)
        try:
            await prepare_database(settings, db)
        except (SQLAlchemyError, OSError) as exc:
            raise CommandError(describe_failure(exc, settings.database_url)) from exc
        yield db
    finally:
        await db.dispose()


def check_database_url(raw: str) -> URL:
    """The parsed URL, if marketbox can run on it; otherwise a `CommandError` saying why not."""
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):
        # Not echoed: a URL we cannot parse is one whose password we cannot mask.
        raise CommandError(f"{VARIABLE} is not a database URL: write it as {EXAMPLES}") from None
    backend = url.get_backend_name()
    if backend not in DRIVERS:
        raise CommandError(
            f"{VARIABLE} names the database {backend!r}, which marketbox does not run on: "
            f"use {EXAMPLES}"
        )
    expected = DRIVERS[backend]
    if url.drivername != f"{backend}+{expected}":
        raise CommandError(
            f"{VARIABLE} names the driver {url.drivername!r}: write {backend}+{expected}://… "
            "instead (the async driver marketbox installs)"
        )
    if url.host and "@" in url.host:
        raise CommandError(
            f"{VARIABLE} has an @ in its password or user name: write it as %40 there"
        )
    if backend == "sqlite":
        _check_sqlite_file(url)
    return url


def _check_sqlite_file(url: URL) -> None:
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        raise CommandError(
            f"{VARIABLE} names an in-memory SQLite database, which is gone when the command "
            "ends: give a file path, e.g. sqlite+aiosqlite:///./marketbox.db"
        )
    if url.query.get("uri"):  # `file:` URIs are SQLite's own business
        return
    directory = Path(database).absolute().parent
    if not directory.is_dir():
        raise CommandError(
            f"{VARIABLE} puts the SQLite file in {directory}, which does not exist: "
            f"create that directory or change {VARIABLE}"
        )


async def _check_connection(db: Database) -> None:
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS), db.engine.connect():
            pass
    except TimeoutError:
        where = _masked(make_url(db.url))
        raise CommandError(
            f"the database {where} did not answer within {CONNECT_TIMEOUT_SECONDS:g} s: "
            f"check the host and port in {VARIABLE}"
        ) from None
    except Exception as exc:  # whatever stops the first connection is the URL's or the server's
        raise CommandError(describe_failure(exc, db.url)) from exc


def describe_failure(exc: BaseException, raw_url: str) -> str:
    """One line for a database error: which database, the driver's reason, what to change."""
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    reason = redact(lines[0] if lines else type(original).__name__, raw_url)
    try:
        where = _masked(make_url(raw_url))
    except (ArgumentError, ValueError):
        where = "in " + VARIABLE
    return f"cannot use the database {where}: {reason} ({_hint(exc, original)})"


def _hint(exc: BaseException, original: BaseException) -> str:
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate == _UNKNOWN_DATABASE:
        return f"create that database or correct its name in {VARIABLE}"
    if sqlstate in _LOGIN_REFUSED:
        return f"correct the user or password in {VARIABLE}"
    if isinstance(exc, OSError):  # refused, unreachable, unknown host: nothing answered there
        return f"start the database server or correct the host and port in {VARIABLE}"
    return f"check {VARIABLE}"


def redact(text: str, raw_url: str) -> str:
    """`text` with the database URL, and the password of any URL in it, masked (***)."""
    if raw_url:
        try:
            shown = _masked(make_url(raw_url))
        except (ArgumentError, ValueError):
            shown = VARIABLE
        text = text.replace(raw_url, shown)
    return _URL_PASSWORD.sub(r"\1***@", text)


def _masked(url: URL) -> str:
    return url.render_as_string(hide_password=True)
