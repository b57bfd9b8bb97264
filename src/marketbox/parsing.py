"""Strict parsing of untrusted input: one parser per kind, used at every edge.

Python's own parsers are too kind for input from outside: ``"²".isdigit()`` is true (and
``int("²")`` then fails), ``int("١٢")`` is 12, ``Decimal("1e400")`` is a finite number no
column can hold, and ``datetime.fromisoformat("0001-01-01T00:00:00+03:00")`` cannot be moved
to UTC. The parsers here accept ASCII digits only, keep every value inside what both
databases and the display code can hold, and fail with `ParseError` (a ValueError) and
nothing else, so a caller turns one exception into its 4xx.

The ranges (docs/api.md "Accepted values"):

* integers: ids and counters fit the column they reach, `INT32_MAX` or `INT64_MAX`;
* money: finite, at most `MAX_AMOUNT` in absolute value (12 whole digits), so sums of many
  orders in integer minor units stay far inside a BIGINT;
* date-times: RFC 3339 / ISO 8601 in ASCII, with or without an offset (none means UTC),
  between `DATETIME_MIN` and `DATETIME_MAX` once moved to UTC: a day away from the ends of
  Python's calendar, so the value can be shown in any time zone; a PHP DateTime as
  `json_encode` writes it (`parse_php_datetime`) within the same range;
* text: no NUL character (PostgreSQL refuses it in text columns) and no lone surrogate
  (not UTF-8), found anywhere in a JSON document by `unstorable_text`.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
MAX_AMOUNT = Decimal("999999999999.99")
DATETIME_MIN = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
DATETIME_MAX = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)

_INTEGER_RE = re.compile(r"[+-]?[0-9]{1,19}")
_DIGITS_RE = re.compile(r"[0-9]+")
# Plain or scientific notation, ASCII only; the exponent is short so that parsing stays cheap.
_DECIMAL_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")
_MAX_DECIMAL_TEXT = 100


class ParseError(ValueError):
    """A value from outside that is malformed or out of range; the message says which."""


def is_ascii_digits(text: str) -> bool:
    """True for a non-empty run of 0-9 only (``str.isdigit`` also takes ``²``, ``٣``, ``１``)."""
    return _DIGITS_RE.fullmatch(text) is not None


def parse_int(text: str, *, minimum: int = -INT64_MAX, maximum: int = INT64_MAX) -> int:
    """A base-10 integer in ASCII digits (optional sign, surrounding blanks ignored)."""
    if not isinstance(text, str):
        raise ParseError("an integer is required")
    stripped = text.strip()
    if _INTEGER_RE.fullmatch(stripped) is None:
        raise ParseError("an integer in ASCII digits is required")
    return check_int(int(stripped), minimum=minimum, maximum=maximum)


def check_int(value: int, *, minimum: int = -INT64_MAX, maximum: int = INT64_MAX) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParseError("an integer is required")
    if not minimum <= value <= maximum:
        raise ParseError(f"must be between {minimum} and {maximum}")
    return value


def parse_decimal(
    text: str, *, minimum: Decimal = -MAX_AMOUNT, maximum: Decimal = MAX_AMOUNT
) -> Decimal:
    """A finite decimal in ASCII (``12``, ``-0.5``, ``1e3``), within [minimum, maximum]."""
    if not isinstance(text, str):
        raise ParseError("a number is required")
    stripped = text.strip()
    if len(stripped) > _MAX_DECIMAL_TEXT or _DECIMAL_RE.fullmatch(stripped) is None:
        raise ParseError("a decimal number in ASCII digits is required")
    try:
        value = Decimal(stripped)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits valid text only
        raise ParseError("a decimal number is required") from exc
    return check_decimal(value, minimum=minimum, maximum=maximum)


def check_decimal(
    value: Decimal, *, minimum: Decimal = -MAX_AMOUNT, maximum: Decimal = MAX_AMOUNT
) -> Decimal:
    """A Decimal already parsed (a JSON number): finite and within [minimum, maximum]."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ParseError("a finite number is required")
    # Comparisons are exact whatever the exponent, so 1E+400 is caught here, before any
    # arithmetic (quantize, scaleb) could overflow the context's precision.
    if not minimum <= value <= maximum:
        raise ParseError(f"must be between {minimum} and {maximum}")
    return value


def decimal_input(value: object, *, maximum: Decimal = MAX_AMOUNT) -> Decimal:
    """A number from a JSON body: Decimal, int or numeric string; never float or bool."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ParseError("a number is required (parsed as an exact decimal)")
    if isinstance(value, Decimal):
        return check_decimal(value, minimum=-maximum, maximum=maximum)
    if isinstance(value, int):
        if not -maximum <= value <= maximum:
            raise ParseError(f"must be between {-maximum} and {maximum}")
        return Decimal(value)
    if isinstance(value, str):
        return parse_decimal(value, minimum=-maximum, maximum=maximum)
    raise ParseError("a number is required")


def decimal_json_schema(minimum: Decimal, maximum: Decimal) -> dict[str, Any]:
    """The JSON Schema of a decimal field: a JSON number within the bounds (numeric strings
    are read too, for lenient clients, but are not the contract). The bounds are floats
    because a schema is JSON, never money."""
    return {"type": "number", "minimum": float(minimum), "maximum": float(maximum)}


def int_input(value: object, *, minimum: int, maximum: int) -> int:
    """An integer from a JSON body: an int, an integral Decimal or a string of ASCII digits."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ParseError("an integer is required")
    if isinstance(value, int):
        return check_int(value, minimum=minimum, maximum=maximum)
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise ParseError("an integer is required")
        if not minimum <= value <= maximum:
            raise ParseError(f"must be between {minimum} and {maximum}")
        return int(value)
    if isinstance(value, str):
        return parse_int(value, minimum=minimum, maximum=maximum)
    raise ParseError("an integer is required")


def parse_datetime(text: str) -> datetime:
    """RFC 3339 / ISO 8601 with any offset (``Z`` too); no offset means UTC (api.md §1.4).

    The answer is timezone-aware UTC within [DATETIME_MIN, DATETIME_MAX].
    """
    if not isinstance(text, str):
        raise ParseError("a date-time string is required")
    stripped = text.strip()
    # fromisoformat stops reading at a NUL, so control characters are refused first.
    if not (stripped.isascii() and stripped.isprintable()) or len(stripped) > 64:
        raise ParseError("an RFC 3339 date-time in ASCII is required")
    if stripped.endswith(("Z", "z")):
        stripped = stripped[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(stripped)
    except ValueError as exc:
        raise ParseError("an RFC 3339 date-time is required, e.g. 2024-07-26T00:00:00Z") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return check_datetime(parsed)


def check_datetime(value: datetime) -> datetime:
    """A timezone-aware date-time moved to UTC, refused outside [DATETIME_MIN, DATETIME_MAX]."""
    try:
        moved = value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:  # year 1 minus an offset, year 9999 plus one
        raise ParseError("date-time out of range") from exc
    if not DATETIME_MIN <= moved <= DATETIME_MAX:
        raise ParseError(
            f"date-time out of range ({DATETIME_MIN:%Y-%m-%d} to {DATETIME_MAX:%Y-%m-%d} UTC)"
        )
    return moved


# A PHP DateTime through json_encode: {"date": "Y-m-d H:i:s.u", "timezone_type": 1|2|3,
# "timezone": offset | abbreviation | identifier}; `date` is the wall time in that zone.
_PHP_DATE_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?"
)
_PHP_OFFSET_RE = re.compile(r"([+-])([0-9]{2}):?([0-9]{2})")
_ZONE_ID_RE = re.compile(r"[A-Za-z][A-Za-z0-9_+-]{0,30}(?:/[A-Za-z0-9_+-]{1,30}){0,3}")
# timezone_type 2: common abbreviations as minutes east of UTC, daylight-saving variants
# included, with the offsets PHP gives them. Ambiguous ones (IST: India, Ireland or Israel)
# are left out: an unknown abbreviation is refused, never guessed.
PHP_ZONE_ABBREVIATIONS: dict[str, int] = {
    "UTC": 0, "UT": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 60, "BST": 60,
    "CET": 60, "CEST": 120, "MET": 60, "MEST": 120, "EET": 120, "EEST": 180,
    "MSK": 180, "MSD": 240, "SAMT": 240, "YEKT": 300, "OMST": 360, "NOVT": 420,
    "KRAT": 420, "IRKT": 480, "YAKT": 540, "VLAT": 600, "MAGT": 660, "PETT": 720,
    "EST": -300, "EDT": -240, "CST": -360, "CDT": -300, "MST": -420, "MDT": -360,
    "PST": -480, "PDT": -420, "AKST": -540, "AKDT": -480, "HST": -600,
    "JST": 540, "KST": 540, "HKT": 480, "AWST": 480, "ACST": 570, "AEST": 600,
    "AEDT": 660, "NZST": 720, "NZDT": 780,
}  # fmt: skip


def parse_php_datetime(value: object) -> datetime:
    """A PHP DateTime serialized by ``json_encode``, e.g. ``{"date": "2030-01-01
    00:00:00.000000", "timezone_type": 3, "timezone": "Europe/Moscow"}``.

    ``timezone_type`` 1 is an offset (``+03:00``), 2 an abbreviation (``MSK``, see
    `PHP_ZONE_ABBREVIATIONS`), 3 an identifier (``Europe/Moscow``, ``UTC``); ``date`` is the
    wall time in that zone. The answer is timezone-aware UTC, checked like `parse_datetime`.
    """
    if not isinstance(value, dict):
        raise ParseError("a PHP DateTime object is required")
    date, kind, zone = value.get("date"), value.get("timezone_type"), value.get("timezone")
    if not isinstance(date, str) or not isinstance(zone, str):
        raise ParseError("a PHP DateTime needs `date` and `timezone` strings")
    if isinstance(kind, bool) or kind not in (1, 2, 3):
        raise ParseError("timezone_type must be 1 (offset), 2 (abbreviation) or 3 (identifier)")
    match = _PHP_DATE_RE.fullmatch(date.strip())
    if match is None:
        raise ParseError("date must read Y-m-d H:i:s.u, e.g. 2030-01-01 00:00:00.000000")
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    micro = int((match.group(7) or "0").ljust(6, "0"))
    try:
        wall = datetime(year, month, day, hour, minute, second, micro)
    except ValueError as exc:
        raise ParseError(f"date is not a calendar date: {exc}") from exc
    return check_datetime(wall.replace(tzinfo=_php_zone(kind, zone.strip())))


def _php_zone(kind: int, zone: str) -> timezone | zoneinfo.ZoneInfo:
    if kind == 1:
        match = _PHP_OFFSET_RE.fullmatch(zone)
        if match is None or int(match.group(2)) > 23 or int(match.group(3)) > 59:
            raise ParseError("timezone_type 1 needs an offset such as +03:00")
        sign = -1 if match.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))
    if kind == 2:
        minutes = PHP_ZONE_ABBREVIATIONS.get(zone.upper())
        if minutes is None:
            raise ParseError(f"unknown time zone abbreviation {zone[:10]!r}")
        return timezone(timedelta(minutes=minutes))
    if _ZONE_ID_RE.fullmatch(zone) is None:
        raise ParseError("timezone_type 3 needs a time zone identifier such as Europe/Moscow")
    try:
        return zoneinfo.ZoneInfo(zone)
    except (KeyError, ValueError, OSError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise ParseError(f"unknown time zone {zone!r}") from exc


def unstorable_text(value: object) -> str | None:
    """The path (``customer.name``, ``basketItems[0].sku``) of the first key or string in a
    parsed JSON document that no database can store: a NUL character, or a lone surrogate
    (``"\\ud800"``, valid JSON escapes but not UTF-8). None when every string is fine."""
    stack: list[tuple[str, object]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if not _storable(item):
                return path or "body"
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                child_path = f"{path}.{key}" if path else str(key)
                if not _storable(str(key)):
                    return child_path
                stack.append((child_path, child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", child) for i, child in reversed(list(enumerate(item))))
    return None


def may_hold_unstorable(raw: bytes) -> bool:
    """False when the JSON text `raw` cannot parse to a string `unstorable_text` refuses, so
    the walk over the parsed document can be skipped: a NUL or a lone surrogate can only come
    from a ``\\u`` escape, a NUL byte (also in every UTF-16 or UTF-32 text), or a surrogate
    encoded as UTF-8 (lead byte 0xED, which `json.loads` decodes with surrogatepass)."""
    return b"\\u" in raw or b"\x00" in raw or b"\xed" in raw


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
