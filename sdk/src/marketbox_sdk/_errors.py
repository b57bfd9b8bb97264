"""Exceptions raised by the SDK.

Every exception derives from `InvoiceboxError`. API errors are mapped from the response
envelope `{"error": {"code", "message", "fields": [...]}}`: a known `error.code` picks the
class; an unknown code falls back to `InvoiceboxError` itself (HTTP 429 and 5xx excepted,
which always map by status).

    InvoiceboxError                    base: code, message, fields, http_status, request_id
    ├── TransportError                 network failure or timeout, no HTTP answer
    ├── UnexpectedResponse             answer is not JSON or not the documented envelope
    ├── Unauthorized                   401  unauthorized
    ├── Forbidden                      403  forbidden
    ├── NotFound                       404  not_found
    │   └── InvoiceNotFound                 invoice_not_found (payment instruments)
    ├── ValidationError                422  validation_error (details in .fields)
    │   ├── AmountMismatch                  wrong_total_amount, wrong_total_vat_amount,
    │   │                                   wrong_basket_item_total_amount,
    │   │                                   wrong_basket_item_total_vat_amount,
    │   │                                   wrong_basket_item_amount_wo_vat
    │   ├── WrongExpirationDate             wrong_expiration_date
    │   ├── WrongCurrency                   wrong_currency
    │   ├── LanguageNotFound                language_not_found
    │   ├── SellerNotFound                  seller_not_found
    │   ├── WrongOrderStatus                wrong_order_status
    │   ├── DuplicateMerchantOrderId        merchant_order_id_duplicate
    │   └── InvoiceAlreadyPaid              invoice_already_paid (payment instruments)
    ├── RequestSignatureRejected       signature_error (signed payment-instrument request)
    ├── NotificationInFlight           409  notification_in_flight (marketbox: being sent now)
    ├── RateLimited                    429  .retry_after (seconds or None)
    ├── ServerError                    5xx
    │   └── OutOfService                    out_of_service
    └── NotificationError              incoming notification refused; .reply() gives the answer
        ├── MissingSignature                no X-Signature        -> out_of_service
        ├── InvalidSignature                signature mismatch    -> signature_error
        ├── InvalidNotification             body not a notification -> out_of_service
        └── MerchantMismatch                foreign merchantId    -> order_not_found
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = [
    "AmountMismatch",
    "DuplicateMerchantOrderId",
    "ErrorField",
    "Forbidden",
    "InvalidNotification",
    "InvalidSignature",
    "InvoiceAlreadyPaid",
    "InvoiceNotFound",
    "InvoiceboxError",
    "LanguageNotFound",
    "MerchantMismatch",
    "MissingSignature",
    "NotFound",
    "NotificationError",
    "NotificationInFlight",
    "OutOfService",
    "RateLimited",
    "RequestSignatureRejected",
    "SellerNotFound",
    "ServerError",
    "TransportError",
    "Unauthorized",
    "UnexpectedResponse",
    "ValidationError",
    "WrongCurrency",
    "WrongExpirationDate",
    "WrongOrderStatus",
    "error_from_response",
]


@dataclass(frozen=True, slots=True)
class ErrorField:
    """One per-field problem from `error.fields[]`: property `name`, machine `code`, `message`."""

    name: str
    code: str
    message: str = ""


class InvoiceboxError(Exception):
    """The API or the SDK reported an error."""

    #: Default `error.code` of the class (None for the base class).
    default_code: str | None = None

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        fields: Sequence[ErrorField] = (),
        http_status: int | None = None,
        request_id: str | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        self.message = message or (self.__doc__ or "").strip().splitlines()[0]
        self.code = code if code is not None else self.default_code
        self.fields: tuple[ErrorField, ...] = tuple(fields)
        self.http_status = http_status
        self.request_id = request_id
        self.response = response
        #: How many requests the client made before raising this (retries included).
        self.attempts = 1
        #: The `Idempotency-Key` the failed call carried (None for reads): repeat the call with
        #: it to get the first answer instead of running the write twice.
        self.idempotency_key: str | None = None
        super().__init__(self.message)

    @property
    def next_step(self) -> str | None:
        """What to do about this error, when the SDK knows (None otherwise)."""
        return None

    def _repeat_with_key(self) -> str:
        if not self.idempotency_key:
            return ""
        return (
            "; the write may or may not have happened: repeat it with "
            f"idempotency_key={self.idempotency_key!r} to get its result without running it twice"
        )

    def __str__(self) -> str:
        text = self.message
        if self.code:
            text = f"{text} [{self.code}]"
        if self.fields:
            text += " (" + ", ".join(f"{f.name}: {f.code}" for f in self.fields) + ")"
        if self.request_id:
            text += f" request_id={self.request_id}"
        if self.attempts > 1:
            text += f" (gave up after {self.attempts} attempts)"
        if self.next_step:
            text += f": {self.next_step}"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, code={self.code!r}, "
            f"http_status={self.http_status!r}, request_id={self.request_id!r})"
        )


class TransportError(InvoiceboxError):
    """The request did not get an HTTP answer (connection failure or timeout)."""

    @property
    def next_step(self) -> str | None:
        return "check base_url and the network, then retry" + self._repeat_with_key()


class UnexpectedResponse(InvoiceboxError):
    """The answer is not JSON or does not follow the documented response envelope."""

    default_code = "wrong_response"


class Unauthorized(InvoiceboxError):
    """The token is missing or not accepted."""

    default_code = "unauthorized"


class Forbidden(InvoiceboxError):
    """Access to this resource or object is denied."""

    default_code = "forbidden"


class NotFound(InvoiceboxError):
    """The object does not exist (or belongs to another merchant)."""

    default_code = "not_found"


class InvoiceNotFound(NotFound):
    """The payment instrument confirmed an invoice the platform does not know."""

    default_code = "invoice_not_found"


class ValidationError(InvoiceboxError):
    """The request does not satisfy the method's contract; see `fields` for details."""

    default_code = "validation_error"


class AmountMismatch(ValidationError):
    """Order or basket amounts are inconsistent (totals, VAT or amount without VAT)."""

    default_code = "wrong_total_amount"


class WrongExpirationDate(ValidationError):
    """`expirationDate` is invalid or already in the past."""

    default_code = "wrong_expiration_date"


class WrongCurrency(ValidationError):
    """`currencyId` is not supported."""

    default_code = "wrong_currency"


class LanguageNotFound(ValidationError):
    """`languageId` is not supported."""

    default_code = "language_not_found"


class SellerNotFound(ValidationError):
    """The seller of an agent order is not registered on the platform."""

    default_code = "seller_not_found"


class WrongOrderStatus(ValidationError):
    """The operation is not allowed in the order's current status."""

    default_code = "wrong_order_status"


class DuplicateMerchantOrderId(ValidationError):
    """`merchantOrderId` was already used for another order of this merchant."""

    default_code = "merchant_order_id_duplicate"


class InvoiceAlreadyPaid(ValidationError):
    """The invoice was already paid by another instrument or operation."""

    default_code = "invoice_already_paid"


class RequestSignatureRejected(InvoiceboxError):
    """The platform rejected the `X-Signature` of a signed request."""

    default_code = "signature_error"


class RateLimited(InvoiceboxError):
    """Too many requests (HTTP 429); wait `retry_after` seconds before trying again."""

    def __init__(self, message: str = "", *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after

    @property
    def next_step(self) -> str | None:
        if self.retry_after is not None:
            return f"wait {self.retry_after:g} s before trying again" + self._repeat_with_key()
        return "slow down and try again later" + self._repeat_with_key()


class ServerError(InvoiceboxError):
    """The server failed (HTTP 5xx); for a write the outcome is unknown: re-read first."""

    @property
    def next_step(self) -> str | None:
        return "try again later" + self._repeat_with_key()


class OutOfService(ServerError):
    """The platform is temporarily unable to process the request; retry later."""

    default_code = "out_of_service"


class NotificationError(InvoiceboxError):
    """An incoming notification is refused; `reply()` is the JSON body to answer with.

    Raise it (with any `NotificationErrorCode`) from a notification handler to answer the
    platform with `{"status": "error", "code": ..., "message": ...}`.
    """

    default_code = "out_of_service"

    def __init__(self, code: str | None = None, message: str | None = None) -> None:
        super().__init__(message or "", code=str(code) if code is not None else None)
        self.reply_message = message

    def reply(self) -> dict[str, str]:
        """The reply body for the platform (always sent with HTTP 200)."""
        body = {"status": "error", "code": str(self.code)}
        if self.reply_message:
            body["message"] = self.reply_message
        return body


class MissingSignature(NotificationError):
    """The notification has no X-Signature header."""

    default_code = "out_of_service"


class NotificationInFlight(InvoiceboxError):
    """The notification is being delivered right now; resend it once this attempt is logged."""

    default_code = "notification_in_flight"


class InvalidSignature(NotificationError):
    """The notification's X-Signature does not match its body."""

    default_code = "signature_error"


class InvalidNotification(NotificationError):
    """The (correctly signed) body is not a valid order notification."""

    default_code = "out_of_service"


class MerchantMismatch(NotificationError):
    """The notification is addressed to another merchant."""

    default_code = "order_not_found"


_AMOUNT_CODES = (
    "wrong_total_amount",
    "wrong_total_vat_amount",
    "wrong_basket_item_total_amount",
    "wrong_basket_item_total_vat_amount",
    "wrong_basket_item_amount_wo_vat",
)

_BY_CODE: dict[str, type[InvoiceboxError]] = {
    "unauthorized": Unauthorized,
    "forbidden": Forbidden,
    "not_found": NotFound,
    "invoice_not_found": InvoiceNotFound,
    "validation_error": ValidationError,
    **dict.fromkeys(_AMOUNT_CODES, AmountMismatch),
    "wrong_expiration_date": WrongExpirationDate,
    "wrong_currency": WrongCurrency,
    "language_not_found": LanguageNotFound,
    "seller_not_found": SellerNotFound,
    "wrong_order_status": WrongOrderStatus,
    "notification_in_flight": NotificationInFlight,
    "merchant_order_id_duplicate": DuplicateMerchantOrderId,
    "invoice_already_paid": InvoiceAlreadyPaid,
    "signature_error": RequestSignatureRejected,
    "out_of_service": OutOfService,
}

# Used only when the body carries no error code at all.
_BY_STATUS: dict[int, type[InvoiceboxError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    422: ValidationError,
}


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Parse a `Retry-After` header (seconds or HTTP-date) into seconds, or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.replace(".", "", 1).isdigit():  # seconds (fractions too)
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    current = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - current).total_seconds())


def _parse_fields(raw: Any) -> list[ErrorField]:
    fields: list[ErrorField] = []
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, Mapping):
                fields.append(
                    ErrorField(
                        name=str(item.get("name") or ""),
                        code=str(item.get("code") or ""),
                        message=str(item.get("message") or ""),
                    )
                )
    return fields


def error_from_response(response: httpx.Response, body: Any) -> InvoiceboxError:
    """Build the exception for an error answer; `body` is the parsed JSON (or None)."""
    status = response.status_code
    request_id = response.headers.get("x-request-id")
    error: Any = None
    if isinstance(body, Mapping):
        error = body.get("error")
        if not isinstance(error, Mapping) and "code" in body:
            error = body  # flat {"code", "message"} shape seen in some mocks
    code: str | None = None
    message = ""
    fields: list[ErrorField] = []
    if isinstance(error, Mapping):
        code = str(error["code"]) if error.get("code") else None
        message = str(error.get("message") or "")
        fields = _parse_fields(error.get("fields"))
    elif body is None and response.content:
        message = response.text[:500]

    cls: type[InvoiceboxError]
    if status == 429:
        cls = RateLimited
    elif code in _BY_CODE:
        cls = _BY_CODE[code]
    elif status >= 500:
        cls = ServerError
    elif code is None:
        cls = _BY_STATUS.get(status, InvoiceboxError)
    else:
        cls = InvoiceboxError
    if not message:
        message = response.reason_phrase or f"HTTP {status}"
    kwargs: dict[str, Any] = {
        "code": code,
        "fields": fields,
        "http_status": status,
        "request_id": request_id,
        "response": response,
    }
    if cls is RateLimited:
        kwargs["retry_after"] = parse_retry_after(response.headers.get("retry-after"))
    return cls(message, **kwargs)
