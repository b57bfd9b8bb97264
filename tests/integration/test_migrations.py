"""The migration builds exactly the schema the tables describe (drift fails the build)."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from marketbox.storage import dialect_ddl
from marketbox.storage.db import Database
from marketbox.storage.schema import metadata
from tests.support.databases import PostgresTemplate


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


async def test_the_outbox_leaves_room_on_its_pages_for_updates(
    pg_template: PostgresTemplate | None,
) -> None:
    # Storage parameters are outside autogenerate's comparison above: the notifications
    # table's fillfactor (storage/tables.py: a dispatcher's claim stays a HOT update) is
    # checked on a migrated PostgreSQL database here.
    if pg_template is None:
        pytest.skip("PostgreSQL is not reachable")
    url = await pg_template.new_database()
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            options = (
                await conn.execute(
                    text("SELECT reloptions FROM pg_class WHERE relname = 'notifications'")
                )
            ).scalar_one()
    finally:
        await db.dispose()
        await pg_template.drop(url)
    assert options == ["fillfactor=70"]
