"""Real databases for tests: SQLite always, PostgreSQL whenever it is reachable.

SQLite: one migrated template file per session, copied for each test.
PostgreSQL: one migrated template database per session; each test gets
``CREATE DATABASE … TEMPLATE`` (procrastinate's approach), dropped afterwards.

Set MARKETBOX_REQUIRE_POSTGRES=1 (CI does) to turn an unreachable PostgreSQL into a failure
instead of a skip. MARKETBOX_TEST_PG_DSN overrides the server (default: postgres@127.0.0.1:5432).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from pathlib import Path

import asyncpg

from marketbox.storage.migrate import upgrade

PG_DSN = os.environ.get("MARKETBOX_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("MARKETBOX_REQUIRE_POSTGRES") == "1"
PG_TEMPLATE = f"marketbox_tpl_{os.getpid()}"


def sqlalchemy_pg_url(database: str) -> str:
    base = PG_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


async def postgres_available() -> bool:
    try:
        conn = await asyncpg.connect(PG_DSN, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


class SQLiteTemplate:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.template = directory / "template.db"

    def build(self) -> None:
        upgrade(f"sqlite+aiosqlite:///{self.template}")

    def new_database(self) -> str:
        path = self.directory / f"test_{secrets.token_hex(4)}.db"
        shutil.copyfile(self.template, path)
        return f"sqlite+aiosqlite:///{path}"


class PostgresTemplate:
    def __init__(self) -> None:
        self.created: list[str] = []

    async def build(self) -> None:
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{PG_TEMPLATE}"')
            await conn.execute(f'CREATE DATABASE "{PG_TEMPLATE}"')
        finally:
            await conn.close()
        await asyncio.to_thread(upgrade, sqlalchemy_pg_url(PG_TEMPLATE))

    async def new_database(self) -> str:
        """A database migrated to head (a copy of the template)."""
        return await self._create(f'TEMPLATE "{PG_TEMPLATE}"')

    async def empty_database(self) -> str:
        """A database with nothing in it, not even a migration (drop it with `drop`)."""
        return await self._create("")

    async def _create(self, options: str) -> str:
        name = f"marketbox_t_{secrets.token_hex(6)}"
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(f'CREATE DATABASE "{name}" {options}')
        finally:
            await conn.close()
        self.created.append(name)
        return sqlalchemy_pg_url(name)

    async def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    async def teardown(self) -> None:
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{PG_TEMPLATE}" WITH (FORCE)')
        finally:
            await conn.close()
