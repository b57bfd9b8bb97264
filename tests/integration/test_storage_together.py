"""storage/together.insert_together: several tables' rows in one statement (PostgreSQL) or one
INSERT each (SQLite), and a check answered in the same round trip."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError

from marketbox import clock, ids
from marketbox.storage import together
from marketbox.storage.db import Database
from marketbox.storage.tables import idempotency_keys as keys

# How many keys an account holds: asked in the same call as the writes.
KEYS_OF = (
    select(func.count())
    .select_from(keys)
    .where(keys.c.account == bindparam("account"))
    .scalar_subquery()
)


def key_row(account: str, **overrides: Any) -> dict[str, Any]:
    row = {
        "account": account,
        "key": ids.new_id(),
        "fingerprint": "f" * 64,
        "method": "POST",
        "path": "/v3/billing/api/order/order",
        "claim": "c" * 32,
        "status": None,
        "headers": {"x-note": "Ёлка / ель"},
        "body": None,
        "created_at": clock.now(),
    }
    row.update(overrides)
    return row


async def count_of(db: Database, account: str) -> int:
    async with db.transaction() as conn:
        return int((await conn.execute(select(KEYS_OF), {"account": account})).scalar_one())


async def test_the_check_sees_the_database_before_the_writes(db: Database) -> None:
    async with db.transaction() as conn:
        await together.insert_together(conn, [(keys, [key_row("merchant:a")])])
    async with db.transaction() as conn:
        before = await together.insert_together(
            conn,
            [(keys, [key_row("merchant:a"), key_row("merchant:a")])],
            check=KEYS_OF,
            check_params={"account": "merchant:a"},
        )

    assert before == 1  # the earlier key, not the two written by the same call
    assert await count_of(db, "merchant:a") == 3


async def test_without_a_check_nothing_is_answered(db: Database) -> None:
    async with db.transaction() as conn:
        answer = await together.insert_together(conn, [(keys, [key_row("merchant:b")])])

    assert answer is None
    assert await count_of(db, "merchant:b") == 1


async def test_a_failing_row_writes_nothing_of_the_call(db: Database) -> None:
    twice = key_row("merchant:c")
    with pytest.raises(IntegrityError):
        async with db.transaction() as conn:
            await together.insert_together(
                conn,
                [(keys, [key_row("merchant:c"), twice, dict(twice)])],
                check=KEYS_OF,
                check_params={"account": "merchant:c"},
            )

    assert await count_of(db, "merchant:c") == 0
