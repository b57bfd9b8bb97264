"""Office users: creation (the operator's CLI), invites, passwords and log-in (docs/office.md).

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second recommended
profile); a hash made under older parameters is replaced at the next successful log-in. An
invite is a random token whose SHA-256 is stored; the link `/office/invite/{token}` works
once, until it expires, and sets the user's password.

    user created (no password) --invite--> password set by the link
    user created with a password (CLI --password-stdin, the sandbox's demo user)
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, ids
from marketbox.errors import Conflict, FieldError, NotFound, ValidationFailed
from marketbox.merchants import service as merchants_service
from marketbox.office import repository

ROLES = ("merchant", "operator")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # argon2 takes any length; a megabyte "password" is only a CPU cost
INVITE_TTL = timedelta(days=7)
DEMO_EMAIL = "demo@marketbox.test"
DEMO_PASSWORD = "demo"  # documented in README.md; sandbox only (bootstrap.py)
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the e-mail is unknown, so a wrong address costs the same time as
    a wrong password and the answer's timing does not tell which accounts exist."""
    return _hasher.hash(secrets.token_urlsafe(16))


class UserExists(Conflict):
    code = "office_user_exists"
    message = "An office user with this e-mail exists"


class MerchantNotFound(NotFound):
    code = "merchant_not_found"
    message = "No merchant with this id"


class InviteInvalid(NotFound):
    code = "invite_invalid"
    message = "The invite link is unknown, used or expired"


class BadPassword(ValidationFailed):
    code = "password_invalid"
    message = f"A password has {MIN_PASSWORD} to {MAX_PASSWORD} characters"


class BadEmail(ValidationFailed):
    code = "email_invalid"
    message = "Not an e-mail address"


@dataclass(frozen=True)
class OfficeUser:
    id: str
    email: str
    merchant_id: str | None
    role: str


def _user(row: object) -> OfficeUser:
    m = row._mapping  # type: ignore[attr-defined]
    return OfficeUser(id=m["id"], email=m["email"], merchant_id=m["merchant_id"], role=m["role"])


def normalize_email(email: str) -> str:
    value = email.strip().lower()
    if len(value) > 320 or not _EMAIL_RE.match(value):
        raise BadEmail(fields=[FieldError("email", "invalid", "not an e-mail address")])
    return value


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise BadPassword(fields=[FieldError("password", "invalid", BadPassword.message)])
    return password


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_user(
    conn: AsyncConnection,
    *,
    email: str,
    merchant_id: str,
    role: str = "merchant",
    password: str | None = None,
) -> OfficeUser:
    """A user of `merchant_id`'s office; without a password it can log in only after an
    invite. The password, when given, is checked (MIN_PASSWORD) and hashed."""
    if role not in ROLES:
        raise ValidationFailed(fields=[FieldError("role", "invalid", "merchant or operator")])
    address = normalize_email(email)
    if await merchants_service.get_merchant(conn, merchant_id) is None:
        raise MerchantNotFound()
    if await repository.user_by_email(conn, address) is not None:
        raise UserExists()
    password_hash = _hasher.hash(check_password(password)) if password is not None else None
    return await _insert(conn, address, merchant_id, role, password_hash)


async def _insert(
    conn: AsyncConnection, email: str, merchant_id: str, role: str, password_hash: str | None
) -> OfficeUser:
    row = await repository.insert_user(
        conn,
        {
            "id": ids.new_id(),
            "email": email,
            "password_hash": password_hash,
            "merchant_id": merchant_id,
            "role": role,
            "created_at": clock.now(),
        },
    )
    return _user(row)


async def invite(conn: AsyncConnection, *, email: str, merchant_id: str) -> str:
    """An invite token for `email` (the user is created if new); the link sets its password."""
    address = normalize_email(email)
    if await merchants_service.get_merchant(conn, merchant_id) is None:
        raise MerchantNotFound()
    row = await repository.user_by_email(conn, address)
    if row is None:
        user = await _insert(conn, address, merchant_id, "merchant", None)
    else:
        user = _user(row)
        if user.merchant_id != merchant_id:
            raise UserExists("This e-mail belongs to another merchant's office")
    token = secrets.token_urlsafe(32)
    now = clock.now()
    await repository.insert_invite(
        conn,
        {
            "token_hash": _token_hash(token),
            "user_id": user.id,
            "expires_at": now + INVITE_TTL,
            "created_at": now,
        },
    )
    return token


async def invited_user(conn: AsyncConnection, token: str) -> OfficeUser:
    """The user a live invite is for (the invite page shows the address); else InviteInvalid."""
    invite_row = await repository.live_invite(conn, _token_hash(token), clock.now())
    row = invite_row and await repository.user_by_id(conn, invite_row._mapping["user_id"])
    if not row:
        raise InviteInvalid()
    return _user(row)


async def accept_invite(conn: AsyncConnection, *, token: str, password: str) -> OfficeUser:
    """Set the password through a live invite, which is used up; the user may log in."""
    check_password(password)
    invite_row = await repository.use_invite(conn, _token_hash(token), clock.now())
    if invite_row is None:
        raise InviteInvalid()
    user_id = invite_row._mapping["user_id"]
    await repository.set_password(conn, user_id, _hasher.hash(password))
    return _user(await repository.user_by_id(conn, user_id))


async def authenticate(conn: AsyncConnection, *, email: str, password: str) -> OfficeUser | None:
    """The user whose e-mail and password these are, else None (which of the two was wrong is
    not told)."""
    address = email.strip().lower()
    row = await repository.user_by_email(conn, address) if len(address) <= 320 else None
    stored = row._mapping["password_hash"] if row is not None else None
    try:
        _hasher.verify(stored or _dummy_hash(), password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return None
    if row is None or stored is None:
        return None
    if _hasher.check_needs_rehash(stored):
        await repository.set_password(conn, row._mapping["id"], _hasher.hash(password))
    return _user(row)


async def get_user(conn: AsyncConnection, user_id: str) -> OfficeUser | None:
    """The session's user, read on every request: a deleted user's cookie opens nothing."""
    if not user_id:
        return None
    row = await repository.user_by_id(conn, user_id)
    return _user(row) if row is not None else None


async def seed_demo_user(conn: AsyncConnection) -> bool:
    """The documented demo user of the demo shop (sandbox only; the caller checks). Its
    password is shorter than MIN_PASSWORD on purpose: it is printed in the README."""
    if await repository.user_by_email(conn, DEMO_EMAIL) is not None:
        return False
    await _insert(
        conn,
        DEMO_EMAIL,
        merchants_service.DEMO_MERCHANT_ID,
        "merchant",
        _hasher.hash(DEMO_PASSWORD),
    )
    return True
