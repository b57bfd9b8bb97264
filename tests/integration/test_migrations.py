"""The migration builds exactly the schema the tables describe (drift fails the build)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from marketbox.storage import dialect_ddl
from marketbox.storage.db import Database
from marketbox.storage.schema import metadata


async def test_migrated_database_matches_the_tables(database_url: str) -> None:
    db = Database(database_url)

    def diff(sync_conn: Any) -> list[Any]:
        # What storage/dialect_ddl.py builds (search index) is not described by the tables.
        opts = {"compare_type": True, "include_name": dialect_ddl.include_name(metadata)}
        context = MigrationContext.configure(sync_conn, opts=opts)
        return list(compare_metadata(context, metadata))

    try:
        async with db.engine.connect() as conn:
            differences = await conn.run_sync(diff)
    finally:
        await db.dispose()
    assert differences == []
