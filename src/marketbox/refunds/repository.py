"""Every query of the refunds domain. Refunds are rows of `orders` (subtype `refund`), so the
order list finds them by merchantOrderId, as the MCP server expects (api.md MCP addendum)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.storage.query import Condition, ListQuery, compare, fetch_page
from marketbox.storage.tables import gateway_operations, orders

REFUND = "refund"

FILTER_COLUMNS = {
    "id": orders.c.id,
    "parentId": orders.c.parent_id,
    "status": orders.c.status,
    "merchantId": orders.c.merchant_id,
    "merchantOrderId": orders.c.merchant_order_id,
    "createdAt": orders.c.created_at,
}
SORT_COLUMNS = {
    "createdAt": orders.c.created_at,
    "id": orders.c.id,
    "amount": orders.c.amount_minor,
    "status": orders.c.status,
}


# Built once, bound per call (payments/repository.py: why).
_LIVE_REFUNDS = select(orders.c.basket_items, orders.c.amount_minor).where(
    orders.c.parent_id == bindparam("pid"),
    orders.c.subtype == REFUND,
    orders.c.status != "canceled",
)
_NUMBER_TAKEN = (
    select(orders.c.id)
    .where(
        orders.c.merchant_id == bindparam("mid"), orders.c.merchant_order_key == bindparam("key")
    )
    .limit(1)
)


async def live_refunds_of(conn: AsyncConnection, parent_id: str) -> list[Any]:
    """The parent order's refunds that give money back or will (every one but `canceled`)."""
    return list((await conn.execute(_LIVE_REFUNDS, {"pid": parent_id})).all())


async def number_taken(conn: AsyncConnection, merchant_id: str, merchant_order_id: str) -> bool:
    """Whether the merchant already used this merchantOrderId (orders and refunds share them)."""
    params = {"mid": merchant_id, "key": merchant_order_id}
    return (await conn.execute(_NUMBER_TAKEN, params)).first() is not None


async def formed_without_payout(conn: AsyncConnection, *, limit: int) -> list[tuple[str, str]]:
    """(refund id, container id) of up to `limit` `created` refunds whose payout has not
    begun (no gateway operation records it), in container order."""
    begun = select(gateway_operations.c.id).where(
        gateway_operations.c.source == "refund",
        gateway_operations.c.source_id == orders.c.id,
    )
    query = (
        select(orders.c.id, orders.c.container_id)
        .where(orders.c.subtype == REFUND, orders.c.status == "created", ~begun.exists())
        .order_by(orders.c.container_id, orders.c.id)
        .limit(limit)
    )
    return [(r[0], r[1]) for r in (await conn.execute(query)).all()]


async def complete(conn: AsyncConnection, refund_id: str, now: datetime) -> Any:
    """created -> completed, once (a conditional UPDATE); the row, or None."""
    result = await conn.execute(
        update(orders)
        .where(orders.c.id == refund_id, orders.c.subtype == REFUND, orders.c.status == "created")
        .values(status="completed", paid_at=now, updated_at=now)
        .returning(*orders.c)
    )
    return result.first()


def _condition(cond: Condition) -> ColumnElement[bool]:
    return compare(FILTER_COLUMNS[cond.field], cond.op, cond.values)


async def list_refunds(
    conn: AsyncConnection, *, merchant_id: str, query: ListQuery
) -> tuple[list[Any], int]:
    where = and_(
        orders.c.merchant_id == merchant_id,
        orders.c.subtype == REFUND,
        *(_condition(c) for c in query.conditions),
    )
    return await fetch_page(conn, orders, where, query, SORT_COLUMNS)
