"""Rotating a token or a signing key (`marketbox merchant|instrument rotate`): the old one stops
working at once in every process that shares the credentials version (storage/shared.py), and
never lingers while that version cannot be read."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from marketbox import clock
from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import (
    DEMO_MERCHANT_ID,
    DEMO_SIGNING_KEY,
    NoSuchAccount,
    TokenCache,
)
from marketbox.orders import service as orders_service
from marketbox.security import signing
from marketbox.storage.db import Database
from marketbox.storage.shared import SharedState
from marketbox.storage.tables import notifications
from tests.conftest import body, read
from tests.support import redis as redis_support
from tests.support.builders import order_payload
from tests.support.redis import RedisSpace

redis_space = redis_support.redis_space  # the fixture, for this module's tests
ORDERS = "/v3/billing/api/order/order"
UNKNOWN = "ffffffff-0000-4000-8000-000000000000"


@pytest.fixture
async def two_processes(redis_space: RedisSpace) -> AsyncIterator[tuple[SharedState, SharedState]]:
    """The shared state of two processes of one deployment (one Redis, one prefix)."""
    first = SharedState(redis_space.url, redis_space.prefix)
    second = SharedState(redis_space.url, redis_space.prefix)
    yield first, second
    await first.aclose()
    await second.aclose()


async def test_a_rotation_announced_by_one_process_is_seen_by_the_other(
    db: Database, two_processes: tuple[SharedState, SharedState]
) -> None:
    first, second = two_processes
    cache = TokenCache(second.credentials_version)
    async with db.transaction() as conn:
        shop = await merchants_service.create_merchant(conn, name="Магазин")
        assert (await cache.merchant_for_token(conn, shop.token)) is not None  # now cached

    async with db.transaction() as conn:
        rotated = await merchants_service.rotate_merchant_credentials(conn, shop.id)
    await first.credentials_changed()  # after the commit, as the CLI does

    assert await cache.cached_merchant(shop.token) == (False, None)
    async with db.transaction() as conn:
        assert await cache.merchant_for_token(conn, shop.token) is None
        merchant = await cache.merchant_for_token(conn, rotated.token)
    assert merchant is not None
    assert merchant.signing_key == rotated.signing_key


async def test_while_redis_is_unreachable_every_token_is_read_from_the_database(
    db: Database,
) -> None:
    down = SharedState("redis://127.0.0.1:1/0", "unreachable")  # nothing listens on port 1
    cache = TokenCache(down.credentials_version)
    async with db.transaction() as conn:
        bank = await merchants_service.create_instrument(conn, name="Банк")
        assert await cache.instrument_for_token(conn, bank.token) is not None
        # Rotated without any announcement: nothing was cached, so nothing lingers.
        await merchants_service.rotate_instrument_credentials(conn, bank.id, signing_key=False)
        assert await cache.instrument_for_token(conn, bank.token) is None
    await down.aclose()


async def test_without_redis_a_process_sees_its_own_rotation_at_once(db: Database) -> None:
    shared = SharedState()
    cache = TokenCache(shared.credentials_version)
    async with db.transaction() as conn:
        shop = await merchants_service.create_merchant(conn, name="Магазин")
        assert await cache.merchant_for_token(conn, shop.token) is not None
        await merchants_service.rotate_merchant_credentials(conn, shop.id, signing_key=False)
    await shared.credentials_changed()

    async with db.transaction() as conn:
        assert await cache.merchant_for_token(conn, shop.token) is None


async def test_rotating_an_unknown_account_changes_nothing(db: Database) -> None:
    async with db.transaction() as conn:
        for rotate in (
            merchants_service.rotate_merchant_credentials,
            merchants_service.rotate_instrument_credentials,
        ):
            with pytest.raises(NoSuchAccount):
                await rotate(conn, UNKNOWN)
            with pytest.raises(NoSuchAccount):
                await rotate(conn, "not-an-id")


async def test_the_next_notification_is_signed_with_the_rotated_key(
    api: httpx.AsyncClient, db: Database
) -> None:
    made = []
    for number in ("A", "B"):
        payload = order_payload(merchant_order_id=number, expires_in=timedelta(hours=1))
        made.append(read(await api.post(ORDERS, content=body(payload)))["data"])
    later = clock.now() + timedelta(hours=2)
    clock.set_now(lambda: later)
    try:
        async with db.transaction() as conn:
            await orders_service.expire_due(conn, container_id=made[0]["orderContainerId"])
        async with db.transaction() as conn:
            rotated = await merchants_service.rotate_merchant_credentials(
                conn, DEMO_MERCHANT_ID, token=False
            )
        async with db.transaction() as conn:
            await orders_service.expire_due(conn)
            rows = {
                r.order_id: r
                for r in await conn.execute(
                    select(notifications).where(notifications.c.event == "expired")
                )
            }
    finally:
        clock.set_now(None)

    first, second = rows[made[0]["id"]], rows[made[1]["id"]]
    assert rotated.token == ""  # the signing key only: the token is kept
    assert signing.verify(first.body, first.signature, DEMO_SIGNING_KEY)
    assert signing.verify(second.body, second.signature, rotated.signing_key)
    assert not signing.verify(second.body, second.signature, DEMO_SIGNING_KEY)


def test_the_cli_refuses_an_unknown_account(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "marketbox.cli.main", "merchant", "rotate", UNKNOWN],
        capture_output=True,
        text=True,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("MARKETBOX_")},
            "MARKETBOX_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'm.db'}",
        },
        timeout=120,
    )

    assert result.returncode == 1
    assert f"no merchant with id {UNKNOWN}" in result.stderr
