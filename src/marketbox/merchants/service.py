"""Merchants and payment instruments: creation, token authentication, the demo shop seed."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import Table, and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, ids, netguard
from marketbox.security import signing
from marketbox.storage.tables import instruments, merchants

# spec/README.md "Identifiers cheat sheet": the public demo shop of the documentation.
DEMO_MERCHANT_ID = "ffffffff-ffff-ffff-ffff-ffffffffffff"
# The lock the sandbox seed takes (storage/locks.py): processes starting at once seed in turn.
SEED_LOCK = "sandbox-seed"
DEMO_TOKEN = "b37c4c689295904ed21eee5d9a48d42e"
DEMO_SIGNING_KEY = "098f6bcd4621d373cade4e832627b4f6"
DEMO_USER_ID = "017c3c54-0000-7000-8000-00000000d3e0"

# One address, as the payment page's form checks it (payment_page/forms.py).
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL = 320
P = TypeVar("P")


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
    # The key replaced by a rotation, still in force until its deadline (None: there is none).
    previous_signing_key: str | None = None
    previous_signing_key_valid_until: datetime | None = None


@dataclass(frozen=True)
class Instrument:
    id: str
    name: str
    signing_key: str
    sign_algorithm: str
    previous_signing_key: str | None = None
    previous_signing_key_valid_until: datetime | None = None

    def signing_keys(self) -> tuple[str, ...]:
        """The keys a request of this instrument may be signed with now: the current one,
        and the previous one during a rotation's overlap."""
        return _keys_now(
            self.signing_key, self.previous_signing_key, self.previous_signing_key_valid_until
        )


def _keys_now(current: str, previous: str | None, valid_until: datetime | None) -> tuple[str, ...]:
    if previous and valid_until is not None and clock.now() < valid_until:
        return (current, previous)
    return (current,)


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
        previous_signing_key=m["previous_signing_key"],
        previous_signing_key_valid_until=m["previous_signing_key_valid_until"],
    )


def _instrument(row: object) -> Instrument:
    m = row._mapping  # type: ignore[attr-defined]
    return Instrument(
        id=m["id"],
        name=m["name"],
        signing_key=m["signing_key"],
        sign_algorithm=m["sign_algorithm"],
        previous_signing_key=m["previous_signing_key"],
        previous_signing_key_valid_until=m["previous_signing_key_valid_until"],
    )


def _token_deadline(row: object, token_hash: str) -> datetime | None:
    """None when `token_hash` is the account's current token, else the previous token's deadline."""
    m = row._mapping  # type: ignore[attr-defined]
    deadline: datetime | None = m["previous_token_valid_until"]
    return None if m["token_hash"] == token_hash else deadline


def _by_token(table: Table, token_hash: str) -> Any:
    """The account whose current token, or previous token still within its overlap, this is."""
    return select(table).where(
        or_(
            table.c.token_hash == token_hash,
            and_(
                table.c.previous_token_hash == token_hash,
                table.c.previous_token_valid_until > clock.now(),
            ),
        )
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
    """Insert the documented demo shop unless it exists. Sandbox mode only (caller checks).
    The caller holds SEED_LOCK (bootstrap.seed_sandbox, the sandbox reset): two transactions
    seeding at once would both find it missing."""
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
    out. A previous token (a rotation with an overlap) is trusted only until its deadline by
    `marketbox.clock`, checked on every hit: the overlap ends in every process at once,
    without any announcement. An unknown token is remembered only `negative_ttl` seconds, so
    a token used right after it was issued (by another process) is recognised almost at once.
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
        self._merchants: dict[str, _Entry[Merchant]] = {}
        self._instruments: dict[str, _Entry[Instrument]] = {}

    def clear(self) -> None:
        self._merchants.clear()
        self._instruments.clear()

    async def cached_merchant(self, token: str) -> tuple[bool, Merchant | None]:
        """(found in the cache, principal) without touching the database."""
        hit = self._merchants.get(signing.hash_token(token))
        if hit is not None and _fresh(hit, await self.version()):
            return True, hit.principal
        return False, None

    async def merchant_for_token(self, conn: AsyncConnection, token: str) -> Merchant | None:
        key = signing.hash_token(token)
        version = await self.version()
        hit = self._merchants.get(key)
        if hit is not None and _fresh(hit, version):
            return hit.principal
        row = (await conn.execute(_by_token(merchants, key))).first()
        merchant = _merchant(row) if row else None
        if version is not None:
            entry: _Entry[Merchant] = _Entry(
                self._expiry(merchant),
                version,
                merchant,
                _token_deadline(row, key) if row else None,
            )
            self._merchants[key] = entry
        return merchant

    async def instrument_for_token(self, conn: AsyncConnection, token: str) -> Instrument | None:
        key = signing.hash_token(token)
        version = await self.version()
        cached = self._instruments.get(key)
        if cached is not None and _fresh(cached, version):
            return cached.principal
        row = (await conn.execute(_by_token(instruments, key))).first()
        instrument = _instrument(row) if row else None
        if version is not None:
            cached_entry: _Entry[Instrument] = _Entry(
                self._expiry(instrument),
                version,
                instrument,
                _token_deadline(row, key) if row else None,
            )
            self._instruments[key] = cached_entry
        return instrument

    def _expiry(self, principal: object) -> float:
        if len(self._merchants) + len(self._instruments) > 100_000:  # a flood of bad tokens
            self.clear()
        return time.monotonic() + (self.ttl if principal is not None else self.negative_ttl)


async def _no_version() -> int:
    return 0


@dataclass(frozen=True, slots=True)
class _Entry(Generic[P]):
    expires: float  # time.monotonic()
    version: int
    principal: P | None
    # A previous token's deadline (marketbox.clock time); None for a current token.
    valid_until: datetime | None


def _fresh(hit: _Entry[Any], version: int | None) -> bool:
    """Trust an entry read under the current version, within its TTL, and (a previous token)
    before its deadline."""
    return (
        version is not None
        and hit.version == version
        and hit.expires > time.monotonic()
        and (hit.valid_until is None or clock.now() < hit.valid_until)
    )


# --- Changing credentials ---------------------------------------------------------------------
# A rotation replaces the token and/or the signing key. With an overlap the replaced one stays
# valid until a deadline (`previous_*_valid_until`, by `marketbox.clock`, so a moved sandbox
# clock ends it too): the previous token still authenticates, the previous key still signs
# notifications (`X-Signature`, the new key in `X-Signature-Next`) and still verifies an
# instrument's requests. Rotating again replaces the previous one (the oldest stops at once).
# After the commit the caller announces the change (SharedState.credentials_changed), so every
# process drops what it cached (TokenCache above).

DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = timedelta(days=7)


class NoSuchAccount(LookupError):
    pass


def clean_notification_email(text: str) -> str:
    """The address trimmed, or ValueError saying what is wrong with it."""
    email = text.strip()
    if len(email) > MAX_EMAIL or not _EMAIL_RE.match(email):
        raise ValueError(f"not an e-mail address: {text!r}")
    return email


async def get_notification_email(conn: AsyncConnection, merchant_id: str) -> str | None:
    """Where the merchant's payment notices are mailed (None: nowhere)."""
    found = await conn.execute(
        select(merchants.c.notification_email).where(merchants.c.id == merchant_id)
    )
    return found.scalar_one_or_none()


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
    conn: AsyncConnection,
    merchant_id: str,
    *,
    token: bool = True,
    signing_key: bool = True,
    overlap: timedelta = timedelta(0),
) -> Credentials:
    """A new token and/or signing key for the merchant; the old ones keep working for
    `overlap` (0: they stop at once). Returns the new values (a part not rotated is "")."""
    return await _rotate(
        conn, merchants, merchant_id, token=token, signing_key=signing_key, overlap=overlap
    )


async def rotate_instrument_credentials(
    conn: AsyncConnection,
    instrument_id: str,
    *,
    token: bool = True,
    signing_key: bool = True,
    overlap: timedelta = timedelta(0),
) -> Credentials:
    """Like `rotate_merchant_credentials`, for a payment instrument."""
    return await _rotate(
        conn, instruments, instrument_id, token=token, signing_key=signing_key, overlap=overlap
    )


async def retire_previous_merchant_credentials(
    conn: AsyncConnection, merchant_id: str, *, token: bool = True, signing_key: bool = True
) -> None:
    """End the overlap now: the merchant's previous token and/or key stop working."""
    await _retire(conn, merchants, merchant_id, token=token, signing_key=signing_key)


async def retire_previous_instrument_credentials(
    conn: AsyncConnection, instrument_id: str, *, token: bool = True, signing_key: bool = True
) -> None:
    """Like `retire_previous_merchant_credentials`, for a payment instrument."""
    await _retire(conn, instruments, instrument_id, token=token, signing_key=signing_key)


async def _retire(
    conn: AsyncConnection, table: Table, account_id: str, *, token: bool, signing_key: bool
) -> None:
    values: dict[str, Any] = {}
    if token:
        values.update(previous_token_hash=None, previous_token_valid_until=None)
    if signing_key:
        values.update(previous_signing_key=None, previous_signing_key_valid_until=None)
    if not values:
        raise ValueError("nothing to retire")
    await _update_account(conn, table, account_id, values)


def _check_overlap(overlap: timedelta) -> None:
    if overlap < timedelta(0) or overlap > MAX_OVERLAP:
        raise ValueError(f"the overlap must be between 0 and {MAX_OVERLAP.days} days")


async def _rotate(
    conn: AsyncConnection,
    table: Table,
    account_id: str,
    *,
    token: bool,
    signing_key: bool,
    overlap: timedelta,
) -> Credentials:
    _check_overlap(overlap)
    now = clock.now()
    deadline = now + overlap if overlap else None
    new_token = signing.new_token() if token else ""
    new_key = signing.new_signing_key() if signing_key else ""
    values: dict[str, Any] = {}
    # Column references on the right read the row as it was before this UPDATE (SQL
    # semantics), so the current secret becomes the previous one in the same statement.
    if token:
        values.update(
            token_hash=signing.hash_token(new_token),
            token_created_at=now,
            previous_token_hash=table.c.token_hash if deadline else None,
            previous_token_valid_until=deadline,
        )
    if signing_key:
        values.update(
            signing_key=new_key,
            signing_key_created_at=now,
            previous_signing_key=table.c.signing_key if deadline else None,
            previous_signing_key_valid_until=deadline,
        )
    if not values:
        raise ValueError("nothing to rotate")
    account_id = await _update_account(conn, table, account_id, values)
    return Credentials(id=account_id, token=new_token, signing_key=new_key)


async def _update_account(
    conn: AsyncConnection, table: Table, account_id: str, values: dict[str, Any]
) -> str:
    if not ids.is_uuid(account_id):
        raise NoSuchAccount(account_id)
    account_id = ids.normalize_uuid(account_id)
    changed = await conn.execute(update(table).where(table.c.id == account_id).values(**values))
    if changed.rowcount != 1:
        raise NoSuchAccount(account_id)
    return account_id
