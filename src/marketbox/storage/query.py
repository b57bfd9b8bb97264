"""The §6 list operators as SQL: one comparison per filter condition, for every list endpoint."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement


def compare(column: ColumnElement[Any], op: str, values: Sequence[Any]) -> ColumnElement[bool]:
    """One §6 operator (eq, in, ne, gt, ge, lt, le, start) applied to a column."""
    value = values[0]
    match op:
        case "eq":
            return column == value
        case "in":
            return column.in_(list(values))
        case "ne":
            return column.is_distinct_from(value)
        case "gt":
            return column > value
        case "ge":
            return column >= value
        case "lt":
            return column < value
        case "le":
            return column <= value
        case "start":
            escaped = str(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return column.like(f"{escaped}%", escape="\\")
    raise ValueError(op)
