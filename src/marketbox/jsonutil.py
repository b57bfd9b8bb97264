"""JSON with exact money: numbers parse to Decimal, Decimal serializes as a JSON number.

Two output styles:
* ``dumps`` for API responses: compact, UTF-8 unescaped;
* ``dumps_php`` for notification bodies: the real platform's PHP ``json_encode`` style with
  ``JSON_UNESCAPED_UNICODE`` (``/`` escaped as ``\\/``), spec/notifications.md §3.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from itertools import accumulate
from typing import Any

import orjson
import simplejson

# Request bodies nest far less than this (a basket line's metaData is the deepest place); the
# parser and the encoders recurse, so a document 5,000 levels deep must be refused unread.
MAX_DEPTH = 64

_STRING_RE = re.compile(rb'"(?:[^"\\]+|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class JSONDecodeError(ValueError):
    pass


def loads(data: bytes | str, *, max_depth: int | None = None) -> Any:
    """Parse JSON with exact Decimals; with `max_depth`, deeper documents are refused before
    parsing (JSONDecodeError, like any other malformed input)."""
    try:
        if (
            max_depth is not None
            and _brackets(data) > max_depth
            and nesting_depth(data) > max_depth
        ):
            raise ValueError(f"nested deeper than {max_depth} levels")
        if not isinstance(data, str):
            data = data.decode(json.detect_encoding(data), "surrogatepass")
        return _DECODER.decode(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise JSONDecodeError(str(exc)) from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# One decoder for every call: json.loads with options builds a new one each time (a payment
# parses a dozen documents: its request and the JSON columns of the rows it reads).
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)


def nesting_depth(data: bytes | str) -> int:
    """How deep the arrays and objects of a JSON text nest (brackets inside strings aside).

    Linear and iterative: strings are cut out, then only the brackets are counted.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    brackets = _STRING_RE.sub(b"", raw).translate(None, _NOT_BRACKETS)
    steps = (1 if b in b"[{" else -1 for b in brackets)
    return max(0, max(accumulate(steps), default=0))


def _brackets(data: bytes | str) -> int:
    """How many opening brackets the text holds, strings included: a bound on its depth that
    costs two C scans, so a document with few brackets (every usual request) skips the
    regular expression of `nesting_depth`."""
    if isinstance(data, str):
        return data.count("[") + data.count("{")
    return data.count(b"[") + data.count(b"{")


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON; a Decimal is written as its exact digits (``str(value)``).

    orjson writes what it can (a payment writes a dozen JSON documents: bench/ "confirm");
    whatever it refuses (an integer beyond 64 bits, a key that is not a string, a
    namedtuple, a lone surrogate) goes to simplejson, which writes it as before or raises
    as before. Both escape only what JSON requires (quotes, backslash, control characters).
    """
    try:
        return orjson.dumps(obj, default=_exact_decimal, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        return _simplejson_dumps(obj)


def _simplejson_dumps(obj: Any) -> bytes:
    text: str = simplejson.dumps(
        obj, use_decimal=True, ensure_ascii=False, separators=(",", ":"), for_json=False
    )
    return text.encode()


# What simplejson would refuse (or write another way) goes to `_exact_decimal`, which refuses
# it too, so the fallback decides: datetimes and dataclasses are not JSON here.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _exact_decimal(value: Any) -> orjson.Fragment:
    if type(value) is Decimal:
        return orjson.Fragment(str(value).encode())
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps_indented(obj: Any) -> str:
    """For people to read (the office shows a notification's body so): indented, numbers exact."""
    text: str = simplejson.dumps(obj, use_decimal=True, ensure_ascii=False, indent=2)
    return text


def dumps_php(obj: Any) -> bytes:
    # "/" occurs in JSON text only inside strings, so escaping it everywhere is exact.
    return dumps(obj).replace(b"/", b"\\/")
