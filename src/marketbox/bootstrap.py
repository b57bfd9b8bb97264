"""Bringing a database up: migrations, then the sandbox seed (the documented demo shop)."""

from __future__ import annotations

from marketbox.config import Settings
from marketbox.merchants import service as merchants_service
from marketbox.office import service as office_service
from marketbox.storage.db import Database
from marketbox.storage.migrate import upgrade_async


async def prepare_database(settings: Settings, db: Database) -> None:
    """Migrate, then seed the demo shop and its office user in sandbox mode (never in
    production)."""
    await upgrade_async(settings.database_url)
    if settings.mode == "sandbox":
        async with db.transaction() as conn:
            await merchants_service.seed_demo_merchant(conn)
            await office_service.seed_demo_user(conn)
