"""Every query of the playground: saved runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.playground.tables import playground_runs


async def insert_run(
    conn: AsyncConnection,
    *,
    run_id: str,
    created_at: datetime,
    url: str,
    mode: str,
    passed: bool,
    body: str,
) -> None:
    await conn.execute(
        insert(playground_runs).values(
            id=run_id, created_at=created_at, url=url, mode=mode, passed=passed, body=body
        )
    )


async def get_run(conn: AsyncConnection, run_id: str) -> Any:
    result = await conn.execute(select(playground_runs).where(playground_runs.c.id == run_id))
    return result.first()
