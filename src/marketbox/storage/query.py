"""The §6 list queries, neutral of HTTP: a parsed query (`ListQuery`, built by
`web.filters.parse_list_query`), its operators as SQL, and one page of a table's rows."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

DEFAULT_PAGE_SIZE = 30


@dataclass
class Condition:
    field: str  # dotted path, e.g. "customer.type"
    op: str  # eq ne gt ge lt le start in
    values: list[Any]


@dataclass
class ListQuery:
    conditions: list[Condition] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


async def fetch_page(
    conn: AsyncConnection,
    table: Table,
    where: ColumnElement[bool],
    query: ListQuery,
    sort_columns: Mapping[str, ColumnElement[Any]],
    *,
    columns: Sequence[Any] | None = None,
) -> tuple[list[Any], int]:
    """(the page of `table`'s rows matching `where`, how many match in all), sorted as asked
    and then newest id first: ids are time-ordered, a stable tie-breaker. `columns`: what to
    select instead of the table's own columns."""
    total = (await conn.execute(select(func.count()).select_from(table).where(where))).scalar_one()
    stmt: Select[Any] = (select(*columns) if columns else select(table)).where(where)
    for name, descending in query.order:
        column = sort_columns[name]
        stmt = stmt.order_by(column.desc() if descending else column.asc())
    stmt = stmt.order_by(table.c.id.desc()).limit(query.page_size).offset(query.offset)
    return list((await conn.execute(stmt)).all()), total


_COMPARISONS: dict[str, Callable[[ColumnElement[Any], Any], ColumnElement[bool]]] = {
    "eq": operator.eq,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


def mapping_of(row: Any) -> Mapping[str, Any]:
    """A result row's columns by name; a mapping (a row built in Python) passes through."""
    mapping: Mapping[str, Any] = row._mapping if hasattr(row, "_mapping") else row
    return mapping


def compare(column: ColumnElement[Any], op: str, values: Sequence[Any]) -> ColumnElement[bool]:
    """One §6 operator (eq, in, ne, gt, ge, lt, le, start) applied to a column."""
    value = values[0]
    match op:
        case "eq" | "gt" | "ge" | "lt" | "le":
            return _COMPARISONS[op](column, value)
        case "in":
            return column.in_(list(values))
        case "ne":
            return column.is_distinct_from(value)
        case "start":
            escaped = str(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return column.like(f"{escaped}%", escape="\\")
    raise ValueError(op)
