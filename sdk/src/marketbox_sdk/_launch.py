"""Verifying a mini-app's signed launch data (marketbox; docs/miniapps.md "Signed launch data").

The host hands a mini-app its init data; `getInitialData()` resolves with `public`, whose
`signedLaunchData` is a query string of the launch facts plus `hash`:

    authDate=1796645400&fullHeight=false&locale=ru&metaDataHash=…&minappType=suborder
    &orderContainerId=…&shopId=42&userEmail=…&userName=…&userPhone=…&hash=…

The frontend forwards it verbatim to its backend, which calls `verify_launch_data` with the
point of sale's launch secret (the `launchSecret` of the marketplace API's shop answer) and
then uses only the verified `LaunchData`, never the unsigned fields beside it.

`hash` is the lowercase hex HMAC-SHA256, keyed with the secret's text (UTF-8), of the
data-check string: every field but `hash` and `previousHash`, decoded, sorted by name,
written `name=value` and joined with a line feed. While a rotation's overlap lasts the host
adds `previousHash`, the same HMAC under the replaced secret: a backend holding either secret
verifies.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from ._errors import InvoiceboxError

__all__ = [
    "DEFAULT_LAUNCH_MAX_AGE",
    "DEFAULT_LAUNCH_SKEW",
    "InvalidLaunchData",
    "LaunchData",
    "LaunchDataError",
    "StaleLaunchData",
    "TamperedLaunchData",
    "launch_meta_data_digest",
    "verify_launch_data",
]

#: How old (seconds) launch data may be by default: a buyer may spend a while in the app.
DEFAULT_LAUNCH_MAX_AGE = 3600
#: How far (seconds) in the future `authDate` may be: clocks differ a little.
DEFAULT_LAUNCH_SKEW = 60
_MAX_LENGTH = 8192
_HASHES = ("hash", "previousHash")
_REQUIRED = (
    "authDate",
    "fullHeight",
    "locale",
    "metaDataHash",
    "minappType",
    "shopId",
    "userEmail",
    "userName",
    "userPhone",
    "hash",
)


class LaunchDataError(InvoiceboxError):
    """The signed launch data is not to be trusted."""

    default_code = "launch_data_invalid"


class InvalidLaunchData(LaunchDataError):
    """The signed launch data is missing or malformed."""

    default_code = "launch_data_invalid"


class TamperedLaunchData(LaunchDataError):
    """The signed launch data does not match its hash: altered, or signed with another secret."""

    default_code = "launch_data_tampered"


class StaleLaunchData(LaunchDataError):
    """The signed launch data was issued too long ago (or too far in the future)."""

    default_code = "launch_data_stale"


@dataclasses.dataclass(frozen=True, kw_only=True)
class LaunchData:
    """Verified launch facts: what the host told the mini-app, signed by the platform."""

    shop_id: int
    minapp_type: str  # "order" | "suborder"
    order_container_id: str | None  # suborder mode only
    user_name: str
    user_email: str
    user_phone: str
    locale: str
    full_height: bool
    auth_date: dt.datetime  # the issue time, UTC
    meta_data_hash: str  # compare with launch_meta_data_digest(metaData) if you hold it


def launch_meta_data_digest(meta_data: Any) -> str:
    """SHA-256 (hex) of `private.metaData` as canonical JSON (keys sorted, no whitespace,
    UTF-8, a Decimal as its own text), the `metaDataHash` of the launch data."""
    return hashlib.sha256(_canonical(meta_data).encode()).hexdigest()


def _canonical(value: Any) -> str:
    if isinstance(value, dict):
        items = sorted((str(k), v) for k, v in value.items())
        return "{" + ",".join(f"{_canonical(k)}:{_canonical(v)}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_canonical(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _check_string(facts: dict[str, str]) -> str:
    return "\n".join(f"{k}={facts[k]}" for k in sorted(facts) if k not in _HASHES)


def _parse(signed: str) -> dict[str, str]:
    if not isinstance(signed, str) or not signed:
        raise InvalidLaunchData("No signed launch data (public.signedLaunchData) was sent")
    if len(signed) > _MAX_LENGTH:
        raise InvalidLaunchData("The signed launch data is too long")
    try:
        pairs = parse_qsl(signed, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise InvalidLaunchData("The signed launch data is not a query string") from None
    facts: dict[str, str] = {}
    for name, value in pairs:
        if name in facts:
            raise InvalidLaunchData(f"The signed launch data repeats {name}")
        facts[name] = value
    missing = [name for name in _REQUIRED if name not in facts]
    if missing:
        raise InvalidLaunchData(f"The signed launch data lacks {', '.join(missing)}")
    return facts


def _signature_matches(facts: dict[str, str], secrets: Sequence[str]) -> bool:
    check = _check_string(facts).encode()
    given = [facts[name].lower() for name in _HASHES if name in facts]
    found = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), check, hashlib.sha256).hexdigest()
        for value in given:
            # Every comparison runs (no early exit), each in constant time.
            found |= hmac.compare_digest(expected, value)
    return found


def verify_launch_data(
    signed: str,
    secret: str | Sequence[str],
    *,
    max_age: float = DEFAULT_LAUNCH_MAX_AGE,
    skew: float = DEFAULT_LAUNCH_SKEW,
    now: float | dt.datetime | None = None,
) -> LaunchData:
    """Check `signed` (the mini-app's `public.signedLaunchData`, verbatim) with the point of
    sale's launch secret (or several: old and new during your own switch-over) and return the
    verified facts.

    Raises `InvalidLaunchData` (missing, malformed), `TamperedLaunchData` (hash mismatch) or
    `StaleLaunchData` (issued more than `max_age` seconds before `now`, or more than `skew`
    seconds after it). `now`: Unix seconds or an aware datetime (default: the real time).
    """
    facts = _parse(signed)
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets or not all(isinstance(s, str) and s for s in secrets):
        raise ValueError("a launch secret is needed")
    if not _signature_matches(facts, secrets):
        raise TamperedLaunchData(
            "The launch data's signature does not match: it was altered or signed for "
            "another point of sale"
        )
    try:
        issued = int(facts["authDate"])
        shop_id = int(facts["shopId"])
    except ValueError:
        raise InvalidLaunchData("authDate and shopId must be integers") from None
    if isinstance(now, dt.datetime):
        moment = now.timestamp()
    else:
        moment = time.time() if now is None else float(now)
    if issued < moment - max_age:
        raise StaleLaunchData(
            f"The launch data was issued {int(moment - issued)} s ago (at most {max_age:g} s)"
        )
    if issued > moment + skew:
        raise StaleLaunchData("The launch data was issued in the future")
    return LaunchData(
        shop_id=shop_id,
        minapp_type=facts["minappType"],
        order_container_id=facts.get("orderContainerId") or None,
        user_name=facts["userName"],
        user_email=facts["userEmail"],
        user_phone=facts["userPhone"],
        locale=facts["locale"],
        full_height=facts["fullHeight"] == "true",
        auth_date=dt.datetime.fromtimestamp(issued, dt.UTC),
        meta_data_hash=facts["metaDataHash"],
    )
