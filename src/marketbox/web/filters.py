"""List query syntax of spec/api.md §6: filters, sorting, paging.

Accepted spellings (real clients send all of them):
    status=created                      equality
    status[]=a&status[]=b               IN (documented)
    status[0]=a&status[1]=b             IN (PHP http_build_query)
    status=a&status=b                   IN (repeated key, MCP)
    amount[_ge]=10 / amount[ge]=10      _eq _ne _gt _ge _lt _le _start, "_" optional
    customer[type][eq]=legal            nested field
    _order[createdAt]=desc              sorting; `_order=createdAt:desc` is refused
    page/pageSize and _page/_pageSize   paging; the underscore form wins when both are present
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from marketbox import parsing
from marketbox.errors import FieldError, ValidationFailed
from marketbox.storage.query import DEFAULT_PAGE_SIZE, Condition, ListQuery

__all__ = ["DEFAULT_PAGE_SIZE", "Condition", "ListQuery", "parse_list_query"]

OPERATORS = {"eq", "ne", "gt", "ge", "lt", "le", "start"}
MAX_PAGE_SIZE = 100
# Far beyond any real list (10 million rows at the largest page size), and an OFFSET that
# fits every database's integer.
MAX_PAGE = 100_000

_KEY_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)((?:\[[^\[\]]*\])*)$")
_PART_RE = re.compile(r"\[([^\[\]]*)\]")


def parse_datetime(value: str) -> datetime:
    """RFC 3339 with any offset; no offset means UTC (api.md §1.4); in `parsing`'s range.

    An unencoded ``+`` of an offset arrives as a space (form encoding) and is put back.
    """
    text = value.strip().replace(" ", "+") if "T" in value else value
    return parsing.parse_datetime(text)


def parse_decimal(value: str) -> Decimal:
    """A finite decimal in ASCII within the money range (`parsing.MAX_AMOUNT`)."""
    return parsing.parse_decimal(value)


def parse_int(value: str) -> int:
    """An integer in ASCII digits that fits the INTEGER columns it is compared with."""
    return parsing.parse_int(value, minimum=-parsing.INT32_MAX, maximum=parsing.INT32_MAX)


def parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true"}:
        return True
    if lowered in {"0", "false"}:
        return False
    raise ValueError(value)


def parse_str(value: str) -> str:
    return value


Parser = Callable[[str], Any]


def parse_list_query(
    query_string: str,
    fields: Mapping[str, Parser],
    sortable: set[str],
    default_order: tuple[str, bool] = ("createdAt", True),
) -> ListQuery:
    """Parse the raw query string against the endpoint's filterable and sortable fields."""
    result = ListQuery()
    errors: list[FieldError] = []
    grouped: dict[tuple[str, str], list[str]] = {}
    listed: set[str] = set()
    paging: dict[str, str] = {}
    for raw_key, value in parse_qsl(query_string, keep_blank_values=True):
        if "\x00" in raw_key or "\x00" in value:
            errors.append(FieldError(raw_key, "wrong_value", "NUL characters are refused"))
            continue
        match = _KEY_RE.match(raw_key)
        if not match:
            errors.append(FieldError(raw_key, "wrong_value", "Unrecognised query parameter"))
            continue
        name, suffix = match.group(1), match.group(2)
        parts = _PART_RE.findall(suffix)
        if name in {"page", "pageSize", "_page", "_pageSize"}:
            if parts:
                errors.append(FieldError(raw_key, "wrong_value", "Paging takes a plain number"))
            paging[name] = value
            continue
        if name == "_order":
            if len(parts) != 1 or parts[0] not in sortable:
                errors.append(
                    FieldError(
                        raw_key,
                        "wrong_value",
                        "Sorting is _order[<field>]=asc|desc with a sortable field",
                    )
                )
                continue
            direction = value.strip().lower()
            if direction not in {"asc", "desc"}:
                errors.append(FieldError(raw_key, "wrong_value", "Direction must be asc or desc"))
                continue
            result.order.append((parts[0], direction == "desc"))
            continue
        # Split the bracket parts into a nested path and an optional trailing operator.
        path = [name]
        op = "eq"
        is_list = False
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            bare = part.lstrip("_")
            if last and part == "":
                is_list = True
            elif last and parsing.is_ascii_digits(part):
                is_list = True
            elif last and bare in OPERATORS:
                op = bare
            else:
                path.append(part)
        dotted = ".".join(path)
        if dotted not in fields:
            errors.append(FieldError(dotted, "wrong_value", "Unknown filter field"))
            continue
        # Equality in any spelling (k=a, k[]=a, k[0]=a, k[_eq]=a) joins one IN list.
        key = (dotted, "in" if is_list or op == "eq" else op)
        if is_list:
            listed.add(dotted)
        grouped.setdefault(key, []).append(value)

    for (dotted, op), raw_values in grouped.items():
        parser = fields[dotted]
        try:
            values = [parser(v) for v in raw_values]
        except (ValueError, TypeError):
            errors.append(FieldError(dotted, "wrong_value", "Filter value has the wrong type"))
            continue
        if op == "in" and len(values) == 1 and dotted not in listed:
            op = "eq"
        if op not in {"eq", "in"} and len(values) > 1:
            errors.append(FieldError(dotted, "wrong_value", "Operator given twice"))
            continue
        if op == "start" and parser is not parse_str:
            errors.append(FieldError(dotted, "wrong_value", "_start applies to strings only"))
            continue
        result.conditions.append(Condition(dotted, op, values))

    page = paging.get("_page", paging.get("page"))
    size = paging.get("_pageSize", paging.get("pageSize"))
    try:
        result.page = (
            parsing.parse_int(page, minimum=1, maximum=MAX_PAGE) if page is not None else 1
        )
    except ValueError:
        errors.append(FieldError("page", "wrong_value", f"1 <= page <= {MAX_PAGE}"))
    try:
        result.page_size = (
            parsing.parse_int(size, minimum=1, maximum=MAX_PAGE_SIZE)
            if size is not None
            else DEFAULT_PAGE_SIZE
        )
    except ValueError:
        errors.append(FieldError("pageSize", "wrong_value", f"1 <= pageSize <= {MAX_PAGE_SIZE}"))
    if errors:
        raise ValidationFailed("Invalid list query", fields=errors)
    if not result.order:
        result.order.append(default_order)
    return result
