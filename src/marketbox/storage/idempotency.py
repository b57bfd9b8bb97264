"""Idempotency-Key storage: claim a key, store or drop its answer, purge old keys.

The table is shared by every API process. `claim` inserts first: the primary key (account,
key) lets exactly one of any number of racing requests insert the row, and only the request
holding the row's `claim` token may complete it (`finish`) or give it up (`release`). No
function commits: each runs in the caller's unit (`Database.statement()`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.storage.tables import idempotency_keys as keys

# How long a key is kept at least (the worker purges older ones).
KEEP = timedelta(hours=24)
# A claim still in flight this long belongs to a request that died with its process: the same
# request may then run again. No API request lives this long (pools time out after 60 s).
LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class StoredKey:
    """A key somebody else holds: in flight (`status` None) or with its stored answer."""

    fingerprint: str
    method: str
    path: str
    status: int | None
    headers: list[list[str]] | None
    body: bytes | None


async def claim(
    conn: AsyncConnection,
    *,
    account: str,
    key: str,
    fingerprint: str,
    method: str,
    path: str,
    token: str,
    now: datetime,
    lease: timedelta,
) -> StoredKey | None:
    """None when this request now holds the key; otherwise the row as another request left it.

    A claim still in flight after `lease` belongs to a request that died (a process killed
    mid-request): the same request may take it over.
    """
    values: dict[str, Any] = {
        "account": account,
        "key": key,
        "fingerprint": fingerprint,
        "method": method,
        "path": path[:1000],
        "claim": token,
        "created_at": now,
    }
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    for _ in range(3):  # the row may vanish (released, purged) between our statements
        inserted = await conn.execute(
            insert(keys)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[keys.c.account, keys.c.key])
            .returning(keys.c.key)
        )
        if inserted.first() is not None:
            return None
        taken = await conn.execute(
            update(keys)
            .where(
                keys.c.account == account,
                keys.c.key == key,
                keys.c.status.is_(None),
                keys.c.fingerprint == fingerprint,
                keys.c.created_at < now - lease,
            )
            .values(claim=token, created_at=now)
            .returning(keys.c.key)
        )
        if taken.first() is not None:
            return None
        row = (
            await conn.execute(
                select(
                    keys.c.fingerprint,
                    keys.c.method,
                    keys.c.path,
                    keys.c.status,
                    keys.c.headers,
                    keys.c.body,
                ).where(keys.c.account == account, keys.c.key == key)
            )
        ).first()
        if row is not None:
            return StoredKey(*row)
    raise RuntimeError("an idempotency key kept changing while it was claimed")


async def finish(
    conn: AsyncConnection,
    *,
    account: str,
    key: str,
    token: str,
    status: int,
    headers: list[list[str]],
    body: bytes,
) -> bool:
    """Store the answer of the request holding the key; False if it no longer holds it."""
    result = await conn.execute(
        update(keys)
        .where(
            keys.c.account == account,
            keys.c.key == key,
            keys.c.claim == token,
            keys.c.status.is_(None),
        )
        .values(status=status, headers=headers, body=body)
        .returning(keys.c.key)
    )
    return result.first() is not None


async def release(conn: AsyncConnection, *, account: str, key: str, token: str) -> None:
    """Give the key up without an answer (a 5xx): the client may retry with it."""
    await conn.execute(
        delete(keys).where(
            keys.c.account == account,
            keys.c.key == key,
            keys.c.claim == token,
            keys.c.status.is_(None),
        )
    )


async def purge(conn: AsyncConnection, *, before: datetime) -> int:
    """Forget every key claimed before `before`; returns how many."""
    result = await conn.execute(delete(keys).where(keys.c.created_at < before))
    return int(result.rowcount or 0)
