"""Named locks held until the end of the current transaction.

PostgreSQL: a transaction-level advisory lock on a 64-bit key derived from the name, so
transactions in any process that lock the same name run one after another. SQLite: nothing to
do, every transaction already holds the database write lock (BEGIN IMMEDIATE, storage/db.py).
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for `name` (the same in every process and version)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_for_transaction(conn: AsyncConnection, name: str) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(_ADVISORY_LOCK, {"key": lock_key(name)})
