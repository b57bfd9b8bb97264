"""Bringing a database up: migrations, then the sandbox seed (the documented demo shop)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.config import Settings
from marketbox.merchants import service as merchants_service
from marketbox.office import service as office_service
from marketbox.storage.db import Database
from marketbox.storage.locks import lock_for_transaction
from marketbox.storage.migrate import upgrade_async


async def prepare_database(settings: Settings, db: Database) -> None:
    """Migrate, then seed the demo shop and its office user in sandbox mode (never in
    production)."""
    await upgrade_async(settings.database_url)
    if settings.mode == "sandbox":
        async with db.transaction() as conn:
            await seed_sandbox(conn)


async def seed_sandbox(conn: AsyncConnection) -> bool:
    """The demo shop and its office user, unless they exist; whether this call created them.
    Every process seeds as it starts (`serve`, each `worker`), and several start at once: they
    take turns under one lock held to the end of the transaction, so the second finds the
    rows the first committed instead of inserting them again (and failing on their keys)."""
    await lock_for_transaction(conn, merchants_service.SEED_LOCK)
    created = await merchants_service.seed_demo_merchant(conn)
    return await office_service.seed_demo_user(conn) or created
