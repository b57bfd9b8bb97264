"""The mini-app postMessage protocol (spec/miniapps.md §3, §5 and the protocol-v2 addendum).

Messages are plain objects ``{id, action, data?}``. A mini-app (child) opens with
``init`` (``version: 2`` from v2 children; none means 1), the host answers every ``init`` with the
init data built by :func:`build_init_data`, then the child may send ``height``, ``done``, ``error``,
``link``, ``unavailable`` and ``checkout``; the host may send ``updateData`` (v2 children only) and
``paymentResult``. Unknown actions are ignored by both sides.

The wire constants are mirrored in ``static/bridge.js`` and ``static/minapp-client.js`` (the JSON
between ``protocol:begin`` and ``protocol:end``); a unit test keeps the three in sync.

:func:`match_meta_data_values` and :func:`get_meta_data_values` reproduce the SDK's metadata
search on ``private.metaData`` exactly, so the server can predict what a mini-app will find.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Any, NotRequired, TypedDict, cast

from marketbox.miniapp_host import launch

PROTOCOL_VERSION = 2
HEIGHT_MIN = 100
HEIGHT_MAX = 5000
INIT_TIMEOUT_MS = 15_000
DEFAULT_ERROR_TEXT: Mapping[str, str] = {"ru": "Что-то пошло не так", "en": "Something went wrong"}


class ChildAction(StrEnum):
    """Mini-app → host."""

    INIT = "init"
    HEIGHT = "height"
    DONE = "done"
    ERROR = "error"
    LINK = "link"
    UNAVAILABLE = "unavailable"
    CHECKOUT = "checkout"


class HostAction(StrEnum):
    """Host → mini-app."""

    INIT = "init"
    UPDATE_DATA = "updateData"
    PAYMENT_RESULT = "paymentResult"


class PaymentResult(StrEnum):
    """Statuses of the host's ``paymentResult`` message."""

    PENDING = "pending"
    COMPLETED = "completed"
    CANCELED = "canceled"
    EXPIRED = "expired"
    HOLD = "hold"
    UNKNOWN = "unknown"


class MiniAppMode(StrEnum):
    """``public.minappType``."""

    ORDER = "order"
    SUBORDER = "suborder"


class InitPublic(TypedDict):
    shopId: int
    userEmail: str
    userName: str
    userPhone: str
    locale: str
    minappType: str
    orderContainerId: NotRequired[str]
    fullHeight: bool
    # Our extension (launch.py): the launch facts signed with the point of sale's secret.
    signedLaunchData: NotRequired[str]


class InitPrivate(TypedDict):
    metaData: list[Any]


class InitData(TypedDict):
    public: InitPublic
    private: InitPrivate


def build_init_data(
    *,
    shop_id: int,
    user_name: str | None,
    user_email: str | None,
    user_phone: str | None,
    locale: str,
    mode: MiniAppMode | str,
    order_container_id: object | None = None,
    meta_data: Iterable[Any] = (),
    launch_keys: launch.LaunchKeys | None = None,
    issued_at: int | None = None,
) -> InitData:
    """The ``data`` of the host's ``init`` / ``updateData`` message (spec §3.2).

    ``orderContainerId`` is present only in suborder mode (and required there); ``fullHeight`` is
    true in order mode and false in suborder mode; unknown buyer fields are sent as ``""``.
    With the point of sale's `launch_keys`, ``public.signedLaunchData`` carries the signed launch
    facts (launch.py), issued at `issued_at` (Unix seconds; default now).
    """
    mode = MiniAppMode(mode)
    if isinstance(shop_id, bool) or not isinstance(shop_id, int):
        raise TypeError("shop_id must be an int")
    fields: dict[str, object] = {
        "shopId": shop_id,
        "userEmail": user_email or "",
        "userName": user_name or "",
        "userPhone": user_phone or "",
        "locale": locale,
        "minappType": mode.value,
    }
    # The spec's key order: orderContainerId (suborder mode only) comes before fullHeight.
    if mode is MiniAppMode.SUBORDER:
        if not order_container_id:
            raise ValueError("suborder mode needs order_container_id")
        fields["orderContainerId"] = str(order_container_id)
    elif order_container_id is not None:
        raise ValueError("order mode must not carry order_container_id")
    fields["fullHeight"] = mode is MiniAppMode.ORDER
    private_meta = list(meta_data)
    if launch_keys is not None:
        fields[launch.FIELD] = launch.sign(fields, private_meta, launch_keys, issued_at=issued_at)
    public = cast(InitPublic, fields)
    return {"public": public, "private": {"metaData": private_meta}}


# --- metadata search ----------
#
# The SDK walks metaData with `for…in` (objects and arrays alike; array indices are the keys
# "0", "1", …) and compares with lodash `isEqual`. Below: the same on JSON-shaped Python data.

_ARRAY_INDEX_LIMIT = 2**32 - 1


def _js_key(key: object) -> str:
    # JSON object keys are strings; json.dumps turns other dict keys into the same strings.
    return key if isinstance(key, str) else json.dumps(key)


def _is_array_index(key: str) -> bool:
    return (
        key.isdigit()
        and key.isascii()
        and (key == "0" or key[0] != "0")
        and (int(key) < _ARRAY_INDEX_LIMIT)
    )


def _for_in(value: object) -> Iterator[tuple[str, Any]]:
    """(key, value) pairs in JavaScript `for…in` order; nothing for primitives."""
    if isinstance(value, Mapping):
        items = [(_js_key(k), v) for k, v in value.items()]
        # Integer-like keys come first, ascending; then the others in insertion order.
        indices = sorted((kv for kv in items if _is_array_index(kv[0])), key=lambda kv: int(kv[0]))
        yield from indices
        yield from (kv for kv in items if not _is_array_index(kv[0]))
    elif isinstance(value, list | tuple):
        yield from ((str(i), v) for i, v in enumerate(value))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _as_js_number(value: int | float | Decimal) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _is_equal(a: object, b: object) -> bool:
    """lodash `isEqual` for JSON-shaped values: `"1" != 1`, `True != 1`, `1 == 1.0`, NaN == NaN."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) or _is_number(b):
        if not (_is_number(a) and _is_number(b)):
            return False
        x, y = _as_js_number(a), _as_js_number(b)  # type: ignore[arg-type]
        return x == y or (math.isnan(x) and math.isnan(y))
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        if not (isinstance(a, Mapping) and isinstance(b, Mapping)):
            return False
        left = {_js_key(k): v for k, v in a.items()}
        right = {_js_key(k): v for k, v in b.items()}
        return left.keys() == right.keys() and all(_is_equal(v, right[k]) for k, v in left.items())
    if isinstance(a, list | tuple) or isinstance(b, list | tuple):
        if not (isinstance(a, list | tuple) and isinstance(b, list | tuple)):
            return False
        return len(a) == len(b) and all(_is_equal(x, y) for x, y in zip(a, b, strict=True))
    if a is None or b is None:
        return a is b
    return type(a) is type(b) and a == b


def _match(struct: object, key: str, values: Sequence[object]) -> bool:
    for source_key, source_value in _for_in(struct):
        if source_key == key and any(_is_equal(v, source_value) for v in values):
            return True
        # The search goes on into the value even when only the key matched.
        if _match(source_value, key, values):
            return True
    return False


def _collect(struct: object, key: str, out: list[Any]) -> None:
    for source_key, source_value in _for_in(struct):
        if source_key == key:
            out.append(source_value)
        _collect(source_value, key, out)


def match_meta_data_values(meta_data: object, key: str, values: Iterable[object]) -> bool:
    """True iff some property named `key`, at any depth, deep-equals one of `values` (§5)."""
    return _match(meta_data, key, list(values))


def get_meta_data_values(meta_data: object, key_or_keys: str | Sequence[str]) -> list[Any]:
    """Values of all properties named like the key(s), pre-order, deep duplicates removed (§5)."""
    keys = [key_or_keys] if isinstance(key_or_keys, str) else list(key_or_keys)
    found: list[Any] = []
    for key in keys:
        _collect(meta_data, key, found)
    unique: list[Any] = []
    for value in found:
        if not any(_is_equal(seen, value) for seen in unique):
            unique.append(value)
    return unique
