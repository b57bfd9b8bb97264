"""The buyer's contact details, kept in a signed cookie and handed to mini-apps in init data.

The cookie holds ``base64url(JSON) . issued-at . HMAC-SHA256`` signed with
``settings.session_secret``; a cookie that is tampered with, signed with another secret or
older than MAX_AGE_SECONDS reads as "no buyer". Nothing is stored on the server. (Stdlib
`hmac` instead of itsdangerous or Starlette's SessionMiddleware: one cookie, one purpose, no
dependency and no app-wide middleware.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import asdict, dataclass

from marketbox.toolkit.i18n import N_

COOKIE_NAME = "mb_buyer"
MAX_AGE_SECONDS = 30 * 24 * 3600
MAX_NAME = 500
MAX_EMAIL = 100
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Buyer:
    name: str = ""
    email: str = ""
    phone: str = ""

    @property
    def is_empty(self) -> bool:
        return not (self.name or self.email or self.phone)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, message: str) -> str:
    return _b64(hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest())


def encode(buyer: Buyer, *, secret: str, now: float) -> str:
    body = _b64(json.dumps(asdict(buyer), ensure_ascii=False, separators=(",", ":")).encode())
    message = f"{body}.{int(now)}"
    return f"{message}.{_sign(secret, message)}"


def decode(value: str | None, *, secret: str, now: float) -> Buyer | None:
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
    return Buyer(
        name=str(data.get("name", ""))[:MAX_NAME],
        email=str(data.get("email", ""))[:MAX_EMAIL],
        phone=str(data.get("phone", ""))[:20],
    )


def normalize_phone(value: str) -> str | None:
    """«8 (999) 123-45-67», «+7 999…», «9991234567» -> «+79991234567»; other countries
    keep their digits after «+»; None when it is not a phone number."""
    raw = value.strip()
    digits = re.sub(r"[^0-9]", "", raw)  # ASCII digits only: "٣" or "１" are not phone digits
    if not digits:
        return None
    if len(digits) == 10 and digits[0] == "9" and not raw.startswith("+"):
        digits = "7" + digits
    elif len(digits) == 11 and digits[0] == "8" and not raw.startswith("+"):
        digits = "7" + digits[1:]
    if not 10 <= len(digits) <= 15:
        return None
    return "+" + digits


def clean(name: str, email: str, phone: str) -> tuple[Buyer, dict[str, str]]:
    """The buyer from form input plus errors by field (i18n keys); empty fields are fine."""
    errors: dict[str, str] = {}
    name = " ".join(name.split())[:MAX_NAME]
    email = email.strip()
    if email and (len(email) > MAX_EMAIL or not _EMAIL_RE.match(email)):
        errors["email"] = N_("buyer.error_email")
    normalized = normalize_phone(phone) if phone.strip() else ""
    if normalized is None:
        errors["phone"] = N_("buyer.error_phone")
    return Buyer(name=name, email=email, phone=normalized or ""), errors
