"""Form tokens (CSRF) as pages show them: masked afresh on every render.

Pages are sent compressed (web/assets.CompressionMiddleware), and a compressed page that holds
a secret next to text an attacker can put into it (a search box's query, a filter from the URL)
tells the secret through the answer's size, one guessed character at a time (BREACH). A token
that is the same in every render is such a secret. So a page never shows the token itself but
`mask(token)`: a random pad and the token XOR the pad, new for every render, so no two renders
share the token's bytes. `matches` takes the masked form back (and, for a page rendered before
masking, the token itself: a raw token was never in a page that masks).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mask(token: str) -> str:
    """`token` behind a one-time pad: base64url(pad + (token XOR pad)), different every call."""
    raw = token.encode()
    pad = secrets.token_bytes(len(raw))
    return _b64(pad + bytes(a ^ b for a, b in zip(raw, pad, strict=True)))


def unmask(value: str) -> str | None:
    """The token `mask` hid in `value`; None for anything `mask` did not make."""
    try:
        data = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
    if not data or len(data) % 2:
        return None
    pad, masked = data[: len(data) // 2], data[len(data) // 2 :]
    try:
        return bytes(a ^ b for a, b in zip(masked, pad, strict=True)).decode()
    except UnicodeDecodeError:
        return None


def matches(token: str | None, submitted: object) -> bool:
    """Whether a submitted form value carries `token`, masked or as it is (constant time)."""
    if not token or not isinstance(submitted, str) or not submitted:
        return False
    try:
        expected, given = token.encode(), submitted.encode()
    except UnicodeEncodeError:  # a lone surrogate: not anything we rendered
        return False
    if hmac.compare_digest(expected, given):
        return True
    unmasked = unmask(submitted)
    return unmasked is not None and hmac.compare_digest(expected, unmasked.encode())
