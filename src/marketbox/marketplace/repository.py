"""Every query of the marketplace domain. The merchant filter lives here (no caller forgets it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    and_,
    cast,
    column,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    table,
    update,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.marketplace import search
from marketbox.marketplace.tables import (
    SEARCH_FTS_TABLE,
    SEARCH_VECTOR_SQL,
    points_of_sale,
    special_offers,
)
from marketbox.storage.query import Condition, ListQuery, compare
from marketbox.storage.tables import orders

# Filterable fields of GET /v3/marketplace/api/shop -> columns (`q` is the text search).
FILTER_COLUMNS: dict[str, Any] = {
    "id": points_of_sale.c.id,
    "type": points_of_sale.c.type,
    "active": points_of_sale.c.active,
    "title": points_of_sale.c.title,
    "alias": points_of_sale.c.alias,
    "brandId": points_of_sale.c.brand_id,
    "createdAt": points_of_sale.c.created_at,
    "updatedAt": points_of_sale.c.updated_at,
}
SORT_COLUMNS: dict[str, Any] = {
    "id": points_of_sale.c.id,
    "title": points_of_sale.c.title,
    "createdAt": points_of_sale.c.created_at,
    "updatedAt": points_of_sale.c.updated_at,
}


async def insert_point_of_sale(conn: AsyncConnection, values: dict[str, Any]) -> int:
    result = await conn.execute(insert(points_of_sale).values(**values))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def update_point_of_sale(conn: AsyncConnection, shop_id: int, values: dict[str, Any]) -> None:
    await conn.execute(
        update(points_of_sale).where(points_of_sale.c.id == shop_id).values(**values)
    )


async def get_point_of_sale(
    conn: AsyncConnection, shop_id: int, *, merchant_id: str | None, active_only: bool = False
) -> Any:
    query = select(points_of_sale).where(points_of_sale.c.id == shop_id)
    if merchant_id is not None:
        query = query.where(points_of_sale.c.merchant_id == merchant_id)
    if active_only:
        query = query.where(points_of_sale.c.active.is_(True))
    return (await conn.execute(query)).first()


def _condition(cond: Condition) -> ColumnElement[bool]:
    return compare(FILTER_COLUMNS[cond.field], cond.op, cond.values)


async def _page(
    conn: AsyncConnection,
    where: ColumnElement[bool],
    order: Sequence[tuple[str, bool]],
    *,
    limit: int,
    offset: int,
) -> tuple[list[Any], int]:
    total = (
        await conn.execute(select(func.count()).select_from(points_of_sale).where(where))
    ).scalar_one()
    stmt: Select[Any] = select(points_of_sale).where(where)
    for field, descending in order:
        column = SORT_COLUMNS[field]
        stmt = stmt.order_by(column.desc() if descending else column.asc())
    stmt = stmt.order_by(points_of_sale.c.id.desc()).limit(limit).offset(offset)
    return list((await conn.execute(stmt)).all()), int(total)


async def list_points_of_sale(
    conn: AsyncConnection, *, merchant_id: str, query: ListQuery, terms: Sequence[str]
) -> tuple[list[Any], int]:
    where = and_(
        points_of_sale.c.merchant_id == merchant_id,
        search.match_clause(points_of_sale.c.search_text, terms),
        *(_condition(c) for c in query.conditions if c.field in FILTER_COLUMNS),
    )
    return await _page(conn, where, query.order, limit=query.page_size, offset=query.offset)


# The SQLite FTS5 table (marketplace/tables.py): its rowid is the point of sale's id.
_fts = table(SEARCH_FTS_TABLE, column("rowid"))


async def search_public(
    conn: AsyncConnection,
    *,
    terms: Sequence[str],
    limit: int,
    offset: int = 0,
    count_limit: int,
) -> tuple[list[Any], int]:
    """Active points of sale matching every term, newest first, and how many match — counted
    only up to ``count_limit + 1`` (a page showing the first results never counts them all).

    With terms, the search index (marketplace/search.py) finds the rows; without, the primary
    key walked backwards. Either way the work is bounded by the page and the count limit, not
    by the number of points of sale.
    """
    pos = points_of_sale
    source: FromClause = pos
    where: list[ColumnElement[bool]] = [pos.c.active.is_(True)]
    newest_first: Any = pos.c.id.desc()
    if terms and conn.dialect.name == "sqlite":
        # Driven by the FTS5 table, which walks its doclists by rowid, newest first.
        source = _fts.join(pos, pos.c.id == _fts.c.rowid)
        where.append(literal_column(SEARCH_FTS_TABLE).op("MATCH")(search.fts5_query(terms)))
        newest_first = _fts.c.rowid.desc()
    elif terms:
        vector = literal_column(SEARCH_VECTOR_SQL)  # exactly the GIN index's expression
        where.append(vector.op("@@")(cast(search.tsquery(terms), TSQUERY)))
    rows_stmt = (
        (select(pos).select_from(source).where(*where).order_by(newest_first))
        .limit(limit)
        .offset(offset)
    )
    rows = list((await conn.execute(rows_stmt)).all())
    bounded = select(literal(1)).select_from(source).where(*where).limit(count_limit + 1)
    total = (await conn.execute(select(func.count()).select_from(bounded.subquery()))).scalar_one()
    return rows, int(total)


async def addon_candidates(conn: AsyncConnection, *, merchant_id: str | None = None) -> list[Any]:
    """Active, approved points of sale whose mini-app offers the suborder mode, oldest first
    (all merchants', or one merchant's)."""
    query = (
        select(points_of_sale)
        .where(
            points_of_sale.c.active.is_(True),
            points_of_sale.c.offers_addon.is_(True),
            points_of_sale.c.addon_status == "approved",
        )
        .order_by(points_of_sale.c.id)
    )
    if merchant_id is not None:
        query = query.where(points_of_sale.c.merchant_id == merchant_id)
    return list((await conn.execute(query)).all())


async def addon_points(conn: AsyncConnection, *, status: str | None = None) -> list[Any]:
    """Every point of sale with a suborder mini-app (any approval state), oldest first."""
    query = (
        select(points_of_sale)
        .where(points_of_sale.c.offers_addon.is_(True))
        .order_by(points_of_sale.c.id)
    )
    if status is not None:
        query = query.where(points_of_sale.c.addon_status == status)
    return list((await conn.execute(query)).all())


# Order statuses whose metadata no longer describes the invoice.
_GONE_STATUSES = ("canceled", "expired")


async def container_orders(conn: AsyncConnection, container_id: str) -> list[Any]:
    """The live orders of a container (not canceled/expired, no refunds), oldest first."""
    query = (
        select(
            orders.c.id,
            orders.c.merchant_id,
            orders.c.shop_id,
            orders.c.meta_data,
            orders.c.basket_items,
            orders.c.joined_as,
            orders.c.order_setting,
        )
        .where(
            orders.c.container_id == container_id,
            orders.c.status.not_in(_GONE_STATUSES),
            orders.c.parent_id.is_(None),
        )
        .order_by(orders.c.created_at, orders.c.id)
    )
    return list((await conn.execute(query)).all())


# --- special offers ---------------------------------------------------------------------------


async def update_special_offer(
    conn: AsyncConnection, *, merchant_id: str, external_id: str, values: dict[str, Any]
) -> bool:
    result = await conn.execute(
        update(special_offers)
        .where(
            special_offers.c.merchant_id == merchant_id,
            special_offers.c.external_id == external_id,
        )
        .values(**values)
    )
    return result.rowcount > 0


async def insert_special_offer(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(special_offers).values(**values))


async def get_special_offer(conn: AsyncConnection, *, merchant_id: str, external_id: str) -> Any:
    query = select(special_offers).where(
        special_offers.c.merchant_id == merchant_id,
        special_offers.c.external_id == external_id,
    )
    return (await conn.execute(query)).first()


async def live_special_offers(
    conn: AsyncConnection, *, now: datetime, limit: int | None = None
) -> list[Any]:
    """Active offers running at `now` (start <= now < finish), with their point of sale, if any
    (an offer tied to an inactive point of sale is left out), ending soonest first."""
    pos = points_of_sale
    query = (
        select(
            special_offers,
            pos.c.title.label("shop_title"),
            pos.c.logo_url.label("shop_logo_url"),
        )
        .select_from(special_offers.outerjoin(pos, pos.c.id == special_offers.c.shop_id))
        .where(
            special_offers.c.active.is_(True),
            special_offers.c.start_at <= now,
            special_offers.c.finish_at > now,
            or_(special_offers.c.shop_id.is_(None), pos.c.active.is_(True)),
        )
        .order_by(special_offers.c.finish_at, special_offers.c.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return list((await conn.execute(query)).all())
