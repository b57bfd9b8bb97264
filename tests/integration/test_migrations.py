"""The migration builds exactly the schema the tables describe (drift fails the build)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from marketbox.storage import dialect_ddl
from marketbox.storage.db import Database
from marketbox.storage.migrate import alembic_config, upgrade_async
from marketbox.storage.schema import metadata
from marketbox.storage.tables import ORDERS_ARE, ORDERS_VERSION
from tests.support.databases import PostgresTemplate


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


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


async def test_a_database_migrated_before_the_payment_guard_gets_it(
    pg_template: PostgresTemplate | None,
) -> None:
    # A PostgreSQL database built by revision 0001 (before 2026-12-08, without the outbox's
    # fillfactor either) is brought to head by `marketbox migrate`, as every command does on
    # start: a bank confirmation then finds the functions its guard calls (storage/tables.py
    # ORDERS_VERSION, ORDERS_ARE). Down again, they go.
    if pg_template is None:
        pytest.skip("PostgreSQL is not reachable")
    url = await pg_template.empty_database()

    async def state() -> tuple[set[str], Any]:
        db = Database(url)
        try:
            async with db.engine.connect() as c:
                functions = set(
                    (
                        await c.execute(
                            text("SELECT proname FROM pg_proc WHERE proname IN (:a, :b)"),
                            {"a": ORDERS_VERSION, "b": ORDERS_ARE},
                        )
                    ).scalars()
                )
                options = (
                    await c.execute(
                        text("SELECT reloptions FROM pg_class WHERE relname = 'notifications'")
                    )
                ).scalar_one()
        finally:
            await db.dispose()
        return functions, options

    try:
        await upgrade_async(url, "0001")
        db = Database(url)
        try:
            async with db.engine.begin() as c:
                await c.execute(text("ALTER TABLE notifications RESET (fillfactor)"))
        finally:
            await db.dispose()
        assert await state() == (set(), None)

        await upgrade_async(url)
        assert await state() == ({ORDERS_VERSION, ORDERS_ARE}, ["fillfactor=70"])

        await asyncio.to_thread(downgrade, url, "0001")
        assert (await state())[0] == set()
    finally:
        await pg_template.drop(url)
