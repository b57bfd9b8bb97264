"""Every query of the shipments domain; the merchant filter lives here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.shipments.tables import shipments
from marketbox.storage.query import Condition, ListQuery, compare, fetch_page

FILTER_COLUMNS = {
    "id": shipments.c.id,
    "orderId": shipments.c.order_id,
    "merchantId": shipments.c.merchant_id,
    "createdAt": shipments.c.created_at,
}
SORT_COLUMNS = {"createdAt": shipments.c.created_at, "id": shipments.c.id}


# Built once, bound per call (payments/repository.py: why).
_INSERT_SHIPMENT = insert(shipments).returning(*shipments.c)
_LIVE_SHIPMENTS = (
    select(shipments)
    .where(shipments.c.order_id == bindparam("oid"), shipments.c.status != "canceled")
    .order_by(shipments.c.id)
)


async def insert_shipment(conn: AsyncConnection, values: dict[str, Any]) -> Any:
    return (await conn.execute(_INSERT_SHIPMENT, values)).one()


async def live_shipments_of(conn: AsyncConnection, order_id: str) -> list[Any]:
    """The order's shipments that are not canceled, oldest first."""
    return list((await conn.execute(_LIVE_SHIPMENTS, {"oid": order_id})).all())


def _condition(cond: Condition) -> ColumnElement[bool]:
    return compare(FILTER_COLUMNS[cond.field], cond.op, cond.values)


async def list_shipments(
    conn: AsyncConnection, *, merchant_id: str, query: ListQuery
) -> tuple[list[Any], int]:
    where = and_(shipments.c.merchant_id == merchant_id, *(_condition(c) for c in query.conditions))
    return await fetch_page(conn, shipments, where, query, SORT_COLUMNS)
