"""The sandbox seed when several processes start at once (`serve` and each `worker` seed as
they start): they take turns, and the demo shop and its office user are created once, with
no process failing on their keys."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from marketbox.bootstrap import seed_sandbox
from marketbox.config import Settings
from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.office.service import DEMO_EMAIL
from marketbox.office.tables import office_users
from marketbox.storage.db import Database
from marketbox.storage.tables import merchants


async def test_two_processes_seeding_at_once_create_the_demo_shop_once(settings: Settings) -> None:
    first, second = Database(settings.database_url), Database(settings.database_url)
    try:
        async with first.transaction() as conn:
            assert await seed_sandbox(conn)
            # The other process starts while this one's rows are not committed yet: it must
            # wait for them rather than find nothing and insert its own.
            other = asyncio.create_task(_seed(second))
            await asyncio.sleep(0.5)
            assert not other.done()
        assert await asyncio.wait_for(other, 30) is False
        async with first.read() as conn:
            shops = await conn.scalar(
                select(func.count())
                .select_from(merchants)
                .where(merchants.c.id == DEMO_MERCHANT_ID)
            )
            users = await conn.scalar(
                select(func.count())
                .select_from(office_users)
                .where(office_users.c.email == DEMO_EMAIL)
            )
        assert (shops, users) == (1, 1)
    finally:
        await first.dispose()
        await second.dispose()


async def _seed(database: Database) -> bool:
    async with database.transaction() as conn:
        return await seed_sandbox(conn)
