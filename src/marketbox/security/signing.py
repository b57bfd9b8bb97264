"""Body signatures (spec/notifications.md §3): lowercase hex HMAC of the exact bytes sent."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

ALGORITHMS = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
    "md5": hashlib.md5,
}
DEFAULT_ALGORITHM = "sha1"


def sign(body: bytes, key: str, algorithm: str = DEFAULT_ALGORITHM) -> str:
    if algorithm not in ALGORITHMS:
        raise KeyError(algorithm)
    # One call into OpenSSL, without an HMAC object (a payment signs and verifies several).
    return hmac.digest(key.encode(), body, algorithm).hex()


def verify(
    body: bytes, signature: str | None, key: str, algorithm: str = DEFAULT_ALGORITHM
) -> bool:
    if not signature:
        return False
    expected = sign(body, key, algorithm)
    return hmac.compare_digest(expected, signature.strip().lower())


def hash_token(token: str) -> str:
    """Tokens are stored as SHA-256: they are long random secrets, so no slow KDF is needed."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_hex(16)


def new_signing_key() -> str:
    return secrets.token_hex(16)


def keys_in_force(
    current: str, previous: str | None, previous_valid_until: datetime | None, now: datetime
) -> tuple[str, str | None]:
    """The keys a notification is signed with now: (`X-Signature`, `X-Signature-Next`).

    During a rotation's overlap the shop may not have switched yet, so `X-Signature` keeps
    the previous key and the new one goes in `X-Signature-Next`; afterwards only the current
    key signs (docs/notifications.md "Key rotation").
    """
    if previous and previous_valid_until is not None and now < previous_valid_until:
        return previous, current
    return current, None


def fingerprint(secret: str) -> str:
    """What names a token or a key without revealing it: the first 16 hex digits of its
    SHA-256 (for a token, the start of its stored hash)."""
    return hash_token(secret)[:16]
