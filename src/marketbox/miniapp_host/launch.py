"""Signed launch data: what lets a mini-app's backend trust the init data it is handed
(docs/miniapps.md "Signed launch data", like Telegram's ``initData``).

The host puts ``public.signedLaunchData`` into every init data it builds
(`protocol.build_init_data`): a query string of the launch facts plus ``hash``, the lowercase hex
HMAC-SHA256 of their **canonical form** under the point of sale's own launch secret::

    authDate=1796645400&fullHeight=false&locale=ru&metaDataHash=4f53…&minappType=suborder
    &orderContainerId=0190f0a1-…&shopId=42&userEmail=anna%40example.org&userName=…&userPhone=…
    &hash=…

The canonical form ("data-check string") is every field but ``hash`` and ``previousHash``,
sorted by name, written ``name=value`` (decoded values) and joined with ``\\n``. The HMAC key is
the secret's text as UTF-8. ``metaDataHash`` is the SHA-256 (hex) of ``private.metaData`` as
canonical JSON (`meta_data_digest`); ``authDate`` is the issue time in Unix seconds (the real
time: a moved sandbox clock does not move it, so a shop's real clock can judge freshness).
``orderContainerId`` is present in suborder mode only, exactly as in ``public``.

While a rotation's overlap lasts the string also carries ``previousHash``, the same HMAC under
the replaced secret, so a backend that still holds the old secret keeps verifying.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import simplejson

from marketbox import clock

FIELD = "signedLaunchData"
HASH = "hash"
PREVIOUS_HASH = "previousHash"
SECRET_BYTES = 32  # 64 hex digits


def new_secret() -> str:
    return secrets.token_hex(SECRET_BYTES)


@dataclass(frozen=True)
class LaunchKeys:
    """The secret(s) a point of sale's launch data is signed with: the current one, and the
    replaced one while its overlap lasts. Never rendered: `repr` hides both."""

    current: str = field(repr=False)
    previous: str | None = field(default=None, repr=False)

    @classmethod
    def of(
        cls,
        current: str | None,
        previous: str | None = None,
        previous_valid_until: datetime | None = None,
        *,
        now: datetime | None = None,
    ) -> LaunchKeys | None:
        """The keys in force at `now` (default: the platform clock); None without a secret."""
        if not current:
            return None
        moment = now or clock.now()
        in_force = previous and previous_valid_until is not None and moment < previous_valid_until
        return cls(current=current, previous=previous if in_force else None)


def meta_data_digest(meta_data: Any) -> str:
    """SHA-256 (lowercase hex) of `meta_data` as canonical JSON: keys sorted, no whitespace,
    non-ASCII characters as they are (UTF-8), numbers exactly as the platform's JSON writes
    them (a Decimal ``12.50`` stays ``12.50``)."""
    text: str = simplejson.dumps(
        meta_data, use_decimal=True, ensure_ascii=False, separators=(",", ":"), sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def data_check_string(facts: Mapping[str, str]) -> str:
    """The canonical form the HMAC is taken over."""
    return "\n".join(
        f"{name}={facts[name]}" for name in sorted(facts) if name not in (HASH, PREVIOUS_HASH)
    )


def _hmac(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def sign(
    public: Mapping[str, Any],
    meta_data: Any,
    keys: LaunchKeys,
    *,
    issued_at: int | None = None,
) -> str:
    """The ``signedLaunchData`` string for init data's `public` and `private.metaData`."""
    if issued_at is None:
        issued_at = int((clock.now() - clock.offset()).timestamp())
    facts = {
        name: _text(public[name])
        for name in (
            "shopId",
            "minappType",
            "orderContainerId",
            "userName",
            "userEmail",
            "userPhone",
            "locale",
            "fullHeight",
        )
        if name in public
    }
    facts["authDate"] = str(issued_at)
    facts["metaDataHash"] = meta_data_digest(meta_data)
    check = data_check_string(facts)
    pairs = sorted(facts.items())
    pairs.append((HASH, _hmac(keys.current, check)))
    if keys.previous:
        pairs.append((PREVIOUS_HASH, _hmac(keys.previous, check)))
    return "&".join(f"{name}={quote(value, safe='')}" for name, value in pairs)
