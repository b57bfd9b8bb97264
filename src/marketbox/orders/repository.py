"""Every query of the orders domain. Tenant filters live here, so no caller can forget them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    Text,
    and_,
    bindparam,
    case,
    cast,
    exists,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import ids, money
from marketbox.storage.driver import DriverStatement
from marketbox.storage.query import Condition, ListQuery, compare, fetch_page
from marketbox.storage.tables import order_containers, orders

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


# --- Expiry as a reader sees it ---------------------------------------------------------------
# Reads never write: an order past its deadline is recorded `expired` (and its shop notified)
# by the worker's sweep (`expire_due`, notifications/worker.py) or by the next write that
# depends on the deadline. Until then every read shows it as it will be recorded: these
# expressions give the status `expire_due` would give at `now`.


def _due(table: FromClause, now: datetime) -> ColumnElement[bool]:
    """An unpaid order of `table` whose own deadline has passed (what `expire_due` picks)."""
    return and_(
        table.c.subtype == "order",
        table.c.status == "created",
        table.c.processable.is_(True),
        table.c.expiration_date <= now,
    )


def main_order_due(container_id: ColumnElement[Any], now: datetime) -> ColumnElement[bool]:
    """The container's main order has passed its deadline unpaid: the invoice is expired."""
    main = orders.alias("deadline_main")
    return exists().where(
        main.c.container_id == container_id, main.c.joined_as == "main", _due(main, now)
    )


def effective_status(now: datetime) -> ColumnElement[Any]:
    """`orders.status` as of `now`: `expired` for an unpaid order past its own deadline or in
    a container whose main order is past its deadline."""
    unpaid = and_(
        orders.c.subtype == "order",
        orders.c.status == "created",
        orders.c.processable.is_(True),
    )
    passed = or_(orders.c.expiration_date <= now, main_order_due(orders.c.container_id, now))
    return case((and_(unpaid, passed), "expired"), else_=orders.c.status)


def effective_container_status(now: datetime) -> ColumnElement[Any]:
    """`order_containers.status` as of `now` (a pending invoice whose main order is past its
    deadline is expired)."""
    return case(
        (
            and_(
                order_containers.c.status == "pending",
                main_order_due(order_containers.c.id, now),
            ),
            "expired",
        ),
        else_=order_containers.c.status,
    )


def effective_columns(now: datetime) -> list[Any]:
    """Every column of `orders`, `status` as a reader sees it at `now`."""
    return [effective_status(now).label("status") if c.name == "status" else c for c in orders.c]


def effective_container_columns(now: datetime) -> list[Any]:
    return [
        effective_container_status(now).label("status") if c.name == "status" else c
        for c in order_containers.c
    ]


async def read_order(
    conn: AsyncConnection, order_id: str, *, merchant_id: str | None, now: datetime
) -> Any:
    """One order as a reader sees it at `now` (status effective; nothing written)."""
    query = select(*effective_columns(now)).where(orders.c.id == order_id)
    if merchant_id is not None:
        query = query.where(orders.c.merchant_id == merchant_id)
    return (await conn.execute(query)).first()


# Built once and given the row as parameters: `.values(**row)` per call would rebuild ~30 bind
# parameters and their cache key on every order (bench/: a quarter to a third of the server's
# CPU per create-order request on PostgreSQL).
_INSERT_ORDER = insert(orders)


# PostgreSQL creates the container and its first order in one statement (a data-modifying
# CTE), so a new order costs one round trip in autocommit instead of four; in autocommit it
# goes straight to the driver (storage/driver.py), compiled once.
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
_ORDER_WITH_CONTAINER = DriverStatement(_INSERT_ORDER_WITH_CONTAINER)
# SQLite: the two rows in the unit's transaction, on the `sqlite3` connection itself
# (storage/driver.py), every column bound, as on PostgreSQL.
_CONTAINER_ROW = DriverStatement(
    insert(order_containers).values(
        {c.name: bindparam(c.name, type_=c.type) for c in order_containers.c}
    )
)
_ORDER_ROW = DriverStatement(
    insert(orders).values({c.name: bindparam(c.name, type_=c.type) for c in orders.c})
)


async def insert_order(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(_INSERT_ORDER, values)


_INSERT_ORDER_RETURNING = _INSERT_ORDER.returning(*orders.c)


async def insert_order_returning(conn: AsyncConnection, values: dict[str, Any]) -> Any:
    """`insert_order`, answering the new row as stored."""
    return (await conn.execute(_INSERT_ORDER_RETURNING, values)).one()


async def insert_order_with_container(
    conn: AsyncConnection, container: dict[str, Any], order: dict[str, Any]
) -> None:
    """A new container and its first order, atomically."""
    if conn.dialect.name != "postgresql":
        await _CONTAINER_ROW.execute(conn, container)
        await _ORDER_ROW.execute(conn, order)
        return
    params = {f"c_{c.name}": container.get(c.name) for c in order_containers.c}
    params.update({f"o_{c.name}": order.get(c.name) for c in orders.c})
    await _ORDER_WITH_CONTAINER.execute(conn, params)


# Built once, bound per call (payments/repository.py: why).
_CONTAINER = select(order_containers).where(order_containers.c.id == bindparam("cid"))
_ORDER = select(orders).where(orders.c.id == bindparam("oid"))
_MERCHANT_ORDER = _ORDER.where(orders.c.merchant_id == bindparam("mid"))


def _container_of(order: Select[Any]) -> Select[Any]:
    """The container of the order `order` (a SELECT of orders) finds: an order never moves to
    another container, so the container is found and locked in one statement, before the
    order is read."""
    return select(order_containers).where(
        order_containers.c.id == order.with_only_columns(orders.c.container_id).scalar_subquery()
    )


_CONTAINER_OF_ORDER = _container_of(_ORDER)
_CONTAINER_OF_MERCHANT_ORDER = _container_of(_MERCHANT_ORDER)
_LOCKED = {
    statement: statement.with_for_update()
    for statement in (_CONTAINER, _CONTAINER_OF_ORDER, _CONTAINER_OF_MERCHANT_ORDER)
}


def _locking(conn: AsyncConnection, statement: Any) -> Any:
    """`statement` with FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already
    serializes writers."""
    return _LOCKED[statement] if conn.dialect.name == "postgresql" else statement


async def lock_container(conn: AsyncConnection, container_id: str) -> Any:
    """The container row, locked until commit (PostgreSQL; SQLite's BEGIN IMMEDIATE already
    serializes writers). Every path that changes a container or its orders takes this lock
    first, before any order row (docs/security.md "Lock order"), so two of them never wait
    on each other in opposite orders."""
    return (await conn.execute(_locking(conn, _CONTAINER), {"cid": container_id})).first()


async def get_order(conn: AsyncConnection, order_id: str, *, merchant_id: str | None) -> Any:
    """One order, unlocked: writers lock its container first (`lock_container`), then re-read."""
    if merchant_id is None:
        return (await conn.execute(_ORDER, {"oid": order_id})).first()
    return (await conn.execute(_MERCHANT_ORDER, {"oid": order_id, "mid": merchant_id})).first()


async def lock_order(
    conn: AsyncConnection, order_id: str, *, merchant_id: str | None
) -> tuple[Any, Any] | None:
    """For a change to an order: its container locked first, then the order read under that
    lock (docs/security.md "Lock order"). (order, container), or None when there is no such
    order (of that merchant); `order_id` may be any form of a UUID."""
    if not ids.is_uuid(order_id):
        return None
    params = {"oid": ids.normalize_uuid(order_id)}
    if merchant_id is None:
        find = _CONTAINER_OF_ORDER
    else:
        find, params["mid"] = _CONTAINER_OF_MERCHANT_ORDER, merchant_id
    container = (await conn.execute(_locking(conn, find), params)).first()
    if container is None:
        return None
    order = await get_order(conn, params["oid"], merchant_id=merchant_id)
    return (order, container) if order is not None else None


async def mark_processing_status(
    conn: AsyncConnection, order_ids: Sequence[str], status: str, now: datetime
) -> None:
    await conn.execute(
        update(orders)
        .where(orders.c.id.in_(list(order_ids)))
        .values(processing_status=status, updated_at=now)
    )


async def live_children(conn: AsyncConnection, order_id: str) -> list[Any]:
    """The order's refunds that are not canceled (suborders name a parent too: not these)."""
    query = select(orders.c.id).where(
        orders.c.parent_id == order_id,
        orders.c.subtype.in_(("refund", "correction")),
        orders.c.status != "canceled",
    )
    return list((await conn.execute(query)).all())


async def main_order(conn: AsyncConnection, container_id: str) -> Any:
    """The order that opened the container."""
    query = select(orders).where(
        orders.c.container_id == container_id, orders.c.joined_as == "main"
    )
    return (await conn.execute(query)).first()


_ORDERS_OF_CONTAINER = (
    select(orders)
    .where(orders.c.container_id == bindparam("cid"))
    .order_by(orders.c.created_at, orders.c.id)
)


async def orders_of_container(conn: AsyncConnection, container_id: str) -> list[Any]:
    """Every row of the container (orders, refunds, corrections), oldest first."""
    return list((await conn.execute(_ORDERS_OF_CONTAINER, {"cid": container_id})).all())


async def insiders(conn: AsyncConnection, container_id: str) -> set[str]:
    """Merchants whose own orders make up the container (its main order's merchant and
    merchants it let in through their own suborders); add-ons are not insiders."""
    query = select(orders.c.merchant_id).where(
        orders.c.container_id == container_id, orders.c.joined_as.in_(("main", "own"))
    )
    return set((await conn.execute(query.distinct())).scalars())


def _condition(cond: Condition, now: datetime) -> ColumnElement[bool]:
    column = effective_status(now) if cond.field == "status" else FILTER_COLUMNS[cond.field]
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


def _search(text: str) -> ColumnElement[bool]:
    """The office's search box: an order id, a merchantOrderId, or a piece of the payer's
    e-mail, phone or name (in the order's customer or the payer form of its invoice). A scan
    of the merchant's orders: fine for a person typing, not meant for the API."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    payer = (
        select(order_containers.c.id)
        .where(
            order_containers.c.id == orders.c.container_id,
            cast(order_containers.c.payer, Text).ilike(pattern, escape="\\"),
        )
        .correlate(orders)
    )
    return or_(
        orders.c.id == text.lower(),
        orders.c.merchant_order_id == text,
        cast(orders.c.customer, Text).ilike(pattern, escape="\\"),
        exists(payer),
    )


async def list_orders(
    conn: AsyncConnection,
    *,
    merchant_id: str,
    query: ListQuery,
    now: datetime,
    search: str | None = None,
) -> tuple[list[Any], int]:
    """A page of the merchant's orders as a reader sees them at `now` (status effective, in
    the rows, the filters and the order alike); `search`: the office's search box."""
    where = and_(
        orders.c.merchant_id == merchant_id, *(_condition(c, now) for c in query.conditions)
    )
    if search:
        where = and_(where, _search(search))
    sort = {**SORT_COLUMNS, "status": effective_status(now)}
    return await fetch_page(conn, orders, where, query, sort, columns=effective_columns(now))


_UPDATE_ORDER = (
    update(orders)
    .where(orders.c.id == bindparam("oid"), orders.c.status.in_(bindparam("from", expanding=True)))
    .returning(*orders.c)
)


async def update_order(
    conn: AsyncConnection, order_id: str, values: dict[str, Any], *, from_statuses: Sequence[str]
) -> Any:
    """Conditional update: only while the order is still in one of `from_statuses`."""
    params = {"oid": order_id, "from": list(from_statuses), **values}
    return (await conn.execute(_UPDATE_ORDER, params)).first()


async def expire_due(
    conn: AsyncConnection,
    now: datetime,
    *,
    merchant_id: str | None = None,
    container_id: str | None = None,
) -> list[Any]:
    """Unpaid orders past their expirationDate become `expired`; returns the expired rows.

    The main order's deadline is the invoice's: when it passes, the container and every
    unpaid order in it expire. Any other order's deadline is its own: it expires alone and
    the rest of the invoice stays payable (an add-on cannot shorten the owner's deadline).
    Containers are locked first, in id order (docs/security.md "Lock order").
    """
    due = select(orders.c.id, orders.c.container_id, orders.c.joined_as).where(
        orders.c.subtype == "order",  # refunds have no deadline of their own
        orders.c.status == "created",
        orders.c.expiration_date <= now,
        orders.c.processable.is_(True),
    )
    if merchant_id is not None:
        due = due.where(orders.c.merchant_id == merchant_id)
    if container_id is not None:
        due = due.where(orders.c.container_id == container_id)
    rows = (await conn.execute(due)).all()
    if not rows:
        return []
    await lock_containers(conn, {r.container_id for r in rows})
    closing = sorted({r.container_id for r in rows if r.joined_as == "main"})
    alone = [r.id for r in rows if r.joined_as != "main"]
    if closing:
        await conn.execute(
            update(order_containers)
            .where(order_containers.c.id.in_(closing), order_containers.c.status == "pending")
            .values(status="expired")
        )
    result = await conn.execute(
        update(orders)
        .where(
            orders.c.subtype == "order",
            orders.c.status == "created",
            orders.c.processable.is_(True),
            or_(
                orders.c.container_id.in_(closing),
                and_(orders.c.id.in_(alone), orders.c.expiration_date <= now),
            ),
        )
        .values(status="expired", updated_at=now)
        .returning(*orders.c)
    )
    return list(result.all())


async def lock_containers(conn: AsyncConnection, container_ids: Iterable[str]) -> None:
    """Lock several containers in one statement, in id order (PostgreSQL)."""
    if conn.dialect.name != "postgresql":
        return
    await conn.execute(
        select(order_containers.c.id)
        .where(order_containers.c.id.in_(sorted(container_ids)))
        .order_by(order_containers.c.id)
        .with_for_update()
    )


async def cancel_created_orders(
    conn: AsyncConnection, container_id: str, now: datetime
) -> list[Any]:
    """The invoice is withdrawn: the container and every unpaid order in it are canceled."""
    await conn.execute(
        update(order_containers)
        .where(order_containers.c.id == container_id, order_containers.c.status == "pending")
        .values(status="canceled")
    )
    result = await conn.execute(
        update(orders)
        .where(orders.c.container_id == container_id, orders.c.status == "created")
        .values(status="canceled", updated_at=now)
        .returning(*orders.c)
    )
    return list(result.all())
