"""Alembic environment: async engines for both SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from marketbox.storage import dialect_ddl
from marketbox.storage.db import create_engine
from marketbox.storage.schema import metadata

config = context.config

# Several processes may start at once and each migrates first (every `marketbox` command
# does): on PostgreSQL they take turns under this advisory lock, held until the migration's
# transaction commits, so the second finds the schema current instead of creating it again.
# (SQLite: BEGIN IMMEDIATE serializes them already.)
MIGRATION_LOCK_KEY = 0x6D61726B6574  # "market"


def _run(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # FTS5 tables, expression indexes: written by hand-registered DDL (storage/dialect_ddl.py).
        include_name=dialect_ddl.include_name(metadata),
        process_revision_directives=dialect_ddl.add_to_migration(
            metadata, initial=not context.script.get_heads()
        ),
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
