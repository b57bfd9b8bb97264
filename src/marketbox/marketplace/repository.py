"""Every query of the marketplace domain. The merchant filter lives here (no caller forgets it)."""

from __future__ import annotations

import functools
import time
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    column,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    table,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter

from marketbox.marketplace import search
from marketbox.marketplace.tables import (
    SEARCH_FTS_TABLE,
    SEARCH_FTS_VOCAB,
    SEARCH_PREFIX_SQL,
    marketplace_settings,
    points_of_sale,
    special_offers,
)
from marketbox.storage.query import Condition, ListQuery, compare
from marketbox.storage.tables import merchants, orders

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
    conn: AsyncConnection, *, merchant_id: str, query: ListQuery, terms: Terms
) -> tuple[list[Any], int]:
    where = and_(
        points_of_sale.c.merchant_id == merchant_id,
        search.match_clause(points_of_sale.c.search_text, terms),
        *(_condition(c) for c in query.conditions if c.field in FILTER_COLUMNS),
    )
    return await _page(conn, where, query.order, limit=query.page_size, offset=query.offset)


# A search query: one group of alternative stems per word (marketplace/search.py).
Terms = Sequence[Sequence[str]]

# The SQLite FTS5 table and its vocabulary (marketplace/tables.py): rowid = point of sale id.
_fts = table(SEARCH_FTS_TABLE, column("rowid"))
_vocab = table(SEARCH_FTS_VOCAB, column("term"))
# A query term standing for more stored stems than this is matched as an FTS5 prefix instead.
MAX_EXPANSION = 64


@functools.cache
def _vocabulary_stmt(term_count: int, max_expansion: int) -> Any:
    """For each term i (``lo_i`` = the term, ``hi_i`` = the term + a last character): the stored
    stems it is a prefix of, at most `max_expansion` + 1, labelled i."""
    per_term = [
        select(literal(i).label("i"), _vocab.c.term)
        .where(_vocab.c.term >= bindparam(f"lo_{i}"), _vocab.c.term < bindparam(f"hi_{i}"))
        .limit(max_expansion + 1)
        .subquery()
        for i in range(term_count)
    ]
    return union_all(*(select(q.c.i, q.c.term) for q in per_term))


async def _fts_expression(conn: AsyncConnection, groups: Terms) -> str | None:
    """The FTS5 MATCH expression for `groups`, or None when some group matches no stored stem.

    Each term becomes the OR of the stored stems it is a prefix of (read from the vocabulary,
    one statement for all terms): FTS5 walks exact tokens' doclists lazily, newest first, where
    a ``"term"*`` query would first merge every matching token's whole doclist. A term with
    very many stems (one or two letters) stays a prefix query, answered by the prefix index.
    A group is the OR of its alternatives' parts.
    """
    terms = [term for group in groups for term in group]
    bounds = {}
    for i, term in enumerate(terms):
        bounds[f"lo_{i}"] = term
        bounds[f"hi_{i}"] = term + _MAX_CHAR
    found = await conn.execute(_vocabulary_stmt(len(terms), MAX_EXPANSION), bounds)
    stems: list[list[str]] = [[] for _ in terms]
    for i, stem in found:
        stems[i].append(stem)
    parts = []
    i = 0
    for group in groups:
        alternatives: list[str] = []
        for term in group:
            expansion = stems[i]
            i += 1
            if len(expansion) > MAX_EXPANSION:
                alternatives.append(search.fts5_query([term]))
            else:
                alternatives.extend(search.fts5_token(s) for s in expansion)
        if not alternatives:
            return None
        parts.append("(" + " OR ".join(dict.fromkeys(alternatives)) + ")")
    return " AND ".join(parts)


_MAX_CHAR = chr(0x10FFFF)  # sorts after every character a stem can hold (marketplace/search.py)

_ACTIVE = points_of_sale.c.active.is_(True)

# What the marketplace pages show of a point of sale (service.PublicPointOfSale).
_PUBLIC_COLUMNS = [
    points_of_sale.c[name]
    for name in (
        "id",
        "title",
        "description",
        "type",
        "logo_url",
        "image_urls",
        "links",
        "registration_address",
        "lat",
        "lon",
        "delivery_info",
        "shop_url",
        "mini_app",
        "addon_status",
    )
]


# The launch secrets the host signs a mini-app's init data with (never shown on a page).
LAUNCH_SECRET_COLUMNS = [
    points_of_sale.c[name]
    for name in (
        "launch_secret",
        "previous_launch_secret",
        "previous_launch_secret_valid_until",
    )
]


async def public_point_of_sale(conn: AsyncConnection, shop_id: int) -> Any:
    """An active point of sale's public columns, its launch secrets and its merchant's names
    and INN."""
    m = merchants
    query = (
        select(
            *_PUBLIC_COLUMNS,
            *LAUNCH_SECRET_COLUMNS,
            m.c.name.label("merchant_name"),
            m.c.legal_name.label("merchant_legal_name"),
            m.c.vat_number.label("merchant_vat_number"),
        )
        .join(m, m.c.id == points_of_sale.c.merchant_id)
        .where(points_of_sale.c.id == shop_id, _ACTIVE)
    )
    return (await conn.execute(query)).first()


# The statements below are built once (per term count) and bound per call: building and
# keying a statement of this size costs about as much as running it. Every one takes
# :limit, :offset and :count_limit (the count stops at count_limit rows: pass the limit + 1).
_PAGE: dict[str, BindParameter[Any]] = {"limit": bindparam("limit"), "offset": bindparam("offset")}


def _total(bounded: Select[Any]) -> Any:
    bounded = bounded.limit(bindparam("count_limit"))
    return select(func.count()).select_from(bounded.subquery()).scalar_subquery()


def _with_total(stmt: Select[Any], total: Any) -> tuple[Any, Any]:
    """(`stmt` with the bounded count as a last column ``total``, the count alone)."""
    return stmt.add_columns(total.label("total")), select(total)


async def search_public(
    conn: AsyncConnection,
    *,
    terms: Terms,
    limit: int,
    offset: int = 0,
    count_limit: int,
) -> tuple[list[Any], int]:
    """Active points of sale matching every term (their public columns), newest first, and
    how many match — counted only up to ``count_limit + 1`` (a page showing the first results
    never counts them all).

    Without terms: the index on (active, id) walked backwards. With terms: the search index
    (marketplace/search.py, marketplace/tables.py). Either way the work is bounded by the page
    and the count limit, not by the number of points of sale.
    """
    params: dict[str, Any] = {"limit": limit, "offset": offset, "count_limit": count_limit + 1}
    if not terms:
        return await _rows_with_total(conn, _newest_stmts(), params)
    if conn.dialect.name == "sqlite":
        return await _search_sqlite(conn, terms, params)
    return await _search_postgresql(conn, terms, params)


async def _rows_with_total(
    conn: AsyncConnection, stmts: tuple[Any, Any], params: dict[str, Any]
) -> tuple[list[Any], int]:
    """The page with the bounded count in the same statement (one round trip)."""
    page, count = stmts
    rows = list((await conn.execute(page, params)).all())
    if rows:
        return rows, int(rows[0].total)
    if params["offset"] == 0:  # nothing at all
        return rows, 0
    # Past the last page: the count alone.
    return rows, int((await conn.execute(count, params)).scalar_one())


@functools.cache
def _newest_stmts() -> tuple[Any, Any]:
    pos = points_of_sale
    page = select(*_PUBLIC_COLUMNS).where(_ACTIVE).order_by(pos.c.id.desc())
    return _with_total(
        page.limit(_PAGE["limit"]).offset(_PAGE["offset"]),
        _total(select(pos.c.id).where(_ACTIVE)),
    )


@functools.cache
def _fts_stmts() -> tuple[Any, Any]:
    # The FTS5 table holds the active points of sale only and walks its doclists by rowid:
    # both parts stop after the rows they need.
    match = literal_column(SEARCH_FTS_TABLE).op("MATCH")(bindparam("match"))
    ids = (
        select(_fts.c.rowid.label("id"))
        .where(match)
        .order_by(_fts.c.rowid.desc())
        .limit(_PAGE["limit"])
        .offset(_PAGE["offset"])
        .subquery()
    )
    pos = points_of_sale
    page = select(*_PUBLIC_COLUMNS).join(ids, pos.c.id == ids.c.id).order_by(pos.c.id.desc())
    return _with_total(page, _total(select(_fts.c.rowid).where(match)))


async def _search_sqlite(
    conn: AsyncConnection, terms: Terms, params: dict[str, Any]
) -> tuple[list[Any], int]:
    expression = await _fts_expression(conn, terms)
    if expression is None:
        return [], 0
    return await _rows_with_total(conn, _fts_stmts(), {**params, "match": expression})


# PostgreSQL looks for a common word's matches among this many newest active rows first.
RECENT_WINDOW = 3000


@functools.cache
def _recent_stmt(group_sizes: tuple[int, ...], window: int) -> Any:
    """The rule itself (``strpos(search_text, :needle_i_j) > 0``, needle = " " + term j of
    group i, OR-ed within a group) over the newest `window` active rows, walking (active, id)
    backwards."""
    pos = points_of_sale
    recent = (
        select(*_PUBLIC_COLUMNS, pos.c.search_text)
        .where(_ACTIVE)
        .order_by(pos.c.id.desc())
        .limit(window)
        .subquery()
    )
    rule = [
        or_(
            *(
                func.strpos(recent.c.search_text, bindparam(f"needle_{i}_{j}")) > 0
                for j in range(size)
            )
        )
        for i, size in enumerate(group_sizes)
    ]
    columns = [recent.c[c.name] for c in _PUBLIC_COLUMNS]
    page = select(*columns).where(*rule).order_by(recent.c.id.desc())
    page = page.limit(_PAGE["limit"]).offset(_PAGE["offset"])
    return _with_total(page, _total(select(recent.c.id).where(*rule)))[0]


@functools.cache
def _gin_stmts() -> tuple[Any, Any]:
    # The tsquery goes into the SQL text (escaped by the dialect), not as a parameter: a reused
    # generic plan would not know a common word from a rare one. The ordering expression keeps
    # the planner from walking the primary key instead of asking the index.
    pos = points_of_sale
    query = cast(bindparam("tsquery", type_=String(), literal_execute=True), TSQUERY)
    found = literal_column(SEARCH_PREFIX_SQL).op("@@")(query)
    page = select(*_PUBLIC_COLUMNS).where(_ACTIVE, found).order_by((pos.c.id + 0).desc())
    return _with_total(
        page.limit(_PAGE["limit"]).offset(_PAGE["offset"]),
        _total(select(pos.c.id).where(_ACTIVE, found)),
    )


class _RareQueries:
    """Queries the newest rows did not answer lately: the next time they go to the GIN index
    at once, without walking RECENT_WINDOW rows first (one statement instead of two). Only a
    shortcut: the index answers any query exactly, common or rare. Bounded (least recently
    used out) and forgotten after RARE_TTL seconds, so a word that became common is walked
    again."""

    def __init__(self, size: int, ttl: float) -> None:
        self._size = size
        self._ttl = ttl
        self._seen: OrderedDict[tuple[tuple[str, ...], ...], float] = OrderedDict()

    def __contains__(self, key: tuple[tuple[str, ...], ...]) -> bool:
        until = self._seen.get(key)
        if until is None:
            return False
        if until < time.monotonic():
            del self._seen[key]
            return False
        self._seen.move_to_end(key)
        return True

    def add(self, key: tuple[tuple[str, ...], ...]) -> None:
        self._seen[key] = time.monotonic() + self._ttl
        self._seen.move_to_end(key)
        while len(self._seen) > self._size:
            self._seen.popitem(last=False)


RARE_TTL = 60.0
rare_queries = _RareQueries(size=4096, ttl=RARE_TTL)


async def _search_postgresql(
    conn: AsyncConnection, terms: Terms, params: dict[str, Any]
) -> tuple[list[Any], int]:
    key = tuple(tuple(group) for group in terms)
    gin = _gin_stmts()
    gin_params = {**params, "tsquery": search.tsquery(terms)}
    if params["offset"] == 0 and key in rare_queries:
        return await _rows_with_total(conn, gin, gin_params)
    # 1. The newest RECENT_WINDOW active rows checked with the rule (a cheap strpos per row):
    #    a common word fills the page and the count here, and those are the newest of all.
    needles = {
        f"needle_{i}_{j}": f" {t}" for i, group in enumerate(terms) for j, t in enumerate(group)
    }
    recent = _recent_stmt(tuple(len(g) for g in terms), RECENT_WINDOW)
    rows = list((await conn.execute(recent, {**params, **needles})).all())
    if len(rows) == params["limit"] and rows[0].total >= params["count_limit"]:
        return rows, int(rows[0].total)
    # 2. A rarer word: the GIN index of stem prefixes.
    if len(rows) == params["limit"]:  # the page came from the recent rows: only the count
        return rows, int((await conn.execute(gin[1], gin_params)).scalar_one())
    # Fewer matches than a page among the recent rows: few in all, fetched by the index.
    if params["offset"] == 0:
        rare_queries.add(key)
    return await _rows_with_total(conn, gin, gin_params)


# The add-on strip's order: the operator's positions first (1, 2, ...), then the points of
# sale without one, oldest first; a tie keeps the older one first.
_STRIP_ORDER = (
    case((points_of_sale.c.addon_position.is_(None), 1), else_=0),
    points_of_sale.c.addon_position,
    points_of_sale.c.id,
)


async def addon_candidates(conn: AsyncConnection, *, merchant_id: str | None = None) -> list[Any]:
    """Active, approved points of sale whose mini-app offers the suborder mode, in the strip's
    order (all merchants', or one merchant's)."""
    query = (
        select(points_of_sale)
        .where(
            points_of_sale.c.active.is_(True),
            points_of_sale.c.offers_addon.is_(True),
            points_of_sale.c.addon_status == "approved",
        )
        .order_by(*_STRIP_ORDER)
    )
    if merchant_id is not None:
        query = query.where(points_of_sale.c.merchant_id == merchant_id)
    return list((await conn.execute(query)).all())


async def addon_points(conn: AsyncConnection, *, status: str | None = None) -> list[Any]:
    """Every point of sale with a suborder mini-app (any approval state), in the strip's order."""
    query = (
        select(points_of_sale)
        .where(points_of_sale.c.offers_addon.is_(True))
        .order_by(*_STRIP_ORDER)
    )
    if status is not None:
        query = query.where(points_of_sale.c.addon_status == status)
    return list((await conn.execute(query)).all())


async def main_point_allows_addons(conn: AsyncConnection, shop_id: int) -> bool:
    """The `allow_addons` default of the main order's point of sale (true when it is gone)."""
    found = (
        await conn.execute(
            select(points_of_sale.c.allow_addons).where(points_of_sale.c.id == shop_id)
        )
    ).scalar_one_or_none()
    return found is not False and found != 0


async def get_setting(conn: AsyncConnection, name: str) -> Any:
    """The operator's setting `name` (marketplace_settings), None without one."""
    return (
        await conn.execute(
            select(marketplace_settings.c.value).where(marketplace_settings.c.name == name)
        )
    ).scalar_one_or_none()


async def set_setting(conn: AsyncConnection, name: str, value: Any, now: datetime) -> None:
    changed = await conn.execute(
        update(marketplace_settings)
        .where(marketplace_settings.c.name == name)
        .values(value=value, updated_at=now)
    )
    if changed.rowcount == 0:
        await conn.execute(
            insert(marketplace_settings).values(name=name, value=value, updated_at=now)
        )


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


def _live_offers() -> Select[Any]:
    pos = points_of_sale
    return (
        select(
            special_offers,
            pos.c.title.label("shop_title"),
            pos.c.logo_url.label("shop_logo_url"),
        )
        .select_from(special_offers.outerjoin(pos, pos.c.id == special_offers.c.shop_id))
        .where(
            special_offers.c.active.is_(True),
            special_offers.c.start_at <= bindparam("now"),
            special_offers.c.finish_at > bindparam("now"),
            or_(special_offers.c.shop_id.is_(None), pos.c.active.is_(True)),
        )
        .order_by(special_offers.c.finish_at, special_offers.c.id)
    )


# Built once: the home page reads the offers strip on every request (bench/ "home").
_LIVE_OFFERS = _live_offers()
_LIVE_OFFERS_LIMITED = _LIVE_OFFERS.limit(bindparam("limit"))


async def live_special_offers(
    conn: AsyncConnection, *, now: datetime, limit: int | None = None
) -> list[Any]:
    """Active offers running at `now` (start <= now < finish), with their point of sale, if any
    (an offer tied to an inactive point of sale is left out), ending soonest first."""
    if limit is None:
        found = await conn.execute(_LIVE_OFFERS, {"now": now})
    else:
        found = await conn.execute(_LIVE_OFFERS_LIMITED, {"now": now, "limit": limit})
    return list(found.all())
