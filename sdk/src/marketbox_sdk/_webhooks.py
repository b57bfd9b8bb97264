"""Verifying and answering the platform's HTTP order notifications (notifications.md).

The platform POSTs an `OrderNotification` (JSON) with header `X-Signature` =
lowercase hex HMAC (SHA-1 by default) of the raw body bytes under the shop's signing key.
A receiver must:

1. verify the signature over the exact bytes received (never over re-serialized JSON):
   no header -> answer `out_of_service`, wrong -> `signature_error`;
2. check `merchantId` against its own;
3. answer the monitoring test notification (`id` = TEST_NOTIFICATION_ID) with success and
   no side effects;
4. compare amount and currency with its own order, then record the payment idempotently
   (same notification `id` again -> success);
5. always answer HTTP 200 with `{"status": "success"}` or
   `{"status": "error", "code": <NotificationErrorCode>, "message": ...}`.

`parse_notification` does 1-2, `NotificationReceiver` wraps 1-5 around your own handler.
The same HMAC signs requests of payment instruments to the platform (`compute_signature`).

Key rotation (marketbox): during a rotation's overlap `X-Signature` is made with the previous
key and `X-Signature-Next` with the new one. Give the verifier every key you accept (a list:
old and new); a notification passes when either header matches any of them, so a receiver
may switch to the new key at any moment of the overlap.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from . import _json
from ._errors import (
    InvalidNotification,
    InvalidSignature,
    MerchantMismatch,
    MissingSignature,
    NotificationError,
)
from ._models import TEST_NOTIFICATION_ID, Notification

__all__ = [
    "SIGNATURE_ALGORITHMS",
    "SIGNATURE_HEADER",
    "SIGNATURE_NEXT_HEADER",
    "TEST_NOTIFICATION_ID",
    "NotificationErrorCode",
    "NotificationReceiver",
    "compute_signature",
    "get_header",
    "is_paid",
    "parse_notification",
    "reply_error",
    "reply_success",
    "verify_signature",
]

logger = logging.getLogger("marketbox_sdk")

#: Name of the signature header (matched case-insensitively).
SIGNATURE_HEADER = "X-Signature"

#: The new key's signature during a key rotation's overlap (marketbox extension).
SIGNATURE_NEXT_HEADER = "X-Signature-Next"

#: One signing key, or every key accepted (the previous and the new one during a rotation).
Keys = str | bytes | Sequence[str | bytes]

#: Supported HMAC digest algorithms; `sha1` is the platform default.
SIGNATURE_ALGORITHMS = ("sha1", "sha256", "sha512", "md5")

#: Statuses that mean "paid": the docs use `completed`, real signed samples `success`.
PAID_STATUSES = frozenset({"completed", "success"})


class NotificationErrorCode(enum.StrEnum):
    """Error codes a shop may answer a notification with (notifications.md §5)."""

    #: Technical failure on the shop side; the platform retries (10 times within 24 h).
    OUT_OF_SERVICE = "out_of_service"
    #: The shop's order amount differs from the notification's amount.
    ORDER_WRONG_AMOUNT = "order_wrong_amount"
    #: The shop's order was already paid by another notification or instrument.
    ORDER_ALREADY_PAID = "order_already_paid"
    #: The shop does not know the order.
    ORDER_NOT_FOUND = "order_not_found"
    #: The goods cannot be delivered / the service cannot be rendered.
    SHIPPING_UNAVAILABLE = "shipping_unavailable"
    #: The signature check failed.
    SIGNATURE_ERROR = "signature_error"
    #: The shop does not support this order status.
    ORDER_WRONG_STATUS = "order_wrong_status"


def compute_signature(body: bytes, key: str | bytes, algorithm: str = "sha1") -> str:
    """Lowercase hex HMAC of `body` under `key` (UTF-8) with `algorithm` (sha1 by default)."""
    if not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError("body must be the raw bytes, not re-serialized text or parsed JSON")
    algorithm = algorithm.lower().replace("-", "")
    if algorithm not in SIGNATURE_ALGORITHMS:
        raise ValueError(
            f"unsupported signature algorithm {algorithm!r}; use one of {SIGNATURE_ALGORITHMS}"
        )
    key_bytes = key.encode("utf-8") if isinstance(key, str) else key
    return hmac.new(key_bytes, bytes(body), getattr(hashlib, algorithm)).hexdigest()


def verify_signature(
    body: bytes, signature: str | None, key: Keys, algorithm: str = "sha1"
) -> bool:
    """True if `signature` (hex, any case) is the HMAC of the exact `body` bytes under `key`,
    or under any of the keys when a list is given (old and new during a key rotation).

    Uses a constant-time comparison. A missing or empty signature is never valid.
    """
    if not signature:
        return False
    given = signature.strip().lower().encode("utf-8", "replace")
    matched = False
    for one in _keys(key):
        expected = compute_signature(body, one, algorithm).encode("ascii")
        matched |= hmac.compare_digest(expected, given)  # no early exit: same time for each
    return matched


def _keys(key: Keys) -> list[str | bytes]:
    keys = [key] if isinstance(key, str | bytes | bytearray) else list(key)
    if not keys:
        raise ValueError("give at least one signing key")
    return keys


def get_header(
    headers: Mapping[str, str] | Mapping[bytes, bytes] | Iterable[tuple[Any, Any]],
    name: str = SIGNATURE_HEADER,
) -> str | None:
    """Case-insensitive header lookup; `headers` may be a mapping or (name, value) pairs.

    Works with framework header objects, plain dicts, and ASGI scope headers
    (`list[tuple[bytes, bytes]]`). Returns the first match or None.
    """
    wanted = name.lower()
    items: Iterable[tuple[Any, Any]]
    if isinstance(headers, Mapping):
        multi = getattr(headers, "multi_items", None) or getattr(headers, "raw", None)
        items = multi() if callable(multi) else headers.items()
    else:
        items = headers
    for key, value in items:
        key_text = key.decode("latin-1") if isinstance(key, bytes | bytearray) else str(key)
        if key_text.lower() == wanted:
            return value.decode("latin-1") if isinstance(value, bytes | bytearray) else str(value)
    return None


def parse_notification(
    body: bytes,
    signature: str | None,
    key: Keys,
    *,
    merchant_id: str | None = None,
    algorithm: str = "sha1",
    signature_next: str | None = None,
) -> Notification:
    """Verify a notification's signature, then parse it into a `Notification`.

    `key` may be a list of keys (old and new during a key rotation); `signature_next` is the
    `X-Signature-Next` header, if any. Either signature matching any key passes.
    Raises `MissingSignature` (no signature), `InvalidSignature` (mismatch),
    `InvalidNotification` (not a JSON order notification) or `MerchantMismatch` (given
    `merchant_id` differs from the body's). Each error's `reply()` is the answer to send.
    Amounts are `Decimal`; the signature is checked over `body` exactly as received.
    """
    if not signature:
        raise MissingSignature(message="signature missing")
    if not verify_signature(body, signature, key, algorithm) and not verify_signature(
        body, signature_next, key, algorithm
    ):
        raise InvalidSignature(message="signature mismatch")
    try:
        data = _json.loads(body)
    except ValueError as exc:
        raise InvalidNotification(message=f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidNotification(message="body is not a JSON object")
    missing = [name for name in Notification.REQUIRED if data.get(name) is None]
    if missing:
        raise InvalidNotification(message=f"missing field(s): {', '.join(missing)}")
    try:
        notification = Notification.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise InvalidNotification(message=str(exc)) from exc
    if merchant_id is not None and notification.merchant_id != merchant_id:
        raise MerchantMismatch(message="notification is for another merchant")
    return notification


def is_paid(notification: Notification) -> bool:
    """True if the notification reports payment (`completed`, or `success` in real samples)."""
    return notification.status in PAID_STATUSES


def reply_success() -> dict[str, str]:
    """The success answer: `{"status": "success"}` (send with HTTP 200)."""
    return {"status": "success"}


def reply_error(
    code: NotificationErrorCode | str = NotificationErrorCode.OUT_OF_SERVICE,
    message: str | None = None,
) -> dict[str, str]:
    """An error answer `{"status": "error", "code": ..., "message": ...}` (send with HTTP 200).

    Only `out_of_service` makes the platform retry; the other codes are final.
    """
    body = {"status": "error", "code": str(NotificationErrorCode(code))}
    if message:
        body["message"] = message
    return body


Handler = Callable[[Notification], "dict[str, str] | Awaitable[dict[str, str] | None] | None"]


class NotificationReceiver:
    """Reference receiver (notifications.md §9) around your own handler.

    `handler(notification)` is called only for correctly signed notifications of this
    merchant that are not the monitoring test; it returns None (or a reply dict) for success
    and raises `NotificationError(NotificationErrorCode.X, "message")` to refuse. Any other
    exception is logged and answered with `out_of_service`, so the platform retries. The
    handler must be idempotent: a retry carries the same notification `id`.

        receiver = NotificationReceiver(key=SIGNING_KEY, merchant_id=MERCHANT_ID,
                                        handler=record_payment)
        reply = receiver.handle(raw_body, request.headers)   # always answer HTTP 200 + reply
    """

    def __init__(
        self,
        *,
        key: Keys,
        merchant_id: str,
        handler: Handler,
        algorithm: str = "sha1",
    ) -> None:
        for one in _keys(key):
            compute_signature(b"", one, algorithm)  # fail fast on a bad algorithm or key
        self.key = key
        self.merchant_id = merchant_id
        self.handler = handler
        self.algorithm = algorithm

    def _verify(
        self,
        body: bytes,
        headers: Mapping[str, str] | Mapping[bytes, bytes] | Iterable[tuple[Any, Any]],
    ) -> Notification:
        return parse_notification(
            body,
            get_header(headers, SIGNATURE_HEADER),
            self.key,
            merchant_id=self.merchant_id,
            algorithm=self.algorithm,
            signature_next=get_header(headers, SIGNATURE_NEXT_HEADER),
        )

    def handle(
        self,
        body: bytes,
        headers: Mapping[str, str] | Mapping[bytes, bytes] | Iterable[tuple[Any, Any]],
    ) -> dict[str, str]:
        """Process one notification synchronously and return the reply body (for HTTP 200)."""
        if inspect.iscoroutinefunction(self.handler):
            raise TypeError("the handler is async: use `await receiver.handle_async(...)`")
        try:
            notification = self._verify(body, headers)
            if notification.is_test:
                return reply_success()
            result = self.handler(notification)
            if inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()
                raise TypeError("the handler returned an awaitable: use handle_async")
            return result or reply_success()
        except NotificationError as exc:
            return exc.reply()
        except Exception:
            logger.exception("notification handler failed")
            return reply_error(NotificationErrorCode.OUT_OF_SERVICE)

    async def handle_async(
        self,
        body: bytes,
        headers: Mapping[str, str] | Mapping[bytes, bytes] | Iterable[tuple[Any, Any]],
    ) -> dict[str, str]:
        """Like `handle`, but awaits the handler if it is a coroutine function."""
        try:
            notification = self._verify(body, headers)
            if notification.is_test:
                return reply_success()
            result = self.handler(notification)
            if inspect.isawaitable(result):
                result = await result
            return result or reply_success()
        except NotificationError as exc:
            return exc.reply()
        except Exception:
            logger.exception("notification handler failed")
            return reply_error(NotificationErrorCode.OUT_OF_SERVICE)
