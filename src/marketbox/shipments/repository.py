"""Every query of the shipments domain; the merchant filter lives here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.shipments.tables import shipments
from marketbox.storage.query import compare
from marketbox.storage.tables import payments
from marketbox.web.filters import Condition, ListQuery

FILTER_COLUMNS = {
    "id": shipments.c.id,
    "orderId": shipments.c.order_id,
    "merchantId": shipments.c.merchant_id,
    "createdAt": shipments.c.created_at,
}
SORT_COLUMNS = {"createdAt": shipments.c.created_at, "id": shipments.c.id}


async def insert_shipment(conn: AsyncConnection, values: dict[str, Any]) -> Any:
    result = await conn.execute(insert(shipments).values(**values).returning(*shipments.c))
    return result.one()


async def live_shipments_of(conn: AsyncConnection, order_id: str) -> list[Any]:
    """The order's shipments that are not canceled, oldest first."""
    query = (
        select(shipments)
        .where(shipments.c.order_id == order_id, shipments.c.status != "canceled")
        .order_by(shipments.c.id)
    )
    return list((await conn.execute(query)).all())


async def payment_method(conn: AsyncConnection, payment_id: str | None) -> str | None:
    if payment_id is None:
        return None
    query = select(payments.c.method).where(payments.c.id == payment_id)
    return (await conn.execute(query)).scalar_one_or_none()


def _condition(cond: Condition) -> ColumnElement[bool]:
    return compare(FILTER_COLUMNS[cond.field], cond.op, cond.values)


async def list_shipments(
    conn: AsyncConnection, *, merchant_id: str, query: ListQuery
) -> tuple[list[Any], int]:
    where = and_(shipments.c.merchant_id == merchant_id, *(_condition(c) for c in query.conditions))
    total = (
        await conn.execute(select(func.count()).select_from(shipments).where(where))
    ).scalar_one()
    stmt = select(shipments).where(where)
    for field, descending in query.order:
        column = SORT_COLUMNS[field]
        stmt = stmt.order_by(column.desc() if descending else column.asc())
    stmt = stmt.order_by(shipments.c.id.desc()).limit(query.page_size).offset(query.offset)
    return list((await conn.execute(stmt)).all()), total
