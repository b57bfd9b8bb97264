"""The migration builds exactly the schema the tables describe (drift fails the build)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from marketbox.storage.db import Database
from marketbox.storage.schema import metadata


async def test_migrated_database_matches_the_tables(database_url: str) -> None:
    db = Database(database_url)

    def diff(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    try:
        async with db.engine.connect() as conn:
            differences = await conn.run_sync(diff)
    finally:
        await db.dispose()
    assert differences == []
