"""The body of an order update (api.md §8.4) as fields by name, whichever way it was sent.

Named JSON (`{"description": "…"}`) is what the docs describe and what every client but one
sends. The official PHP SDK's `UpdateOrderRequest::toArray()` builds a PHP *positional*
array instead, which `json_encode` writes as a JSON array (`["new description"]`) when the
set fields form a prefix of the list, and as an object with numeric keys
(`{"3": {"date": …, "timezone_type": 1, "timezone": "+00:00"}}`) otherwise. Its positions,
in the SDK's order, are `POSITIONS`; the expiration date is a PHP DateTime object.

Either way the answer is a dict of named fields for `UpdateOrderRequest`, or a 422: an update
that names no known field with a value (`{}`, `[]`, unknown keys only, positions beyond the
list) changes nothing and is refused, never answered with a silent 200.
"""

from __future__ import annotations

import re
from typing import Any

from marketbox import parsing
from marketbox.errors import FieldError, ValidationFailed
from marketbox.orders.schemas import UpdateOrderRequest
from marketbox.orders.validation import OrderRuleError

# The PHP SDK's UpdateOrderRequest::toArray(), in its order.
POSITIONS = (
    "description",
    "amount",
    "vatAmount",
    "expirationDate",
    "basketItems",
    "metaData",
    "customer",
)
KNOWN_FIELDS = frozenset(UpdateOrderRequest.model_fields)
_POSITION_KEY = re.compile(r"0|[1-9][0-9]{0,8}")


def named_fields(payload: Any) -> dict[str, Any]:
    """Named fields of an update body (already parsed JSON); 422 when it changes nothing."""
    if isinstance(payload, list):
        fields = _from_positions(dict(enumerate(payload)))
    elif isinstance(payload, dict):
        numeric = [key for key in payload if parsing.is_ascii_digits(key)]
        if numeric and len(numeric) == len(payload):
            fields = _from_positions(_numeric_keys(payload))
        elif numeric:
            raise ValidationFailed(
                "The body mixes named fields with positional (numeric) keys",
                fields=[_unknown(key, "a named body takes no numeric keys") for key in numeric],
            )
        else:
            fields = payload
    else:
        raise ValidationFailed(
            "The request body must be a JSON object",
            fields=[FieldError("body", "wrong_value", f"got a JSON {type(payload).__name__}")],
        )
    if not any(value is not None for name, value in fields.items() if name in KNOWN_FIELDS):
        raise ValidationFailed(
            "The update changes nothing: it names no known field with a value",
            fields=[
                FieldError(
                    "body",
                    "required",
                    "send at least one of " + ", ".join(sorted(KNOWN_FIELDS)),
                )
            ],
        )
    return fields


def _numeric_keys(payload: dict[str, Any]) -> dict[int, Any]:
    by_position: dict[int, Any] = {}
    for key, value in payload.items():
        if _POSITION_KEY.fullmatch(key) is None:  # "03", or beyond any list
            raise ValidationFailed(
                "Positional keys are PHP array indexes: 0, 1, 2, …",
                fields=[_unknown(key, "not a position of the PHP SDK's update")],
            )
        by_position[int(key)] = value
    return by_position


def _from_positions(by_position: dict[int, Any]) -> dict[str, Any]:
    """Positions (null = not given) to named fields; a position past the list is refused,
    as there is no telling what a client that sends it means."""
    beyond = [i for i, value in by_position.items() if i >= len(POSITIONS) and value is not None]
    if beyond:
        raise ValidationFailed(
            f"The PHP SDK's update has {len(POSITIONS)} positions ({', '.join(POSITIONS)})",
            fields=[_unknown(f"[{i}]", "no field at this position") for i in beyond],
        )
    fields: dict[str, Any] = {}
    for index, name in enumerate(POSITIONS):
        value = by_position.get(index)
        if value is None:
            continue
        # Older SDK versions send `(array) $this->metaData`: `[]` when it was never set.
        if name == "metaData" and value in ([], {}):
            continue
        if name == "expirationDate" and isinstance(value, dict):
            value = _php_datetime(value)
        fields[name] = value
    return fields


def _php_datetime(value: dict[str, Any]) -> str:
    """A PHP DateTime (`{date, timezone_type, timezone}`) as RFC 3339 text in UTC, which the
    update then checks like any `expirationDate`; malformed is `wrong_expiration_date`."""
    try:
        moment = parsing.parse_php_datetime(value)
    except parsing.ParseError as exc:
        raise OrderRuleError(
            "wrong_expiration_date",
            f"expirationDate is not a PHP DateTime in range: {exc}",
            "expirationDate",
        ) from exc
    return moment.isoformat()


def _unknown(name: str, message: str) -> FieldError:
    return FieldError(name[:40], "wrong_value", message)
