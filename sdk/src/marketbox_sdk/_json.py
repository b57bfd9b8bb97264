"""JSON encoding and decoding with exact `Decimal` numbers.

The standard `json` module can only write `Decimal` via `float` or as a string. This module
holds a tiny encoder that writes `Decimal` as a bare JSON number (exactly its digits), refuses
`float`, and writes datetimes in RFC 3339 with a `+00:00` offset, which is what the Invoicebox
API expects. Decoding uses `json.loads(..., parse_float=Decimal)`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ._money import format_decimal

__all__ = ["dumps", "format_datetime", "loads"]


def loads(data: str | bytes) -> Any:
    """Parse JSON, turning every non-integer number into a `Decimal`."""
    return json.loads(data, parse_float=Decimal)


def dumps(value: Any) -> str:
    """Serialize `value` to compact JSON (no spaces, non-ASCII kept as is).

    `Decimal` becomes a JSON number with exactly its digits; `float` raises `TypeError`;
    aware `datetime` becomes `YYYY-MM-DDTHH:MM:SS+00:00`; `date` becomes `YYYY-MM-DD`;
    enums are written as their value; SDK models are written as their `to_dict()`.
    """
    parts: list[str] = []
    _encode(value, parts)
    return "".join(parts)


def format_datetime(value: dt.datetime) -> str:
    """Format an aware datetime as RFC 3339 in UTC with seconds precision and `+00:00`."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"naive datetime {value!r}: pass an aware datetime (e.g. tzinfo=datetime.UTC)"
        )
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")


def _encode(value: Any, out: list[str]) -> None:
    # bool before int: bool is a subclass of int.
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, enum.Enum):
        _encode(value.value, out)
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, Decimal):
        out.append(format_decimal(value))
    elif isinstance(value, float):
        raise TypeError(
            f"float {value!r} cannot be sent as money; use decimal.Decimal or int instead"
        )
    elif isinstance(value, dt.datetime):
        out.append(json.dumps(format_datetime(value)))
    elif isinstance(value, dt.date):
        out.append(json.dumps(value.isoformat()))
    elif isinstance(value, Mapping):
        out.append("{")
        first = True
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be str, not {type(key).__name__}")
            if not first:
                out.append(",")
            first = False
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif dataclasses.is_dataclass(value) and hasattr(value, "to_dict"):
        _encode(value.to_dict(), out)
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
