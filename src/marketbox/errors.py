"""Errors we raise on purpose, rendered as the Invoicebox error envelope (spec/api.md §3, §4).

    AppError                         500-free business refusals, each with a stable `code`
    ├── BadRequest                   400 validation_error (malformed JSON, not an object)
    ├── Unauthorized                 401 unauthorized
    ├── Forbidden                    403 forbidden
    ├── NotFound                     404 not_found (also another merchant's object)
    ├── MethodNotAllowed             405 method_not_allowed
    ├── ValidationFailed             422 validation_error, per-field details in `fields`
    │   └── (domain codes)           422 wrong_total_amount, wrong_order_status, ...
    ├── Conflict                     409 state conflicts outside the Invoicebox code list
    ├── PayloadTooLarge              413 payload_too_large (body above MARKETBOX_MAX_BODY_BYTES)
    └── RateLimited                  429 (no code in the real API; we send `rate_limited`)

The envelope is ``{"error": {"message", "code", "fields": [{"name", "code", "message"}]}}``.
Domain packages subclass these and set ``code``/``status``/``message`` as class attributes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldError:
    name: str
    code: str = "wrong_value"
    message: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "code": self.code, "message": self.message}


class AppError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "error"
    message: ClassVar[str] = "Error"

    def __init__(
        self,
        message: str | None = None,
        *,
        fields: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.detail = message or self.message
        self.fields = fields or []
        self.headers = headers or {}
        super().__init__(self.detail)

    def envelope(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.detail,
                "code": self.code,
                "fields": [f.as_dict() for f in self.fields],
            }
        }


class BadRequest(AppError):
    status = 400
    code = "validation_error"
    message = "Malformed request"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"
    message = "Unauthorized"


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    message = "Forbidden"


class NotFound(AppError):
    status = 404
    code = "not_found"
    message = "Not found"


class MethodNotAllowed(AppError):
    status = 405
    code = "method_not_allowed"
    message = "Method not allowed"


class ValidationFailed(AppError):
    status = 422
    code = "validation_error"
    message = "Validation error"


class Conflict(AppError):
    status = 409
    code = "conflict"
    message = "Conflict"


class PayloadTooLarge(AppError):
    """The request body is larger than the configured limit (MARKETBOX_MAX_BODY_BYTES)."""

    status = 413
    code = "payload_too_large"
    message = "Request body too large"


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    message = "Too Many Requests"
