"""Queries of the payments domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.storage.tables import order_containers, orders, payments


async def get_container(conn: AsyncConnection, container_id: str) -> Any:
    query = select(order_containers).where(order_containers.c.id == container_id)
    return (await conn.execute(query)).first()


async def claim_container(
    conn: AsyncConnection, container_id: str, *, payment_id: str, now: datetime
) -> bool:
    """pending -> paid, for exactly one caller: the row count says who won."""
    result = await conn.execute(
        update(order_containers)
        .where(order_containers.c.id == container_id, order_containers.c.status == "pending")
        .values(status="paid", paid_at=now, payment_id=payment_id)
    )
    return result.rowcount == 1


async def payable_total_minor(conn: AsyncConnection, container_id: str) -> int:
    total = (
        await conn.execute(
            select(func.coalesce(func.sum(orders.c.amount_minor), 0)).where(
                orders.c.container_id == container_id, orders.c.status == "created"
            )
        )
    ).scalar_one()
    return int(total)


async def mark_orders_paid(
    conn: AsyncConnection, container_id: str, *, status: str, now: datetime
) -> list[Any]:
    result = await conn.execute(
        update(orders)
        .where(orders.c.container_id == container_id, orders.c.status == "created")
        .values(status=status, paid_at=now, updated_at=now)
        .returning(*orders.c)
    )
    return list(result.all())


async def insert_payment(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(payments).values(**values))


async def find_instrument_payment(
    conn: AsyncConnection, instrument_id: str, operation_id: str
) -> Any:
    query = select(payments).where(
        payments.c.instrument_id == instrument_id, payments.c.operation_id == operation_id
    )
    return (await conn.execute(query)).first()



async def has_non_processable_order(conn: AsyncConnection, container_id: str) -> bool:
    query = select(orders.c.id).where(
        orders.c.container_id == container_id,
        orders.c.status == "created",
        orders.c.processable.is_(False),
    )
    return (await conn.execute(query.limit(1))).first() is not None
