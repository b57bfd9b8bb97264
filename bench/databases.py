"""Throw-away databases for one run: PostgreSQL databases created and dropped, SQLite files."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from marketbox.merchants import service as merchants_service
from marketbox.storage.db import Database
from marketbox.storage.migrate import upgrade

ADMIN_DSN = os.environ.get(
    "MARKETBOX_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def pg_available() -> bool:
    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(ADMIN_DSN, timeout=3)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        await conn.close()
        return True

    return asyncio.run(probe())


def _admin(sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def _dsn_for(name: str) -> str:
    return f"{ADMIN_DSN.rsplit('/', 1)[0]}/{name}"


class BenchDatabase:
    def __init__(self, url: str, dsn: str | None = None) -> None:
        self.url = url  # SQLAlchemy URL, as MARKETBOX_DATABASE_URL takes it
        self.dsn = dsn  # plain PostgreSQL DSN (asyncpg), None for SQLite

    @property
    def kind(self) -> str:
        return "postgres" if self.dsn else "sqlite"


@contextlib.contextmanager
def postgres(tag: str) -> Iterator[BenchDatabase]:
    """A fresh PostgreSQL database `marketbox_bench_<tag>_…`, dropped on exit."""
    name = f"marketbox_bench_{tag}_{os.getpid()}_{secrets.token_hex(3)}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        dsn = _dsn_for(name)
        yield BenchDatabase(dsn.replace("postgresql://", "postgresql+asyncpg://", 1), dsn)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def sqlite() -> Iterator[BenchDatabase]:
    """A fresh SQLite file in a temporary directory, removed on exit (with its WAL)."""
    with tempfile.TemporaryDirectory(prefix="marketbox_bench_") as directory:
        yield BenchDatabase(f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}")


def analyze(db: BenchDatabase) -> None:
    """Planner statistics for what a phase seeded, untimed: what autovacuum does within a
    minute of a bulk load in a running database. Without them PostgreSQL plans a statement
    on a just-filled table blind (the payment's claim then walked every pending order
    through the wrong index: 4.7 ms instead of 0.2 ms per confirmation)."""
    if db.dsn is None:
        return

    async def run() -> None:
        conn = await asyncpg.connect(db.dsn)
        try:
            await conn.execute("ANALYZE")
        finally:
            await conn.close()

    asyncio.run(run())


def prepare_marketbox(db: BenchDatabase) -> None:
    """Migrate and seed the demo shop, as a sandbox server would on start."""
    upgrade(db.url)

    async def seed() -> None:
        database = Database(db.url)
        try:
            async with database.transaction() as conn:
                await merchants_service.seed_demo_merchant(conn)
        finally:
            await database.dispose()

    asyncio.run(seed())
