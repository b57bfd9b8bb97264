"""Body signatures (spec/notifications.md §3): lowercase hex HMAC of the exact bytes sent."""

from __future__ import annotations

import hashlib
import hmac
import secrets

ALGORITHMS = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
    "md5": hashlib.md5,
}
DEFAULT_ALGORITHM = "sha1"


def sign(body: bytes, key: str, algorithm: str = DEFAULT_ALGORITHM) -> str:
    return hmac.new(key.encode(), body, ALGORITHMS[algorithm]).hexdigest()


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
