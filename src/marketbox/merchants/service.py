"""Merchants and payment instruments: creation, token authentication, the demo shop seed."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, ids, netguard
from marketbox.security import signing
from marketbox.storage.tables import instruments, merchants

T = TypeVar("T")

# spec/README.md "Identifiers cheat sheet": the public demo shop of the documentation.
DEMO_MERCHANT_ID = "ffffffff-ffff-ffff-ffff-ffffffffffff"
DEMO_TOKEN = "b37c4c689295904ed21eee5d9a48d42e"
DEMO_SIGNING_KEY = "098f6bcd4621d373cade4e832627b4f6"
DEMO_USER_ID = "017c3c54-0000-7000-8000-00000000d3e0"

# One address, as the payment page's form checks it (payment_page/forms.py).
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL = 320


@dataclass(frozen=True)
class Merchant:
    id: str
    user_id: str
    name: str
    legal_name: str
    vat_number: str
    signing_key: str
    sign_algorithm: str
    notification_url: str | None
    merchant_order_id_unique: bool
    has_contract: bool


@dataclass(frozen=True)
class Instrument:
    id: str
    name: str
    signing_key: str
    sign_algorithm: str


@dataclass(frozen=True)
class Credentials:
    """What `create_*` returns once: the plain token exists nowhere else."""

    id: str
    token: str
    signing_key: str


def _merchant(row: object) -> Merchant:
    m = row._mapping  # type: ignore[attr-defined]
    return Merchant(
        id=m["id"],
        user_id=m["user_id"],
        name=m["name"],
        legal_name=m["legal_name"],
        vat_number=m["vat_number"],
        signing_key=m["signing_key"],
        sign_algorithm=m["sign_algorithm"],
        notification_url=m["notification_url"],
        merchant_order_id_unique=bool(m["merchant_order_id_unique"]),
        has_contract=bool(m["has_contract"]),
    )


async def create_merchant(
    conn: AsyncConnection,
    *,
    name: str,
    notification_url: str | None = None,
    notification_email: str | None = None,
    merchant_id: str | None = None,
    token: str | None = None,
    signing_key: str | None = None,
    sign_algorithm: str = signing.DEFAULT_ALGORITHM,
    legal_name: str = "",
    vat_number: str = "",
    user_id: str | None = None,
    block_private_networks: bool = False,
) -> Credentials:
    """A new merchant. `block_private_networks` (production mode) refuses a default
    notification URL that leads to a private network (netguard.py)."""
    if sign_algorithm not in signing.ALGORITHMS:
        raise ValueError(f"unknown signing algorithm {sign_algorithm!r}")
    if block_private_networks:
        await netguard.check_url(notification_url, field="notificationUrl")
    credentials = Credentials(
        id=merchant_id or ids.new_id(),
        token=token or signing.new_token(),
        signing_key=signing_key or signing.new_signing_key(),
    )
    await conn.execute(
        insert(merchants).values(
            id=credentials.id,
            user_id=user_id or ids.new_id(),
            name=name,
            legal_name=legal_name or name,
            vat_number=vat_number,
            token_hash=signing.hash_token(credentials.token),
            signing_key=credentials.signing_key,
            sign_algorithm=sign_algorithm,
            notification_url=notification_url,
            notification_email=(
                clean_notification_email(notification_email) if notification_email else None
            ),
            merchant_order_id_unique=True,
            has_contract=True,
            created_at=clock.now(),
        )
    )
    return credentials


async def create_instrument(
    conn: AsyncConnection,
    *,
    name: str,
    instrument_id: str | None = None,
    token: str | None = None,
    signing_key: str | None = None,
    sign_algorithm: str = signing.DEFAULT_ALGORITHM,
) -> Credentials:
    credentials = Credentials(
        id=instrument_id or ids.new_id(),
        token=token or signing.new_token(),
        signing_key=signing_key or signing.new_signing_key(),
    )
    await conn.execute(
        insert(instruments).values(
            id=credentials.id,
            name=name,
            token_hash=signing.hash_token(credentials.token),
            signing_key=credentials.signing_key,
            sign_algorithm=sign_algorithm,
            created_at=clock.now(),
        )
    )
    return credentials


async def get_merchant(conn: AsyncConnection, merchant_id: str) -> Merchant | None:
    row = (await conn.execute(select(merchants).where(merchants.c.id == merchant_id))).first()
    return _merchant(row) if row else None


async def seed_demo_merchant(conn: AsyncConnection, *, notification_url: str | None = None) -> bool:
    """Insert the documented demo shop unless it exists. Sandbox mode only (caller checks)."""
    if await get_merchant(conn, DEMO_MERCHANT_ID) is not None:
        return False
    await create_merchant(
        conn,
        name="Демо-магазин",
        legal_name="ООО «Демо»",
        vat_number="7804445210",
        merchant_id=DEMO_MERCHANT_ID,
        token=DEMO_TOKEN,
        signing_key=DEMO_SIGNING_KEY,
        notification_url=notification_url,
        user_id=DEMO_USER_ID,
    )
    return True


class TokenCache:
    """Token hash -> principal, kept briefly so the hot path skips a query per request.

    Each entry remembers the credentials version (storage/shared.py) it was read under and is
    trusted only while that version is current: a token or a signing key changed by any
    process (`rotate_*` below, then `SharedState.credentials_changed`) is seen by every
    process on its next request when the version lives in Redis. When the version cannot be
    read (Redis down) nothing is trusted from the cache. Without Redis the version is this
    process's own, so a change made by another process is seen once the entry's `ttl` runs
    out. An unknown token is remembered only `negative_ttl` seconds, so a token used right
    after it was issued (by another process) is recognised almost at once.
    """

    def __init__(
        self,
        version: Callable[[], Awaitable[int | None]] | None = None,
        ttl: float = 30.0,
        negative_ttl: float = 1.0,
    ) -> None:
        self.version = version or _no_version
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self._merchants: dict[str, tuple[float, int, Merchant | None]] = {}
        self._instruments: dict[str, tuple[float, int, Instrument | None]] = {}

    def clear(self) -> None:
        self._merchants.clear()
        self._instruments.clear()

    async def cached_merchant(self, token: str) -> tuple[bool, Merchant | None]:
        """(found in the cache, principal) without touching the database."""
        return _cached(self._merchants, signing.hash_token(token), await self.version())

    async def merchant_for_token(self, conn: AsyncConnection, token: str) -> Merchant | None:
        key = signing.hash_token(token)
        version = await self.version()
        found, merchant = _cached(self._merchants, key, version)
        if found:
            return merchant
        row = (await conn.execute(select(merchants).where(merchants.c.token_hash == key))).first()
        merchant = _merchant(row) if row else None
        if version is not None:
            self._merchants[key] = (self._expiry(merchant), version, merchant)
        return merchant

    async def instrument_for_token(self, conn: AsyncConnection, token: str) -> Instrument | None:
        key = signing.hash_token(token)
        version = await self.version()
        found, instrument = _cached(self._instruments, key, version)
        if found:
            return instrument
        row = (
            await conn.execute(select(instruments).where(instruments.c.token_hash == key))
        ).first()
        if row:
            m = row._mapping
            instrument = Instrument(m["id"], m["name"], m["signing_key"], m["sign_algorithm"])
        if version is not None:
            self._instruments[key] = (self._expiry(instrument), version, instrument)
        return instrument

    def _expiry(self, principal: object) -> float:
        if len(self._merchants) + len(self._instruments) > 100_000:  # a flood of bad tokens
            self.clear()
        return time.monotonic() + (self.ttl if principal is not None else self.negative_ttl)


async def _no_version() -> int:
    return 0


def _cached(
    cache: dict[str, tuple[float, int, T | None]], key: str, version: int | None
) -> tuple[bool, T | None]:
    hit = cache.get(key)
    if hit and version is not None and hit[1] == version and hit[0] > time.monotonic():
        return True, hit[2]
    return False, None


# --- Changing credentials ---------------------------------------------------------------------
# After the commit the caller announces the change (SharedState.credentials_changed), so every
# process drops what it cached (TokenCache above).


class NoSuchAccount(LookupError):
    pass


def clean_notification_email(text: str) -> str:
    """The address trimmed, or ValueError saying what is wrong with it."""
    email = text.strip()
    if len(email) > MAX_EMAIL or not _EMAIL_RE.match(email):
        raise ValueError(f"not an e-mail address: {text!r}")
    return email


async def set_notification_email(
    conn: AsyncConnection, merchant_id: str, email: str | None
) -> str | None:
    """Where the merchant's payment notices are mailed (docs/mail.md); None stops them.
    Returns the address as stored."""
    if not ids.is_uuid(merchant_id):
        raise NoSuchAccount(merchant_id)
    stored = clean_notification_email(email) if email else None
    changed = await conn.execute(
        update(merchants)
        .where(merchants.c.id == ids.normalize_uuid(merchant_id))
        .values(notification_email=stored)
    )
    if changed.rowcount != 1:
        raise NoSuchAccount(merchant_id)
    return stored


async def rotate_merchant_credentials(
    conn: AsyncConnection, merchant_id: str, *, token: bool = True, signing_key: bool = True
) -> Credentials:
    """A new token and/or signing key for the merchant; the old ones stop working. Returns the
    new values (a part not rotated is returned as "")."""
    return await _rotate(conn, merchants, merchant_id, token=token, signing_key=signing_key)


async def rotate_instrument_credentials(
    conn: AsyncConnection, instrument_id: str, *, token: bool = True, signing_key: bool = True
) -> Credentials:
    """Like `rotate_merchant_credentials`, for a payment instrument."""
    return await _rotate(conn, instruments, instrument_id, token=token, signing_key=signing_key)


async def _rotate(
    conn: AsyncConnection, table: Table, account_id: str, *, token: bool, signing_key: bool
) -> Credentials:
    if not ids.is_uuid(account_id):
        raise NoSuchAccount(account_id)
    account_id = ids.normalize_uuid(account_id)
    new_token = signing.new_token() if token else ""
    new_key = signing.new_signing_key() if signing_key else ""
    values: dict[str, str] = {}
    if token:
        values["token_hash"] = signing.hash_token(new_token)
    if signing_key:
        values["signing_key"] = new_key
    if not values:
        raise ValueError("nothing to rotate")
    changed = await conn.execute(update(table).where(table.c.id == account_id).values(**values))
    if changed.rowcount != 1:
        raise NoSuchAccount(account_id)
    return Credentials(id=account_id, token=new_token, signing_key=new_key)
