"""Who is connected to the gate, in the database, so that any process (and `marketbox gate
status`) sees the clients of every API process. A row lives as long as its connection; a
process that dies leaves rows that stop being refreshed and are treated as gone."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock
from marketbox.storage.tables import gate_connections

REFRESH_SECONDS = 30
# Not refreshed for this long: its process is gone.
STALE_AFTER = timedelta(seconds=3 * REFRESH_SECONDS)


async def add(
    conn: AsyncConnection, *, connection_id: str, merchant_id: str, process: str, remote: str
) -> None:
    now = clock.now()
    await conn.execute(
        insert(gate_connections).values(
            id=connection_id,
            merchant_id=merchant_id,
            process=process,
            remote=remote[:100],
            connected_at=now,
            seen_at=now,
        )
    )


async def remove(conn: AsyncConnection, connection_id: str) -> None:
    await conn.execute(delete(gate_connections).where(gate_connections.c.id == connection_id))


async def refresh(conn: AsyncConnection, connection_ids: list[str]) -> None:
    if connection_ids:
        await conn.execute(
            update(gate_connections)
            .where(gate_connections.c.id.in_(connection_ids))
            .values(seen_at=clock.now())
        )


async def record_status(conn: AsyncConnection, connection_id: str, status: Any) -> None:
    await conn.execute(
        update(gate_connections)
        .where(gate_connections.c.id == connection_id)
        .values(client_status=json.dumps(status, ensure_ascii=False, default=str)[:4000])
    )


async def live(conn: AsyncConnection, now: datetime | None = None) -> list[dict[str, Any]]:
    """The connections refreshed recently, oldest first."""
    since = (now or clock.now()) - STALE_AFTER
    rows = await conn.execute(
        select(gate_connections)
        .where(gate_connections.c.seen_at >= since)
        .order_by(gate_connections.c.connected_at)
    )
    found = []
    for row in rows.mappings():
        item = dict(row)
        item["client_status"] = json.loads(row["client_status"]) if row["client_status"] else None
        found.append(item)
    return found
