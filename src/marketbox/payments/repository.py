"""Queries of the payments domain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.storage.tables import order_containers, orders, payments


async def get_container(conn: AsyncConnection, container_id: str) -> Any:
    query = select(order_containers).where(order_containers.c.id == container_id)
    return (await conn.execute(query)).first()


async def claim_container(
    conn: AsyncConnection, container_id: str, *, payment_id: str, now: datetime
) -> str | None:
    """pending -> paid, for exactly one caller; the winner gets the container's currency."""
    result = await conn.execute(
        update(order_containers)
        .where(order_containers.c.id == container_id, order_containers.c.status == "pending")
        .values(status="paid", paid_at=now, payment_id=payment_id)
        .returning(order_containers.c.currency)
    )
    return result.scalar_one_or_none()


@dataclass(frozen=True)
class Payable:
    """What the unpaid orders of a container add up to, in one query."""

    total_minor: int
    earliest_deadline: datetime | None
    non_processable: int


async def payable(conn: AsyncConnection, container_id: str) -> Payable:
    row = (
        await conn.execute(
            select(
                func.coalesce(func.sum(orders.c.amount_minor), 0),
                func.min(orders.c.expiration_date),
                func.coalesce(func.sum(case((orders.c.processable.is_(False), 1), else_=0)), 0),
            ).where(orders.c.container_id == container_id, orders.c.status == "created")
        )
    ).one()
    return Payable(int(row[0]), row[1], int(row[2]))


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
