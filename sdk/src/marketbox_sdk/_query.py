"""Query strings for list endpoints: filters, sorting and paging (api.md §6).

status=["created", "completed"]       -> status[]=created&status[]=completed
created_at__ge=datetime(..., UTC)     -> createdAt[_ge]=2026-08-01T00:00:00+00:00
name__start="John"                    -> name[_start]=John
order_by=["-created_at", "amount"]    -> _order[createdAt]=desc&_order[amount]=asc
page=2, page_size=20                  -> _page=2&_pageSize=20
filters={"customer[type][eq]": "legal"}  (raw wire keys, passed through)
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from ._json import format_datetime
from ._models import camel
from ._money import format_decimal

OPERATORS = ("eq", "ne", "gt", "ge", "lt", "le", "start")

OrderBy = str | Sequence[str] | Mapping[str, str] | None


def format_value(value: Any) -> str:
    """Render one filter value as query text."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        raise TypeError(f"float {value!r} in a filter: use decimal.Decimal or int")
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | str):
        return str(value)
    raise TypeError(f"unsupported filter value type {type(value).__name__}")


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple | set | frozenset)


def _condition(key: str, value: Any) -> list[tuple[str, str]]:
    """One `field__op=value` keyword condition as query pairs."""
    field, _, op = key.partition("__")
    if op and op not in OPERATORS:
        raise ValueError(f"unknown filter operator {op!r} in {key!r}; use one of {OPERATORS}")
    name = camel(field)
    if _is_list(value):
        if op not in ("", "eq"):
            raise ValueError(f"a list of values is only allowed for equality, not {key!r}")
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [(f"{name}[]", format_value(item)) for item in items]
    if op:
        return [(f"{name}[_{op}]", format_value(value))]
    return [(name, format_value(value))]


def _order_pairs(order_by: OrderBy) -> list[tuple[str, str]]:
    if order_by is None:
        return []
    if isinstance(order_by, Mapping):
        pairs = []
        for field, direction in order_by.items():
            if direction not in ("asc", "desc"):
                raise ValueError(f"sort direction must be 'asc' or 'desc', not {direction!r}")
            pairs.append((f"_order[{camel(field)}]", direction))
        return pairs
    fields = [order_by] if isinstance(order_by, str) else list(order_by)
    pairs = []
    for field in fields:
        direction = "desc" if field.startswith("-") else "asc"
        pairs.append((f"_order[{camel(field.lstrip('+-'))}]", direction))
    return pairs


def build_query(
    *,
    conditions: Mapping[str, Any] | None = None,
    filters: Mapping[str, Any] | None = None,
    order_by: OrderBy = None,
    page: int | None = None,
    page_size: int | None = None,
) -> list[tuple[str, str]]:
    """Query pairs in a stable order: conditions, raw filters, sorting, paging.

    `conditions` are keyword conditions (`created_at__ge=...`, snake_case or camelCase field
    names); None values are skipped. `filters` are raw wire keys passed through unchanged.
    """
    pairs: list[tuple[str, str]] = []
    for key, value in (conditions or {}).items():
        if value is not None:
            pairs.extend(_condition(key, value))
    for key, value in (filters or {}).items():
        if value is None:
            continue
        if _is_list(value):
            pairs.extend((key, format_value(item)) for item in value)
        else:
            pairs.append((key, format_value(value)))
    pairs.extend(_order_pairs(order_by))
    if page is not None:
        if page < 1:
            raise ValueError("page is 1-based")
        pairs.append(("_page", str(page)))
    if page_size is not None:
        if page_size < 1:
            raise ValueError("page_size must be positive")
        pairs.append(("_pageSize", str(page_size)))
    return pairs
