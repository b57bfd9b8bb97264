"""JSON with exact money: numbers parse to Decimal, Decimal serializes as a JSON number.

Two output styles:
* ``dumps`` for API responses: compact, UTF-8 unescaped;
* ``dumps_php`` for notification bodies: the real platform's PHP ``json_encode`` style with
  ``JSON_UNESCAPED_UNICODE`` (``/`` escaped as ``\\/``), spec/notifications.md §3.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import simplejson


class JSONDecodeError(ValueError):
    pass


def loads(data: bytes | str) -> Any:
    try:
        return json.loads(data, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise JSONDecodeError(str(exc)) from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def dumps(obj: Any) -> bytes:
    return simplejson.dumps(
        obj, use_decimal=True, ensure_ascii=False, separators=(",", ":"), for_json=False
    ).encode()


def dumps_php(obj: Any) -> bytes:
    # "/" occurs in JSON text only inside strings, so escaping it everywhere is exact.
    text = simplejson.dumps(obj, use_decimal=True, ensure_ascii=False, separators=(",", ":"))
    return text.replace("/", "\\/").encode()
