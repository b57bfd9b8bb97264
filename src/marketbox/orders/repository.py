"""Every query of the orders domain. Tenant filters live here, so no caller can forget them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import money
from marketbox.storage.query import compare
from marketbox.storage.tables import order_containers, orders
from marketbox.web.filters import Condition, ListQuery

# Filterable fields of GET /v3/filter/api/order/order -> columns.
FILTER_COLUMNS = {
    "id": orders.c.id,
    "status": orders.c.status,
    "createdAt": orders.c.created_at,
    "expirationDate": orders.c.expiration_date,
    "paidAt": orders.c.paid_at,
    "merchantOrderId": orders.c.merchant_order_id,
    "merchantOrderIdVisible": orders.c.merchant_order_id_visible,
    "merchantId": orders.c.merchant_id,
    "orderContainerId": orders.c.container_id,
    "parentId": orders.c.parent_id,
    "shopId": orders.c.shop_id,
    "amount": orders.c.amount_minor,
    "vatAmount": orders.c.vat_amount_minor,
    "currencyId": orders.c.currency,
    "subtype": orders.c.subtype,
    "languageId": orders.c.language_id,
}
MONEY_FILTERS = {"amount", "vatAmount"}


# Built once and given the row as parameters: `.values(**row)` per call would rebuild ~30 bind
# parameters and their cache key on every order (bench/: a quarter to a third of the server's
# CPU per create-order request on PostgreSQL).
_INSERT_CONTAINER = insert(order_containers)
_INSERT_ORDER = insert(orders)


# PostgreSQL creates the container and its first order in one statement (a data-modifying
# CTE), so a new order costs one round trip in autocommit instead of four.
_NEW_CONTAINER_CTE = (
    insert(order_containers)
    .values({c.name: bindparam(f"c_{c.name}", type_=c.type) for c in order_containers.c})
    .returning(order_containers.c.id)
    .cte("new_container")
)
_INSERT_ORDER_WITH_CONTAINER = (
    insert(orders)
    .values({c.name: bindparam(f"o_{c.name}", type_=c.type) for c in orders.c})
    .add_cte(_NEW_CONTAINER_CTE)
)


async def insert_order(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(_INSERT_ORDER, values)


async def insert_order_with_container(
    conn: AsyncConnection, container: dict[str, Any], order: dict[str, Any]
) -> None:
    """A new container and its first order, atomically."""
    if conn.dialect.name != "postgresql":
        await conn.execute(_INSERT_CONTAINER, container)
        await conn.execute(_INSERT_ORDER, order)
        return
    params = {f"c_{c.name}": container.get(c.name) for c in order_containers.c}
    params.update({f"o_{c.name}": order.get(c.name) for c in orders.c})
    await conn.execute(_INSERT_ORDER_WITH_CONTAINER, params)


async def lock_container(conn: AsyncConnection, container_id: str) -> Any:
    """The container row, locked against a concurrent payment until commit (PostgreSQL)."""
    query = select(order_containers).where(order_containers.c.id == container_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await conn.execute(query)).first()


async def get_order(conn: AsyncConnection, order_id: str, *, merchant_id: str | None) -> Any:
    query = select(orders).where(orders.c.id == order_id)
    if merchant_id is not None:
        query = query.where(orders.c.merchant_id == merchant_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await conn.execute(query)).first()


def _condition(cond: Condition) -> ColumnElement[bool]:
    column = FILTER_COLUMNS[cond.field]
    values = cond.values
    if cond.field in MONEY_FILTERS:
        values = [money.to_minor(money.round2(Decimal(v))) for v in values]
    return compare(column, cond.op, values)


SORT_COLUMNS = {
    "createdAt": orders.c.created_at,
    "expirationDate": orders.c.expiration_date,
    "paidAt": orders.c.paid_at,
    "amount": orders.c.amount_minor,
    "merchantOrderId": orders.c.merchant_order_id,
    "status": orders.c.status,
    "id": orders.c.id,
}


async def list_orders(
    conn: AsyncConnection, *, merchant_id: str, query: ListQuery
) -> tuple[list[Any], int]:
    where = and_(orders.c.merchant_id == merchant_id, *(_condition(c) for c in query.conditions))
    total = (await conn.execute(select(func.count()).select_from(orders).where(where))).scalar_one()
    stmt: Select[Any] = select(orders).where(where)
    for field, descending in query.order:
        column = SORT_COLUMNS[field]
        stmt = stmt.order_by(column.desc() if descending else column.asc())
    # A stable tie-breaker: ids are time-ordered.
    stmt = stmt.order_by(orders.c.id.desc()).limit(query.page_size).offset(query.offset)
    return list((await conn.execute(stmt)).all()), total


async def update_order(
    conn: AsyncConnection, order_id: str, values: dict[str, Any], *, from_statuses: Sequence[str]
) -> Any:
    """Conditional update: only while the order is still in one of `from_statuses`."""
    result = await conn.execute(
        update(orders)
        .where(orders.c.id == order_id, orders.c.status.in_(from_statuses))
        .values(**values)
        .returning(*orders.c)
    )
    return result.first()


async def expire_due(
    conn: AsyncConnection,
    now: datetime,
    *,
    merchant_id: str | None = None,
    container_id: str | None = None,
) -> list[Any]:
    """Unpaid orders past their expirationDate become `expired`, with their whole container.

    A container is payable only in whole, so the earliest deadline of its unpaid orders is the
    container's (payments.md §1): once one order expires, every unpaid order of it does.
    """
    due = select(orders.c.container_id).where(
        orders.c.status == "created",
        orders.c.expiration_date <= now,
        orders.c.processable.is_(True),
    )
    if merchant_id is not None:
        due = due.where(orders.c.merchant_id == merchant_id)
    if container_id is not None:
        due = due.where(orders.c.container_id == container_id)
    container_ids = list((await conn.execute(due.distinct())).scalars())
    if not container_ids:
        return []
    await conn.execute(
        update(order_containers)
        .where(order_containers.c.id.in_(container_ids), order_containers.c.status == "pending")
        .values(status="expired")
    )
    result = await conn.execute(
        update(orders)
        .where(
            orders.c.container_id.in_(container_ids),
            orders.c.status == "created",
            orders.c.processable.is_(True),
        )
        .values(status="expired", updated_at=now)
        .returning(*orders.c)
    )
    return list(result.all())


async def container_deadline_passed(
    conn: AsyncConnection, container_id: str, now: datetime
) -> bool:
    first = (
        await conn.execute(
            select(func.min(orders.c.expiration_date)).where(
                orders.c.container_id == container_id, orders.c.status == "created"
            )
        )
    ).scalar_one()
    return first is not None and first <= now


async def close_container_if_empty(conn: AsyncConnection, container_id: str) -> None:
    """A pending container whose every order is canceled is canceled too."""
    live = (
        await conn.execute(
            select(func.count()).where(
                orders.c.container_id == container_id, orders.c.status != "canceled"
            )
        )
    ).scalar_one()
    if live == 0:
        await conn.execute(
            update(order_containers)
            .where(order_containers.c.id == container_id, order_containers.c.status == "pending")
            .values(status="canceled")
        )
