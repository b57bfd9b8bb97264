"""The office's session: a signed cookie, nothing stored on the server.

The cookie holds ``base64url(JSON) . issued-at . HMAC-SHA256`` under
``settings.session_secret`` (MARKETBOX_SESSION_SECRET; docs/office.md). The JSON carries the
user's id (empty before log-in) and the CSRF token every POST form of the office must echo.
A cookie that is tampered with, signed with another secret or older than MAX_AGE_SECONDS
reads as no session. The same scheme as the buyer's cookie (marketplace/session.py), with its
own purpose string, so one cookie can never be replayed as the other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from marketbox.toolkit import form_tokens

COOKIE_NAME = "mb_office"
MAX_AGE_SECONDS = 12 * 3600
_PURPOSE = "office-session"


@dataclass(frozen=True)
class Session:
    user_id: str  # "" before log-in
    csrf: str

    @classmethod
    def anonymous(cls) -> Session:
        return cls(user_id="", csrf=secrets.token_urlsafe(24))

    def logged_in(self, user_id: str) -> Session:
        """A new session for `user_id`: a fresh CSRF token at every log-in."""
        return Session(user_id=user_id, csrf=secrets.token_urlsafe(24))

    def accepts(self, csrf: object) -> bool:
        """Whether a form carried this session's token (as pages show it: masked per render,
        toolkit/form_tokens.py)."""
        return form_tokens.matches(self.csrf, csrf)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, message: str) -> str:
    key = hashlib.sha256(f"{_PURPOSE}:{secret}".encode()).digest()
    return _b64(hmac.new(key, message.encode(), hashlib.sha256).digest())


def encode(session: Session, *, secret: str, now: float) -> str:
    data = {"u": session.user_id, "c": session.csrf}
    message = f"{_b64(json.dumps(data, separators=(',', ':')).encode())}.{int(now)}"
    return f"{message}.{_sign(secret, message)}"


def decode(value: str | None, *, secret: str, now: float) -> Session | None:
    if not value or value.count(".") != 2:
        return None
    body, issued, signature = value.split(".")
    if not hmac.compare_digest(signature, _sign(secret, f"{body}.{issued}")):
        return None
    try:
        age = now - int(issued)
        data = json.loads(_unb64(body))
    except ValueError:
        return None
    if not 0 <= age <= MAX_AGE_SECONDS or not isinstance(data, dict):
        return None
    user_id, csrf = data.get("u"), data.get("c")
    if not isinstance(user_id, str) or not isinstance(csrf, str) or not csrf:
        return None
    return Session(user_id=user_id, csrf=csrf)
