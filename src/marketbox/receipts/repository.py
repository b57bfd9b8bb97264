"""Every query of the receipts domain; the merchant filter lives here."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.receipts.tables import receipts
from marketbox.storage.query import Condition, ListQuery, compare, fetch_page
from marketbox.storage.tables import merchants, order_containers, orders

FILTER_COLUMNS = {
    "id": receipts.c.id,
    "orderId": receipts.c.order_id,
    "orderContainerId": receipts.c.container_id,
    "sourceId": receipts.c.source_id,
    "merchantId": receipts.c.merchant_id,
    "purpose": receipts.c.purpose,
    "kind": receipts.c.kind,
    "status": receipts.c.status,
    "createdAt": receipts.c.created_at,
}
SORT_COLUMNS = {
    "createdAt": receipts.c.created_at,
    "id": receipts.c.id,
    "amount": receipts.c.amount_minor,
}


async def insert_receipts(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(receipts), rows)


# Built once: the payment path issues receipts on every confirm (bench/ "confirm").
_SUPPLIERS = select(
    merchants.c.id, merchants.c.name, merchants.c.legal_name, merchants.c.vat_number
).where(merchants.c.id.in_(bindparam("ids", expanding=True)))
_CONTAINER_PAYER = select(order_containers.c.payer).where(order_containers.c.id == bindparam("cid"))


async def suppliers(
    conn: AsyncConnection, merchant_ids: Iterable[str]
) -> dict[str, tuple[str, str]]:
    """merchant id -> (name as printed: the legal name, else the shop's name; INN)."""
    found = await conn.execute(_SUPPLIERS, {"ids": sorted(set(merchant_ids))})
    return {row.id: (row.legal_name or row.name, row.vat_number or "") for row in found.all()}


async def container_payer(conn: AsyncConnection, container_id: str) -> dict[str, Any]:
    """What the payer entered on the payment page (empty when nothing was entered)."""
    found = await conn.execute(_CONTAINER_PAYER, {"cid": container_id})
    return found.scalar_one_or_none() or {}


async def get_order(conn: AsyncConnection, order_id: str) -> Any:
    return (await conn.execute(select(orders).where(orders.c.id == order_id))).first()


_RECEIPTS_OF_ORDER = (
    select(receipts).where(receipts.c.order_id == bindparam("oid")).order_by(receipts.c.id)
)
_RECEIPTS_OF_ORDER_FOR = _RECEIPTS_OF_ORDER.where(receipts.c.purpose == bindparam("b_purpose"))


async def receipts_of_order(
    conn: AsyncConnection, order_id: str, *, purpose: str | None = None
) -> list[Any]:
    if purpose is None:
        query, params = _RECEIPTS_OF_ORDER, {"oid": order_id}
    else:
        query, params = _RECEIPTS_OF_ORDER_FOR, {"oid": order_id, "b_purpose": purpose}
    return list((await conn.execute(query, params)).all())


async def receipts_for_merchant_order(
    conn: AsyncConnection, order_id: str, *, merchant_id: str
) -> list[Any]:
    """The receipts of the order and, for a refund or a correction, those it is the source of."""
    query = (
        select(receipts)
        .where(
            receipts.c.merchant_id == merchant_id,
            or_(receipts.c.order_id == order_id, receipts.c.source_id == order_id),
        )
        .order_by(receipts.c.created_at, receipts.c.id)
    )
    return list((await conn.execute(query)).all())


async def receipts_of_container(conn: AsyncConnection, container_id: str) -> list[Any]:
    query = (
        select(receipts)
        .where(receipts.c.container_id == container_id)
        .order_by(receipts.c.created_at, receipts.c.id)
    )
    return list((await conn.execute(query)).all())


async def due_for_hand_over(conn: AsyncConnection, *, limit: int) -> list[Any]:
    query = (
        select(receipts)
        .where(receipts.c.status == "formed", receipts.c.handed_over_at.is_(None))
        .order_by(receipts.c.id)
        .limit(limit)
    )
    return list((await conn.execute(query)).all())


async def record_hand_over(
    conn: AsyncConnection,
    receipt_id: str,
    *,
    now: datetime,
    fiscal_attributes: dict[str, Any] | None,
) -> bool:
    values: dict[str, Any] = {"handed_over_at": now}
    if fiscal_attributes is not None:
        values.update(status="registered", fiscal_attributes=fiscal_attributes)
    result = await conn.execute(
        update(receipts)
        .where(receipts.c.id == receipt_id, receipts.c.handed_over_at.is_(None))
        .values(**values)
    )
    return result.rowcount == 1


def _condition(cond: Condition) -> ColumnElement[bool]:
    return compare(FILTER_COLUMNS[cond.field], cond.op, cond.values)


async def list_receipts(
    conn: AsyncConnection, *, merchant_id: str, query: ListQuery
) -> tuple[list[Any], int]:
    where = and_(receipts.c.merchant_id == merchant_id, *(_condition(c) for c in query.conditions))
    return await fetch_page(conn, receipts, where, query, SORT_COLUMNS)
