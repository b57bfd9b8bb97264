"""Queries of the guarantee codes. Callers hold the order's container lock (service.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.guarantee.tables import guarantee_codes

_GET = select(guarantee_codes).where(
    guarantee_codes.c.order_id == bindparam("b_order"),
    guarantee_codes.c.payment_method_id == bindparam("b_method"),
)
_INSERT = insert(guarantee_codes)
# One try of a code, taken before the code is compared: racing tries can never use more than
# the code has, even without the container lock.
_SPEND_ATTEMPT = (
    update(guarantee_codes)
    .where(
        guarantee_codes.c.id == bindparam("b_id"),
        guarantee_codes.c.status == "active",
        guarantee_codes.c.attempts_left > 0,
    )
    .values(attempts_left=guarantee_codes.c.attempts_left - 1, updated_at=bindparam("b_now"))
    .returning(guarantee_codes.c.attempts_left)
)


async def get_code(conn: AsyncConnection, order_id: str, payment_method_id: str) -> Any:
    params = {"b_order": order_id, "b_method": payment_method_id}
    return (await conn.execute(_GET, params)).first()


async def insert_code(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(_INSERT, values)


async def update_code(conn: AsyncConnection, code_id: str, values: dict[str, Any]) -> None:
    await conn.execute(
        update(guarantee_codes).where(guarantee_codes.c.id == code_id).values(**values)
    )


async def spend_attempt(conn: AsyncConnection, code_id: str, now: datetime) -> int | None:
    """Take one try: the tries left afterwards, or None when none was left."""
    row = (await conn.execute(_SPEND_ATTEMPT, {"b_id": code_id, "b_now": now})).first()
    return None if row is None else int(row[0])
