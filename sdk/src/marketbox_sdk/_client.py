"""HTTP clients: `Client` / `AsyncClient` (merchant API) and `InstrumentClient` /
`AsyncInstrumentClient` (payment-instrument API with signed requests).

Each public method first builds a `_Call` (the HTTP request plus how to read its answer) in
the shared base class; the sync and async classes only differ in how they send it, so the two
stay identical. Every answer goes through `_read_envelope`: an `error` object or an HTTP
status >= 400 raises the mapped `InvoiceboxError`, a success must carry `data`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import platform
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar
from urllib.parse import quote

import httpx

from . import _json
from ._errors import (
    InvoiceboxError,
    TransportError,
    UnexpectedResponse,
    ValidationError,
    error_from_response,
    parse_retry_after,
)
from ._models import (
    AuthInfo,
    BasketItem,
    Counterparty,
    CreateOrder,
    CreateRefund,
    CreateShipment,
    Credentials,
    Customer,
    Invoice,
    InvoicePayment,
    MailMessage,
    Model,
    NotificationRecord,
    NotificationTestResult,
    Order,
    Page,
    PaymentCodeResult,
    PaymentCodeSent,
    PaymentMethodCheck,
    PaymentOrder,
    Refund,
    SandboxClock,
    SandboxReset,
    SandboxTrigger,
    Shipment,
    Shop,
    ShopFields,
    SpecialOffer,
    UpdateOrder,
)
from ._query import OrderBy, build_query
from ._version import __version__
from ._webhooks import SIGNATURE_HEADER, compute_signature

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "AsyncClient",
    "AsyncInstrumentClient",
    "Client",
    "InstrumentClient",
    "full_refund_lines",
]

#: The production Invoicebox API; point `base_url` at a marketbox server to use that instead.
DEFAULT_BASE_URL = "https://api.invoicebox.ru"
#: Default timeout: 30 s overall, 10 s to connect.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
#: How many times a failed call is repeated by default (so at most 3 requests).
DEFAULT_MAX_RETRIES = 2

#: A per-call `timeout=`: seconds, an `httpx.Timeout`, or None for the client's own.
Timeout = httpx.Timeout | float | None

_ORDER = "/v3/billing/api/order/order"
_ORDER_LIST = "/v3/filter/api/order/order"
_SANDBOX = "/v3/sandbox/api"
#: What a sandbox trigger can do to an order (marketbox only; docs/sandbox.md).
SANDBOX_TRIGGERS = ("pay", "decline", "hold", "expire")
_SHOP = "/v3/marketplace/api/shop"
_SPECIAL_OFFER = "/v3/marketplace/api/special-offer"
_INVOICE = "/v3/payment/api/invoice"
_COUNTERPARTY = "/v3/filter/api/counterparty-detail"
_REFUND = "/v3/billing/api/order/refund-order"
_REFUND_LIST = "/v3/filter/api/order/refund-order"
_CORRECTION = "/v3/billing/api/order/correction-order"
_SHIPMENT = "/v3/billing/api/order/shipment"
_SHIPMENT_LIST = "/v3/filter/api/order/shipment"
_NOTIFICATION = "/v3/notification/api/notification"
_NOTIFICATION_TEST = "/v3/notification/api/test"
_MAIL_MESSAGE = "/v3/mail/api/message"
#: Page size of the `iterate_*` auto-paging iterators (the platform's maximum).
ITERATE_PAGE_SIZE = 100

R = TypeVar("R")
M = TypeVar("M", bound=Model)


_CREDENTIALS = "/v3/security/api/credentials"
#: The longest overlap a rotation may keep the previous token and key working (7 days).
MAX_OVERLAP_SECONDS = 7 * 24 * 3600
DEFAULT_OVERLAP = dt.timedelta(hours=24)


def _which(token: bool, signing_key: bool) -> list[str]:
    names = [name for name, chosen in (("token", token), ("signingKey", signing_key)) if chosen]
    if not names:
        raise ValueError("choose the token, the signing key or both")
    return names


def _seg(value: str | int) -> str:
    """One URL path segment (ids are UUIDs or ints; quote anything else)."""
    return quote(str(value), safe="")


def _default_user_agent() -> str:
    return (
        f"marketbox-sdk/{__version__} "
        f"(Python {platform.python_version()}; httpx {httpx.__version__})"
    )


@dataclasses.dataclass(frozen=True)
class _Call(Generic[R]):
    method: str
    path: str
    parse: Callable[[dict[str, Any]], R]
    params: tuple[tuple[str, str], ...] | None = None
    body: bytes | None = None
    headers: dict[str, str] | None = None


def _keyed(call: _Call[R], idempotency_key: str | None) -> _Call[R]:
    """`call` with an `Idempotency-Key` header (a marketbox extension: the same key and
    request again get the stored answer instead of running twice; see docs/api.md)."""
    if idempotency_key is None:
        return call
    if (
        not isinstance(idempotency_key, str)
        or not 1 <= len(idempotency_key) <= 255
        or not all(" " <= ch <= "~" for ch in idempotency_key)
        or not idempotency_key.strip()
    ):
        raise ValueError("idempotency_key must be 1 to 255 printable ASCII characters")
    return dataclasses.replace(
        call, headers={**(call.headers or {}), "Idempotency-Key": idempotency_key}
    )


_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# No answer, or the connection broke: worth another try (a bad URL scheme is not).
_RETRIED_EXCEPTIONS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def _with_key(call: _Call[R]) -> _Call[R]:
    """A mutating `call` without an `Idempotency-Key` gets a fresh one (a UUID), so that it is
    safe to repeat: every retry of it sends the same key and the platform answers a repeat
    with the stored answer instead of running it twice (stripe-python does the same)."""
    if call.method not in _MUTATING or "Idempotency-Key" in (call.headers or {}):
        return call
    return dataclasses.replace(
        call, headers={**(call.headers or {}), "Idempotency-Key": str(uuid.uuid4())}
    )


def _retryable(error: InvoiceboxError) -> bool:
    """Errors a repeat may cure: no answer, 429, a 5xx other than 501, and a 409 saying the
    same key is still being processed."""
    if isinstance(error, TransportError):
        return isinstance(error.__cause__, _RETRIED_EXCEPTIONS)
    status = error.http_status
    if status is None:
        return False
    if status == 409:
        return error.code == "idempotency_key_in_use"
    return status == 429 or (500 <= status < 600 and status != 501)


def _check_max_retries(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("max_retries must be an int >= 0")
    return value


def _many(model: type[M]) -> Callable[[dict[str, Any]], list[M]]:
    def parse(envelope: dict[str, Any]) -> list[M]:
        data = envelope.get("data")
        if not isinstance(data, list):
            raise UnexpectedResponse("expected a list in `data`")
        try:
            return [model.from_dict(item) for item in data]
        except (TypeError, ValueError, AttributeError) as exc:
            raise UnexpectedResponse(f"cannot read {model.__name__} list: {exc}") from exc

    return parse


def _more_pages(page: Page[Any], number: int, size: int) -> bool:
    """Does a page after page `number` exist? (The server may cap the page size it was asked.)"""
    if not page.items:
        return False
    size = page.page_size or size
    if page.total_count is not None:
        return number * size < page.total_count
    return len(page.items) >= size


def _data_object(envelope: dict[str, Any]) -> Mapping[str, Any]:
    data = envelope.get("data")
    if not isinstance(data, Mapping):
        raise UnexpectedResponse("expected an object in `data`")
    return data


def _one(model: type[M]) -> Callable[[dict[str, Any]], M]:
    def parse(envelope: dict[str, Any]) -> M:
        try:
            return model.from_dict(_data_object(envelope))
        except (TypeError, ValueError) as exc:
            raise UnexpectedResponse(f"cannot read {model.__name__}: {exc}") from exc

    return parse


def _page(model: type[M]) -> Callable[[dict[str, Any]], Page[M]]:
    def parse(envelope: dict[str, Any]) -> Page[M]:
        data = envelope.get("data")
        if not isinstance(data, list):
            raise UnexpectedResponse("expected a list in `data`")
        meta = envelope.get("metaData")
        meta = meta if isinstance(meta, Mapping) else {}
        try:
            items = [model.from_dict(item) for item in data]
        except (TypeError, ValueError, AttributeError) as exc:
            raise UnexpectedResponse(f"cannot read {model.__name__} list: {exc}") from exc

        def meta_int(name: str) -> int | None:
            value = meta.get(name)
            return int(value) if isinstance(value, int | str) and str(value).isdigit() else None

        return Page(
            items=items,
            total_count=meta_int("totalCount"),
            page=meta_int("page"),
            page_size=meta_int("pageSize"),
        )

    return parse


def _read_envelope(response: httpx.Response) -> dict[str, Any]:
    """Decode the JSON envelope of `response`; raise the mapped error for error answers."""
    body: Any
    try:
        body = _json.loads(response.content) if response.content else None
    except ValueError:
        body = None
    if response.status_code >= 400 or (isinstance(body, dict) and "error" in body):
        raise error_from_response(response, body)
    request_id = response.headers.get("x-request-id")
    if not isinstance(body, dict) or "data" not in body:
        raise UnexpectedResponse(
            "answer is not the JSON envelope {data: ...}",
            http_status=response.status_code,
            request_id=request_id,
            response=response,
        )
    return body


class _Base:
    """Configuration and request building shared by all clients."""

    #: First backoff delay in seconds; each retry doubles it (with jitter: 50-100 % of it).
    retry_delay: float = 0.5
    #: The longest backoff delay in seconds.
    max_retry_delay: float = 8.0
    #: The longest `Retry-After` the client waits for; a server asking more gets no retry
    #: (the error's `retry_after` says when to come back).
    max_retry_after: float = 60.0

    def __init__(
        self,
        token: str | None,
        *,
        base_url: str,
        timeout: httpx.Timeout | float | None,
        user_agent: str | None,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout if timeout is not None else DEFAULT_TIMEOUT
        self.max_retries = _check_max_retries(max_retries)
        ua = _default_user_agent()
        self.headers: dict[str, str] = {
            "Accept": "application/json",
            # Docs require it on every request; real servers accept it on GET/DELETE too.
            "Content-Type": "application/json",
            "User-Agent": f"{user_agent} {ua}" if user_agent else ua,
        }
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def __repr__(self) -> str:  # never show the token
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    @staticmethod
    def _body(payload: Any) -> bytes:
        return _json.dumps(payload).encode("utf-8")

    def _request(
        self, client: httpx.Client | httpx.AsyncClient, call: _Call[Any], timeout: Timeout
    ) -> httpx.Request:
        headers = dict(call.headers or {})
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        return client.build_request(
            call.method,
            call.path,
            params=call.params,
            content=call.body,
            headers=headers,
            **extra,
        )

    def _retries(self, max_retries: int | None) -> int:
        return self.max_retries if max_retries is None else _check_max_retries(max_retries)

    def _retry_delay(
        self, call: _Call[Any], error: InvoiceboxError, done: int, allowed: int
    ) -> float | None:
        """Seconds to wait before repeating `call` after its `done + 1`-th failure `error`, or
        None to give up (then `error` learns how many attempts were made, and its key)."""
        retry_after = None
        if error.response is not None:
            retry_after = parse_retry_after(error.response.headers.get("retry-after"))
        safe = call.method == "GET" or "Idempotency-Key" in (call.headers or {})
        # A server asking for a longer pause than max_retry_after gets it from the caller.
        too_long = retry_after is not None and retry_after > self.max_retry_after
        if done < allowed and safe and not too_long and _retryable(error):
            backoff = min(self.max_retry_delay, self.retry_delay * 2.0**done)
            delay = backoff * (0.5 + random.random() / 2)  # jitter: 50-100 %
            return delay if retry_after is None else max(delay, retry_after)
        error.attempts = done + 1
        error.idempotency_key = (call.headers or {}).get("Idempotency-Key")
        return None

    def _iterate_calls(
        self, make: Callable[[int, int], _Call[Page[M]]], page_size: int | None
    ) -> tuple[int, Callable[[int], _Call[Page[M]]]]:
        size = ITERATE_PAGE_SIZE if page_size is None else page_size
        make(1, size)  # fail fast on bad filters, before the first request
        return size, lambda number: make(number, size)

    # -- merchant API calls (used by Client / AsyncClient) ------------------------------------

    def _check_auth(self) -> _Call[AuthInfo]:
        return _Call("GET", "/v3/security/api/auth/auth", _one(AuthInfo))

    # marketbox extension: credentials and notification settings (docs/api.md).

    def _credentials(self) -> _Call[Credentials]:
        return _Call("GET", _CREDENTIALS, _one(Credentials))

    def _rotate_credentials(
        self, token: bool, signing_key: bool, overlap: dt.timedelta | int
    ) -> _Call[Credentials]:
        seconds = overlap if isinstance(overlap, int) else overlap.total_seconds()
        if seconds != int(seconds) or not 0 <= seconds <= MAX_OVERLAP_SECONDS:
            raise ValueError("overlap must be whole seconds from 0 to 7 days")
        body = {"credentials": _which(token, signing_key), "overlapSeconds": int(seconds)}
        return _Call("POST", f"{_CREDENTIALS}/rotate", _one(Credentials), body=self._body(body))

    def _retire_previous_credentials(self, token: bool, signing_key: bool) -> _Call[Credentials]:
        body = {"credentials": _which(token, signing_key)}
        path = f"{_CREDENTIALS}/retire-previous"
        return _Call("POST", path, _one(Credentials), body=self._body(body))

    def _set_notification(
        self,
        url: str | None,
        algorithm: str | None,
        shipping_control: bool | None = None,
        shipping_control_timeout: int | None = None,
    ) -> _Call[Credentials]:
        body: dict[str, Any] = {"notificationUrl": url}
        if algorithm is not None:
            body["signatureAlgorithm"] = algorithm
        if shipping_control is not None:
            body["shippingControl"] = shipping_control
        if shipping_control_timeout is not None:
            body["shippingControlTimeoutSeconds"] = shipping_control_timeout
        path = "/v3/security/api/notification"
        return _Call("PUT", path, _one(Credentials), body=self._body(body))

    def _create_order(self, order: CreateOrder) -> _Call[Order]:
        if not isinstance(order, CreateOrder):
            raise TypeError("order must be a CreateOrder")
        return _Call("POST", _ORDER, _one(Order), body=self._body(order.to_dict()))

    def _get_order(self, order_id: str) -> _Call[Order]:
        return _Call("GET", f"{_ORDER}/{_seg(order_id)}", _one(Order))

    def _list_orders(
        self,
        page: int | None,
        page_size: int | None,
        order_by: OrderBy,
        filters: Mapping[str, Any] | None,
        conditions: Mapping[str, Any],
    ) -> _Call[Page[Order]]:
        params = build_query(
            conditions=conditions,
            filters=filters,
            order_by=order_by,
            page=page,
            page_size=page_size,
        )
        return _Call("GET", _ORDER_LIST, _page(Order), params=tuple(params))

    def _update_order(self, order_id: str, update: UpdateOrder) -> _Call[Order]:
        body = self._body(update.to_dict())
        return _Call("PUT", f"{_ORDER}/{_seg(order_id)}", _one(Order), body=body)

    def _cancel_order(self, order_id: str) -> _Call[Order]:
        return _Call("DELETE", f"{_ORDER}/{_seg(order_id)}", _one(Order))

    def _set_order_status(self, order_id: str, status: str) -> _Call[Order]:
        body = self._body({"status": str(status)})
        path = f"/v3/billing/api/order/{_seg(order_id)}/status"
        return _Call("PUT", path, _one(Order), body=body)

    def _create_shop(self, fields: ShopFields) -> _Call[Shop]:
        if not fields.title:
            raise ValueError("title is required to create a shop")
        return _Call("POST", _SHOP, _one(Shop), body=self._body(fields.to_dict()))

    def _update_shop(self, shop_id: int, fields: ShopFields) -> _Call[Shop]:
        body = self._body(fields.to_dict())
        return _Call("POST", f"{_SHOP}/{_seg(shop_id)}", _one(Shop), body=body)

    def _get_shop(self, shop_id: int) -> _Call[Shop]:
        return _Call("GET", f"{_SHOP}/{_seg(shop_id)}", _one(Shop))

    def _rotate_launch_secret(self, shop_id: int, overlap_seconds: int | None) -> _Call[Shop]:
        payload = {} if overlap_seconds is None else {"overlapSeconds": overlap_seconds}
        path = f"{_SHOP}/{_seg(shop_id)}/launch-secret/rotate"
        return _Call("POST", path, _one(Shop), body=self._body(payload))

    def _upsert_special_offer(self, offer: SpecialOffer) -> _Call[SpecialOffer]:
        payload = offer.to_dict()
        payload.pop("id", None)
        return _Call("POST", _SPECIAL_OFFER, _one(SpecialOffer), body=self._body(payload))

    def _lookup_company(
        self, vat_number: str, page: int | None, page_size: int | None
    ) -> _Call[Page[Counterparty]]:
        params = [("vatNumber", str(vat_number))]
        params += build_query(page=page, page_size=page_size)
        return _Call("GET", _COUNTERPARTY, _page(Counterparty), params=tuple(params))

    def _payment_method_action(
        self,
        order_id: str,
        action: str,
        parse: Callable[[dict[str, Any]], R],
        payment_method_id: str,
        customer: Customer,
        language_id: str | None,
        payment_data: dict[str, str] | None = None,
    ) -> _Call[R]:
        if not isinstance(customer, Customer):
            raise TypeError("customer must be a Customer")
        payload: dict[str, Any] = {
            "paymentMethodId": str(payment_method_id),
            "customer": customer.to_dict(),
        }
        if language_id is not None:
            payload["languageId"] = language_id
        if payment_data is not None:
            payload["customerPaymentData"] = payment_data
        path = f"/v3/billing/api/order/{_seg(order_id)}/payment-method-action/{action}"
        return _Call("POST", path, parse, body=self._body(payload))

    def _validate_payment_method(
        self, order_id: str, payment_method_id: str, customer: Customer, language_id: str | None
    ) -> _Call[PaymentMethodCheck]:
        return self._payment_method_action(
            order_id,
            "validate",
            _one(PaymentMethodCheck),
            payment_method_id,
            customer,
            language_id,
        )

    def _send_payment_code(
        self, order_id: str, payment_method_id: str, customer: Customer, language_id: str | None
    ) -> _Call[PaymentCodeSent]:
        return self._payment_method_action(
            order_id, "send-code", _one(PaymentCodeSent), payment_method_id, customer, language_id
        )

    def _pay_with_code(
        self,
        order_id: str,
        payment_method_id: str,
        customer: Customer,
        public_code: str,
        code: str,
        language_id: str | None,
    ) -> _Call[PaymentCodeResult]:
        return self._payment_method_action(
            order_id,
            "pay",
            _one(PaymentCodeResult),
            payment_method_id,
            customer,
            language_id,
            {"publicCode": str(public_code), "code": str(code)},
        )

    # -- after payment: refunds, corrections, shipments (api.md §9, §10) ---------------------

    def _refundable_items(self, order_id: str) -> _Call[list[BasketItem]]:
        path = f"{_ORDER}/{_seg(order_id)}/refund-basket-item"
        return _Call("GET", path, _many(BasketItem))

    def _create_refund(self, refund: CreateRefund) -> _Call[Refund]:
        if not isinstance(refund, CreateRefund):
            raise TypeError("refund must be a CreateRefund")
        if refund.status not in (None, "created", "draft"):
            raise ValueError("status of a new refund is 'created' (default) or 'draft'")
        return _Call("POST", _REFUND, _one(Refund), body=self._body(refund.to_dict()))

    def _list_refunds(
        self,
        page: int | None,
        page_size: int | None,
        order_by: OrderBy,
        filters: Mapping[str, Any] | None,
        conditions: Mapping[str, Any],
    ) -> _Call[Page[Refund]]:
        params = build_query(
            conditions=conditions,
            filters=filters,
            order_by=order_by,
            page=page,
            page_size=page_size,
        )
        return _Call("GET", _REFUND_LIST, _page(Refund), params=tuple(params))

    def _cancel_refund(self, refund_id: str) -> _Call[Refund]:
        return _Call("DELETE", f"{_ORDER}/{_seg(refund_id)}", _one(Refund))

    def _create_correction(self, correction: CreateOrder) -> _Call[Order]:
        if not isinstance(correction, CreateOrder):
            raise TypeError("correction must be a CreateOrder")
        if not correction.parent_id:
            raise ValueError("a correction order needs parent_id: the draft refund's id")
        body = self._body(correction.to_dict())
        return _Call("POST", _CORRECTION, _one(Order), body=body)

    def _create_shipment(self, shipment: CreateShipment) -> _Call[Shipment]:
        if not isinstance(shipment, CreateShipment):
            raise TypeError("shipment must be a CreateShipment")
        if not shipment.basket_items:
            raise ValueError("a shipment lists at least one basket line")
        return _Call("POST", _SHIPMENT, _one(Shipment), body=self._body(shipment.to_dict()))

    def _list_shipments(
        self,
        page: int | None,
        page_size: int | None,
        order_by: OrderBy,
        filters: Mapping[str, Any] | None,
        conditions: Mapping[str, Any],
    ) -> _Call[Page[Shipment]]:
        params = build_query(
            conditions=conditions,
            filters=filters,
            order_by=order_by,
            page=page,
            page_size=page_size,
        )
        return _Call("GET", _SHIPMENT_LIST, _page(Shipment), params=tuple(params))

    # -- the notification delivery log (marketbox extension) ----------------------------------

    def _list_notifications(
        self,
        page: int | None,
        page_size: int | None,
        order_by: OrderBy,
        filters: Mapping[str, Any] | None,
        conditions: Mapping[str, Any],
    ) -> _Call[Page[NotificationRecord]]:
        params = build_query(
            conditions=conditions,
            filters=filters,
            order_by=order_by,
            page=page,
            page_size=page_size,
        )
        return _Call("GET", _NOTIFICATION, _page(NotificationRecord), params=tuple(params))

    def _get_notification(self, notification_id: str) -> _Call[NotificationRecord]:
        return _Call("GET", f"{_NOTIFICATION}/{_seg(notification_id)}", _one(NotificationRecord))

    def _resend_notification(self, notification_id: str) -> _Call[NotificationRecord]:
        path = f"{_NOTIFICATION}/{_seg(notification_id)}/resend"
        return _Call("POST", path, _one(NotificationRecord))

    def _resend_failed_notifications(self) -> _Call[list[str]]:
        return _Call("POST", f"{_NOTIFICATION}/resend-failed", _notification_ids)

    def _send_test_notification(self, url: str | None) -> _Call[NotificationTestResult]:
        body = self._body({"url": url} if url is not None else {})
        return _Call("POST", _NOTIFICATION_TEST, _one(NotificationTestResult), body=body)

    def _list_mail_messages(
        self,
        page: int | None,
        page_size: int | None,
        order_by: OrderBy,
        filters: Mapping[str, Any] | None,
        conditions: Mapping[str, Any],
    ) -> _Call[Page[MailMessage]]:
        params = build_query(
            conditions=conditions,
            filters=filters,
            order_by=order_by,
            page=page,
            page_size=page_size,
        )
        return _Call("GET", _MAIL_MESSAGE, _page(MailMessage), params=tuple(params))

    def _get_mail_message(self, message_id: str) -> _Call[MailMessage]:
        return _Call("GET", f"{_MAIL_MESSAGE}/{_seg(message_id)}", _one(MailMessage))

    # -- sandbox controls (marketbox only; refused in production) -----------------------------

    def _trigger_sandbox(self, order_id: str, action: str) -> _Call[SandboxTrigger]:
        if action not in SANDBOX_TRIGGERS:
            raise ValueError(f"action must be one of {', '.join(SANDBOX_TRIGGERS)}")
        path = f"{_SANDBOX}/order/{_seg(order_id)}/{action}"
        return _Call("POST", path, _one(SandboxTrigger))

    def _get_sandbox_clock(self) -> _Call[SandboxClock]:
        return _Call("GET", f"{_SANDBOX}/clock", _one(SandboxClock))

    def _advance_sandbox_clock(self, by: str | dt.timedelta) -> _Call[SandboxClock]:
        if isinstance(by, dt.timedelta):
            seconds = int(by.total_seconds())
            if seconds <= 0:
                raise ValueError("the clock only moves forward: give a positive duration")
            by = f"{seconds}s"
        if not isinstance(by, str):
            raise TypeError("by must be a duration string such as '2h' or a timedelta")
        body = self._body({"advance": by})
        return _Call("POST", f"{_SANDBOX}/clock", _one(SandboxClock), body=body)

    def _reset_sandbox_clock(self) -> _Call[SandboxClock]:
        return _Call("POST", f"{_SANDBOX}/clock/reset", _one(SandboxClock))

    def _reset_sandbox(self) -> _Call[SandboxReset]:
        return _Call("POST", f"{_SANDBOX}/reset", _one(SandboxReset))


def _notification_ids(envelope: dict[str, Any]) -> list[str]:
    ids = _data_object(envelope).get("notificationIds")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise UnexpectedResponse("expected `notificationIds`, a list of ids")
    return list(ids)


def full_refund_lines(items: Sequence[BasketItem]) -> tuple[list[BasketItem], Decimal, Decimal]:
    """Refund lines giving back everything still refundable, with their amount and VAT.

    The platform answers each line as it can still be refunded (its quantity and totals are
    what is left; a line refunded in full has nothing left and is skipped), so such a line goes
    back as it is. A line whose totals are not what is left (a server that answers only
    `availableAmount`) goes back as one unit of what is left, the way the official MCP server
    refunds: lines are matched by `sku` and capped by what is left.
    """
    lines: list[BasketItem] = []
    for item in items:
        left = item.available_amount if item.available_amount is not None else item.total_amount
        left_vat = (
            item.available_vat_amount
            if item.available_vat_amount is not None
            else item.total_vat_amount
        )
        if left <= 0:
            continue
        plain = dataclasses.replace(item, available_amount=None, available_vat_amount=None)
        if left == item.total_amount and left_vat == item.total_vat_amount:
            lines.append(plain)
        else:
            lines.append(
                dataclasses.replace(
                    plain,
                    quantity=Decimal(1),
                    amount=left,
                    amount_wo_vat=left - left_vat,
                    total_amount=left,
                    total_vat_amount=left_vat,
                )
            )
    amount = sum((line.total_amount for line in lines), Decimal("0.00"))
    vat_amount = sum((line.total_vat_amount for line in lines), Decimal("0.00"))
    return lines, amount, vat_amount


def _full_refund(
    order_id: str,
    items: Sequence[BasketItem],
    merchant_order_id: str,
    description: str,
    status: str | None,
) -> CreateRefund:
    lines, amount, vat_amount = full_refund_lines(items)
    if not lines:
        raise ValidationError(
            f"Nothing is left to refund on order {order_id}: it is not paid, or refunded in "
            "full already (list_refunds(parent_id=...) shows its refunds)",
            code="nothing_to_refund",
        )
    return CreateRefund(
        parent_id=order_id,
        merchant_order_id=merchant_order_id,
        description=description,
        amount=amount,
        vat_amount=vat_amount,
        basket_items=lines,
        status=status,
    )


def _make_correction(
    refund_id: str,
    merchant_id: str,
    merchant_order_id: str,
    description: str,
    amount: Decimal | int | str,
    vat_amount: Decimal | int | str,
    currency_id: str,
    basket_items: Sequence[BasketItem],
    expiration_date: dt.datetime | None,
    customer: Customer | None,
    fields: dict[str, Any],
) -> CreateOrder:
    return CreateOrder(
        merchant_id=merchant_id,
        merchant_order_id=merchant_order_id,
        description=description,
        amount=amount,  # type: ignore[arg-type]  # converted in __post_init__
        vat_amount=vat_amount,  # type: ignore[arg-type]
        currency_id=currency_id,
        # The platform requires the field; a correction is paid out of the refund at once.
        expiration_date=expiration_date or dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        basket_items=list(basket_items),
        customer=customer or Customer(),
        parent_id=refund_id,
        **fields,
    )


def _make_shipment(
    order_id: str,
    basket_items: Sequence[BasketItem],
    document_number: str | None,
    document_date: dt.date | None,
    final: bool | None,
    meta_data: dict[str, Any] | list[Any] | None,
) -> CreateShipment:
    return CreateShipment(
        order_id=order_id,
        basket_items=list(basket_items),
        document_number=document_number,
        document_date=document_date,
        final=final,
        meta_data=meta_data,
    )


def _make_create_order(
    merchant_id: str,
    merchant_order_id: str,
    description: str,
    amount: Decimal | int | str,
    vat_amount: Decimal | int | str,
    currency_id: str,
    expiration_date: dt.datetime,
    basket_items: Sequence[BasketItem],
    customer: Customer | None,
    order_container_id: str | None,
    fields: dict[str, Any],
) -> CreateOrder:
    return CreateOrder(
        merchant_id=merchant_id,
        merchant_order_id=merchant_order_id,
        description=description,
        amount=amount,  # type: ignore[arg-type]  # converted in __post_init__
        vat_amount=vat_amount,  # type: ignore[arg-type]
        currency_id=currency_id,
        expiration_date=expiration_date,
        basket_items=list(basket_items),
        customer=customer or Customer(),
        order_container_id=order_container_id,
        **fields,
    )


def _httpx_client_kwargs(base: _Base, transport: Any) -> dict[str, Any]:
    return {
        "base_url": base.base_url,
        "headers": base.headers,
        "timeout": base.timeout,
        "transport": transport,
        "follow_redirects": False,
    }


class _SyncSender(_Base):
    """Sends calls over a synchronous httpx client, retrying what may be retried."""

    _http: httpx.Client

    def _send_once(self, call: _Call[R], timeout: Timeout) -> R:
        request = self._request(self._http, call, timeout)
        try:
            response = self._http.send(request)
        except httpx.TransportError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        return call.parse(_read_envelope(response))

    def _send(
        self, call: _Call[R], *, timeout: Timeout = None, max_retries: int | None = None
    ) -> R:
        call = _with_key(call)
        allowed = self._retries(max_retries)
        done = 0
        while True:
            try:
                return self._send_once(call, timeout)
            except InvoiceboxError as error:
                delay = self._retry_delay(call, error, done, allowed)
                if delay is None:
                    raise
            time.sleep(delay)
            done += 1


class _AsyncSender(_Base):
    """Sends calls over an asynchronous httpx client, retrying what may be retried."""

    _http: httpx.AsyncClient

    async def _send_once(self, call: _Call[R], timeout: Timeout) -> R:
        request = self._request(self._http, call, timeout)
        try:
            response = await self._http.send(request)
        except httpx.TransportError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        return call.parse(_read_envelope(response))

    async def _send(
        self, call: _Call[R], *, timeout: Timeout = None, max_retries: int | None = None
    ) -> R:
        call = _with_key(call)
        allowed = self._retries(max_retries)
        done = 0
        while True:
            try:
                return await self._send_once(call, timeout)
            except InvoiceboxError as error:
                delay = self._retry_delay(call, error, done, allowed)
                if delay is None:
                    raise
            await asyncio.sleep(delay)
            done += 1


class Client(_SyncSender):
    """Synchronous merchant API client (Invoicebox API v3 / marketbox).

        with Client(token="...", base_url="https://marketbox.example") as client:
            order = client.create_order(...)

    `transport` accepts any httpx transport (e.g. `httpx.MockTransport` in tests).
    `user_agent` is your application id (`MyShop/1.2`); the SDK appends its own.

    Retries: a call that failed with no answer (connection error, timeout), HTTP 429 or a 5xx
    other than 501 is repeated up to `max_retries` times (default 2) with exponential backoff
    and jitter, waiting at least what `Retry-After` asks (up to `max_retry_after`). Reads are
    always safe to repeat; every mutating call carries an `Idempotency-Key` (yours, or a fresh
    UUID), so its repeat gets the stored answer instead of running twice.

    Every call also takes `timeout=` (seconds or an `httpx.Timeout`; the client's `timeout`
    when None) and `max_retries=` (the client's when None) for that one call.
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout | float | None = None,
        user_agent: str | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        super().__init__(
            token,
            base_url=base_url,
            timeout=timeout,
            user_agent=user_agent,
            max_retries=max_retries,
        )
        self._http = httpx.Client(**_httpx_client_kwargs(self, transport))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying connection pool."""
        self._http.close()

    def _iterate(
        self,
        make: Callable[[int, int], _Call[Page[M]]],
        page_size: int | None,
        timeout: Timeout,
        max_retries: int | None,
    ) -> Iterator[M]:
        size, call_for = self._iterate_calls(make, page_size)

        def items() -> Iterator[M]:
            number = 1
            while True:
                page = self._send(call_for(number), timeout=timeout, max_retries=max_retries)
                yield from page.items
                if not _more_pages(page, number, size):
                    return
                number += 1

        return items()

    def check_auth(self, *, timeout: Timeout = None, max_retries: int | None = None) -> AuthInfo:
        """Check the token (`GET /v3/security/api/auth/auth`); raises Unauthorized if bad."""
        return self._send(self._check_auth(), timeout=timeout, max_retries=max_retries)

    def credentials(
        self, *, timeout: Timeout = None, max_retries: int | None = None
    ) -> Credentials:
        """The merchant's token, signing key and notification settings, without secrets
        (marketbox extension, `GET /v3/security/api/credentials`)."""
        return self._send(self._credentials(), timeout=timeout, max_retries=max_retries)

    def rotate_credentials(
        self,
        *,
        token: bool = True,
        signing_key: bool = True,
        overlap: dt.timedelta | int = DEFAULT_OVERLAP,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Credentials:
        """New token and/or signing key; the previous ones keep working for `overlap`
        (a timedelta or seconds, 0 to 7 days; 0 stops them at once). The answer's
        `new_token` / `new_signing_key` are shown this once. This client keeps its token:
        make a new client with `new_token` (marketbox extension)."""
        call = self._rotate_credentials(token, signing_key, overlap)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def retire_previous_credentials(
        self,
        *,
        token: bool = True,
        signing_key: bool = True,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Credentials:
        """End a rotation's overlap now: the previous token and/or key stop working."""
        call = self._retire_previous_credentials(token, signing_key)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def set_notification(
        self,
        url: str | None,
        *,
        signature_algorithm: str | None = None,
        shipping_control: bool | None = None,
        shipping_control_timeout_seconds: int | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Credentials:
        """Set the default notification URL (None removes it) and, when given, the signature
        algorithm (`sha1`, `sha256`, `sha512`, `md5`), shipping control on the payment page
        and its time limit (whole seconds, 1-20) (marketbox extensions)."""
        call = self._set_notification(
            url, signature_algorithm, shipping_control, shipping_control_timeout_seconds
        )
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def create_order(
        self,
        *,
        merchant_id: str,
        merchant_order_id: str,
        description: str,
        amount: Decimal | int | str,
        vat_amount: Decimal | int | str,
        currency_id: str,
        expiration_date: dt.datetime,
        basket_items: Sequence[BasketItem],
        customer: Customer | None = None,
        order_container_id: str | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **fields: Any,
    ) -> Order:
        """Create an order (`POST /v3/billing/api/order/order`).

        `fields` are further `CreateOrder` attributes (`language_id`, `success_url`,
        `notification_url`, `shop_id`, `meta_data`, `processable`, ...). Set
        `order_container_id` to add a suborder to an existing unpaid container.

        Every mutating method takes `idempotency_key` (a marketbox extension, sent as the
        `Idempotency-Key` header): retrying a call with the same key and arguments gets the
        first answer back instead of running it again. Without one the SDK sends a fresh UUID,
        which protects its own retries; pass your own to make retries of your code safe too.
        """
        order = _make_create_order(
            merchant_id,
            merchant_order_id,
            description,
            amount,
            vat_amount,
            currency_id,
            expiration_date,
            basket_items,
            customer,
            order_container_id,
            fields,
        )
        call = _keyed(self._create_order(order), idempotency_key)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def create_order_request(
        self,
        order: CreateOrder,
        *,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Order:
        """Create an order from a prepared `CreateOrder` model."""
        call = _keyed(self._create_order(order), idempotency_key)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def get_order(
        self, order_id: str, *, timeout: Timeout = None, max_retries: int | None = None
    ) -> Order:
        """Fetch one order (`GET /v3/billing/api/order/order/{id}`)."""
        return self._send(self._get_order(order_id), timeout=timeout, max_retries=max_retries)

    def list_orders(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        order_by: OrderBy = None,
        filters: Mapping[str, Any] | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **conditions: Any,
    ) -> Page[Order]:
        """List orders (`GET /v3/filter/api/order/order`).

        Conditions: `status=["created", "completed"]`, `merchant_order_id="A-1"`,
        `created_at__ge=datetime(...)` (operators eq ne gt ge lt le start). `order_by`:
        `"-created_at"` (desc) or a list; `filters`: raw wire keys such as
        `{"customer[type][eq]": "legal"}`. `page` is 1-based.
        """
        call = self._list_orders(page, page_size, order_by, filters, conditions)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def iterate_orders(
        self,
        *,
        page_size: int | None = None,
        order_by: OrderBy = None,
        filters: Mapping[str, Any] | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **conditions: Any,
    ) -> Iterator[Order]:
        """Every order matching the conditions of `list_orders`, page after page.

            for order in client.iterate_orders(status="completed", order_by="created_at"):
                ...

        Pages (`page_size`, default 100) are fetched as the loop reaches them. Sort by a
        field that does not change (`created_at`) so that orders created meanwhile do not
        shift the pages under the loop.
        """

        def make(number: int, size: int) -> _Call[Page[Order]]:
            return self._list_orders(number, size, order_by, filters, conditions)

        return self._iterate(make, page_size, timeout, max_retries)

    def update_order(
        self,
        order_id: str,
        update: UpdateOrder | None = None,
        *,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **fields: Any,
    ) -> Order:
        """Change an unpaid order (`PUT .../order/{id}`); pass an `UpdateOrder` or its fields."""
        call = _keyed(
            self._update_order(order_id, update or UpdateOrder(**fields)), idempotency_key
        )
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def cancel_order(
        self,
        order_id: str,
        *,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Order:
        """Cancel an order (`DELETE .../order/{id}`); returns it with status `canceled`."""
        call = _keyed(self._cancel_order(order_id), idempotency_key)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def set_order_status(
        self,
        order_id: str,
        status: str,
        *,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Order:
        """Move a non-processable order to `created`, `completed`, `expired` or `canceled`."""
        call = _keyed(self._set_order_status(order_id, status), idempotency_key)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    # -- after payment ----------------------------------------------------------------------

    def refundable_items(
        self, order_id: str, *, timeout: Timeout = None, max_retries: int | None = None
    ) -> list[BasketItem]:
        """What is left to refund of a paid order, line by line
        (`GET .../order/{id}/refund-basket-item`): each line's `available_amount` and
        `available_vat_amount`. An unpaid order's lines have 0.00 available."""
        call = self._refundable_items(order_id)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def create_refund(
        self,
        *,
        parent_id: str,
        merchant_order_id: str,
        description: str,
        amount: Decimal | int | str,
        vat_amount: Decimal | int | str,
        basket_items: Sequence[BasketItem],
        status: str | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Refund:
        """Refund a paid order in full or in part (`POST /v3/billing/api/order/refund-order`).

        `parent_id` is the paid order; `basket_items` are the lines given back (matched to the
        order's by `sku`, each at most its `available_amount`); `merchant_order_id` is the
        refund's own number, unique per refund: a reused one raises `DuplicateMerchantOrderId`,
        which protects against refunding twice. `status="draft"` keeps the refund open for a
        correction order (`create_correction`). Raises `WrongOrderStatus` for an unpaid order,
        `ValidationError` above what is left to refund.
        """
        refund = CreateRefund(
            parent_id=parent_id,
            merchant_order_id=merchant_order_id,
            description=description,
            amount=amount,  # type: ignore[arg-type]  # converted in __post_init__
            vat_amount=vat_amount,  # type: ignore[arg-type]
            basket_items=list(basket_items),
            status=status,
        )
        call = _keyed(self._create_refund(refund), idempotency_key)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def create_refund_request(
        self,
        refund: CreateRefund,
        *,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Refund:
        """Create a refund from a prepared `CreateRefund` model."""
        call = _keyed(self._create_refund(refund), idempotency_key)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def refund_in_full(
        self,
        order_id: str,
        *,
        merchant_order_id: str,
        description: str,
        status: str | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Refund:
        """Refund everything still refundable of a paid order: reads `refundable_items`, then
        creates one refund of every line with something left (see `full_refund_lines`).

        Raises `ValidationError` (code `nothing_to_refund`) when nothing is left, without
        creating anything.
        """
        items = self.refundable_items(order_id, timeout=timeout, max_retries=max_retries)
        refund = _full_refund(order_id, items, merchant_order_id, description, status)
        call = _keyed(self._create_refund(refund), idempotency_key)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def list_refunds(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        order_by: OrderBy = None,
        filters: Mapping[str, Any] | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **conditions: Any,
    ) -> Page[Refund]:
        """List refunds (`GET /v3/filter/api/order/refund-order`); conditions, sorting and
        paging as in `list_orders` (fields `id`, `parent_id`, `status`, `merchant_id`,
        `merchant_order_id`, `created_at`)."""
        call = self._list_refunds(page, page_size, order_by, filters, conditions)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def iterate_refunds(
        self,
        *,
        page_size: int | None = None,
        order_by: OrderBy = None,
        filters: Mapping[str, Any] | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **conditions: Any,
    ) -> Iterator[Refund]:
        """Every refund matching `list_refunds` conditions, page after page (see
        `iterate_orders`)."""

        def make(number: int, size: int) -> _Call[Page[Refund]]:
            return self._list_refunds(number, size, order_by, filters, conditions)

        return self._iterate(make, page_size, timeout, max_retries)

    def cancel_refund(
        self,
        refund_id: str,
        *,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Refund:
        """Cancel a `draft` or `created` refund (`DELETE .../order/{id}`, the call that cancels
        an order); its amount becomes refundable again. Returns it with status `canceled`."""
        call = _keyed(self._cancel_refund(refund_id), idempotency_key)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def create_correction(
        self,
        refund_id: str,
        *,
        merchant_id: str,
        merchant_order_id: str,
        description: str,
        amount: Decimal | int | str,
        vat_amount: Decimal | int | str,
        currency_id: str,
        basket_items: Sequence[BasketItem],
        expiration_date: dt.datetime | None = None,
        customer: Customer | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **fields: Any,
    ) -> Order:
        """Withhold a fee, penalty or service charge from a draft refund
        (`POST /v3/billing/api/order/correction-order`, api.md §9.4).

        `refund_id` is a refund created with `status="draft"`; `basket_items` are the withheld
        positions. The correction order comes back `completed`; the refund becomes `created`
        and the buyer gets the refund less the correction (`Refund.payout_amount`).
        `fields` are further `CreateOrder` attributes (`meta_data`, `notification_url`, ...).
        """
        correction = _make_correction(
            refund_id,
            merchant_id,
            merchant_order_id,
            description,
            amount,
            vat_amount,
            currency_id,
            basket_items,
            expiration_date,
            customer,
            fields,
        )
        call = _keyed(self._create_correction(correction), idempotency_key)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def create_shipment(
        self,
        *,
        order_id: str,
        basket_items: Sequence[BasketItem],
        document_number: str | None = None,
        document_date: dt.date | None = None,
        final: bool | None = None,
        meta_data: dict[str, Any] | list[Any] | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Shipment:
        """Register what a paid order delivered (`POST /v3/billing/api/order/shipment`).

        Several shipments per order are allowed, together at most the order's amount; a
        shipment captures a held payment, and `final=True` closes the order's shipments and
        releases what is left of the hold. Raises `WrongOrderStatus` for an unpaid order.
        """
        shipment = _make_shipment(
            order_id, basket_items, document_number, document_date, final, meta_data
        )
        call = _keyed(self._create_shipment(shipment), idempotency_key)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def list_shipments(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        order_by: OrderBy = None,
        filters: Mapping[str, Any] | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **conditions: Any,
    ) -> Page[Shipment]:
        """List shipments (`GET /v3/filter/api/order/shipment`); conditions, sorting and paging
        as in `list_orders` (fields `id`, `order_id`, `merchant_id`, `created_at`)."""
        call = self._list_shipments(page, page_size, order_by, filters, conditions)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def iterate_shipments(
        self,
        *,
        page_size: int | None = None,
        order_by: OrderBy = None,
        filters: Mapping[str, Any] | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **conditions: Any,
    ) -> Iterator[Shipment]:
        """Every shipment matching `list_shipments` conditions, page after page (see
        `iterate_orders`)."""

        def make(number: int, size: int) -> _Call[Page[Shipment]]:
            return self._list_shipments(number, size, order_by, filters, conditions)

        return self._iterate(make, page_size, timeout, max_retries)

    # -- the notification delivery log (marketbox extension, docs/notifications.md §8) --------

    def list_notifications(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        order_by: OrderBy = None,
        filters: Mapping[str, Any] | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **conditions: Any,
    ) -> Page[NotificationRecord]:
        """The notifications sent to this merchant and their delivery state, newest first
        (`GET /v3/notification/api/notification`; fields `id`, `order_id`, `status`, `event`,
        `created_at`; marketbox only)."""
        call = self._list_notifications(page, page_size, order_by, filters, conditions)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def get_notification(
        self, notification_id: str, *, timeout: Timeout = None, max_retries: int | None = None
    ) -> NotificationRecord:
        """One notification with every delivery attempt: the exact request (headers with
        `X-Signature`, body) and the shop's reply (marketbox only)."""
        call = self._get_notification(notification_id)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def resend_notification(
        self,
        notification_id: str,
        *,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> NotificationRecord:
        """Send a notification again, signed with the current key; returns the record that
        carries it (a new one for a finished notification). Raises `NotificationInFlight`
        while it is being delivered (marketbox only)."""
        call = _keyed(self._resend_notification(notification_id), idempotency_key)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def resend_failed_notifications(
        self,
        *,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> list[str]:
        """Resend every rejected or abandoned notification not resent yet; returns the new
        records' ids (marketbox only)."""
        call = _keyed(self._resend_failed_notifications(), idempotency_key)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def send_test_notification(
        self,
        *,
        url: str | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> NotificationTestResult:
        """Send the test notification to `url` (default: the merchant's notification URL) now
        and return the shop's answer (marketbox only)."""
        call = _keyed(self._send_test_notification(url), idempotency_key)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    # -- mail (marketbox extension) -----------------------------------------------------------

    def list_mail_messages(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        order_by: OrderBy = None,
        filters: Mapping[str, Any] | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **conditions: Any,
    ) -> Page[MailMessage]:
        """List the letters written for the merchant (`GET /v3/mail/api/message`, a marketbox
        extension): its payment notices and its buyers' receipt letters, newest first;
        conditions, sorting and paging as in `list_orders` (fields `id`, `kind`, `status`,
        `to`, `order_container_id`, `order_id`, `created_at`, `sent_at`)."""
        call = self._list_mail_messages(page, page_size, order_by, filters, conditions)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def iterate_mail_messages(
        self,
        *,
        page_size: int | None = None,
        order_by: OrderBy = None,
        filters: Mapping[str, Any] | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **conditions: Any,
    ) -> Iterator[MailMessage]:
        """Every letter matching `list_mail_messages` conditions, page after page."""

        def make(number: int, size: int) -> _Call[Page[MailMessage]]:
            return self._list_mail_messages(number, size, order_by, filters, conditions)

        return self._iterate(make, page_size, timeout, max_retries)

    def get_mail_message(
        self, message_id: str, *, timeout: Timeout = None, max_retries: int | None = None
    ) -> MailMessage:
        """One letter (`GET /v3/mail/api/message/{id}`); `NotFound` for another merchant's."""
        call = self._get_mail_message(message_id)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    # -- marketplace, company lookup, guarantee ---------------------------------------------

    def create_shop(
        self,
        *,
        title: str,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **fields: Any,
    ) -> Shop:
        """Create a marketplace point of sale; `fields` are `ShopFields` attributes."""
        call = _keyed(self._create_shop(ShopFields(title=title, **fields)), idempotency_key)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def update_shop(
        self,
        shop_id: int,
        *,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **fields: Any,
    ) -> Shop:
        """Update a point of sale (`POST /v3/marketplace/api/shop/{id}`)."""
        call = _keyed(self._update_shop(shop_id, ShopFields(**fields)), idempotency_key)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def get_shop(
        self, shop_id: int, *, timeout: Timeout = None, max_retries: int | None = None
    ) -> Shop:
        """One of your points of sale, its `launch_secret` included
        (`GET /v3/marketplace/api/shop/{id}`)."""
        return self._send(self._get_shop(shop_id), timeout=timeout, max_retries=max_retries)

    def rotate_launch_secret(
        self,
        shop_id: int,
        *,
        overlap_seconds: int | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Shop:
        """A new launch secret for a point of sale (marketbox); the replaced one keeps signing
        beside it `overlap_seconds` more (default 24 h, 0 = stop at once)."""
        call = _keyed(self._rotate_launch_secret(shop_id, overlap_seconds), idempotency_key)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def upsert_special_offer(
        self,
        offer: SpecialOffer,
        *,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> SpecialOffer:
        """Create or change a special offer (keyed by merchant_id + external_id)."""
        call = _keyed(self._upsert_special_offer(offer), idempotency_key)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def lookup_company(
        self,
        vat_number: str,
        *,
        page: int | None = None,
        page_size: int | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Page[Counterparty]:
        """Every registration of a company or sole trader by INN
        (`GET /v3/filter/api/counterparty-detail`); an unknown INN is an empty page.

        Raises `ValidationError` for a malformed INN, `OutOfService` when the platform has no
        company source or it is down.
        """
        call = self._lookup_company(vat_number, page, page_size)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def validate_payment_method(
        self,
        order_id: str,
        *,
        payment_method_id: str,
        customer: Customer,
        language_id: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> PaymentMethodCheck:
        """Can this payer pay the order with this guarantee instrument
        (`POST .../order/{id}/payment-method-action/validate`)?"""
        call = self._validate_payment_method(order_id, payment_method_id, customer, language_id)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def send_payment_code(
        self,
        order_id: str,
        *,
        payment_method_id: str,
        customer: Customer,
        language_id: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> PaymentCodeSent:
        """Have the platform send the payer a confirmation code
        (`POST .../order/{id}/payment-method-action/send-code`)."""
        call = self._send_payment_code(order_id, payment_method_id, customer, language_id)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def pay_with_code(
        self,
        order_id: str,
        *,
        payment_method_id: str,
        customer: Customer,
        public_code: str,
        code: str,
        language_id: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> PaymentCodeResult:
        """Pay the order's invoice with the code the payer received
        (`POST .../order/{id}/payment-method-action/pay`); check `.result` (or `.paid`)."""
        call = self._pay_with_code(
            order_id, payment_method_id, customer, public_code, code, language_id
        )
        return self._send(call, timeout=timeout, max_retries=max_retries)

    # -- sandbox controls (marketbox only; the server refuses them in production) ------------

    def trigger_sandbox(
        self,
        order_id: str,
        action: Literal["pay", "decline", "hold", "expire"],
        *,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> SandboxTrigger:
        """Do to the order what a buyer or its deadline would, without a browser
        (`POST /v3/sandbox/api/order/{id}/{action}`): `pay` or `hold` its invoice with a
        test card, have the bank `decline` it, or `expire` it now. Notifications follow."""
        call = self._trigger_sandbox(order_id, action)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def get_sandbox_clock(
        self, *, timeout: Timeout = None, max_retries: int | None = None
    ) -> SandboxClock:
        """The sandbox clock (`GET /v3/sandbox/api/clock`)."""
        return self._send(self._get_sandbox_clock(), timeout=timeout, max_retries=max_retries)

    def advance_sandbox_clock(
        self,
        by: str | dt.timedelta,
        *,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> SandboxClock:
        """Move the sandbox clock forward by `by` ("2h", "1d12h" or a timedelta): deadlines
        it passes expire at once, retries it makes due are sent within a second."""
        call = self._advance_sandbox_clock(by)
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def reset_sandbox_clock(
        self, *, timeout: Timeout = None, max_retries: int | None = None
    ) -> SandboxClock:
        """The sandbox clock back to the real time (`POST /v3/sandbox/api/clock/reset`)."""
        call = self._reset_sandbox_clock()
        return self._send(call, timeout=timeout, max_retries=max_retries)

    def reset_sandbox(
        self, *, timeout: Timeout = None, max_retries: int | None = None
    ) -> SandboxReset:
        """Delete every order, payment, notification, letter and receipt of the sandbox
        (`POST /v3/sandbox/api/reset`); merchants, instruments and points of sale stay."""
        return self._send(self._reset_sandbox(), timeout=timeout, max_retries=max_retries)


class AsyncClient(_AsyncSender):
    """Asynchronous merchant API client; same methods as `Client`, awaited.

    async with AsyncClient(token="...", transport=httpx.ASGITransport(app=app),
                           base_url="http://testserver") as client:
        order = await client.get_order(order_id)
        async for refund in client.iterate_refunds(parent_id=order.id):
            ...

    Retries, `timeout=` and `max_retries=` work as in `Client`.
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | float | None = None,
        user_agent: str | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        super().__init__(
            token,
            base_url=base_url,
            timeout=timeout,
            user_agent=user_agent,
            max_retries=max_retries,
        )
        self._http = httpx.AsyncClient(**_httpx_client_kwargs(self, transport))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the underlying connection pool."""
        await self._http.aclose()

    def _iterate(
        self,
        make: Callable[[int, int], _Call[Page[M]]],
        page_size: int | None,
        timeout: Timeout,
        max_retries: int | None,
    ) -> AsyncIterator[M]:
        size, call_for = self._iterate_calls(make, page_size)

        async def items() -> AsyncIterator[M]:
            number = 1
            while True:
                page = await self._send(call_for(number), timeout=timeout, max_retries=max_retries)
                for item in page.items:
                    yield item
                if not _more_pages(page, number, size):
                    return
                number += 1

        return items()

    async def check_auth(
        self, *, timeout: Timeout = None, max_retries: int | None = None
    ) -> AuthInfo:
        """Check the token (`GET /v3/security/api/auth/auth`); raises Unauthorized if bad."""
        return await self._send(self._check_auth(), timeout=timeout, max_retries=max_retries)

    async def credentials(
        self, *, timeout: Timeout = None, max_retries: int | None = None
    ) -> Credentials:
        """The merchant's token, signing key and notification settings, without secrets
        (marketbox extension, `GET /v3/security/api/credentials`)."""
        return await self._send(self._credentials(), timeout=timeout, max_retries=max_retries)

    async def rotate_credentials(
        self,
        *,
        token: bool = True,
        signing_key: bool = True,
        overlap: dt.timedelta | int = DEFAULT_OVERLAP,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Credentials:
        """New token and/or signing key; the previous ones keep working for `overlap`
        (a timedelta or seconds, 0 to 7 days; 0 stops them at once). The answer's
        `new_token` / `new_signing_key` are shown this once. This client keeps its token:
        make a new client with `new_token` (marketbox extension)."""
        call = self._rotate_credentials(token, signing_key, overlap)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def retire_previous_credentials(
        self,
        *,
        token: bool = True,
        signing_key: bool = True,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Credentials:
        """End a rotation's overlap now: the previous token and/or key stop working."""
        call = self._retire_previous_credentials(token, signing_key)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def set_notification(
        self,
        url: str | None,
        *,
        signature_algorithm: str | None = None,
        shipping_control: bool | None = None,
        shipping_control_timeout_seconds: int | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Credentials:
        """Set the default notification URL (None removes it) and, when given, the signature
        algorithm (`sha1`, `sha256`, `sha512`, `md5`), shipping control on the payment page
        and its time limit (whole seconds, 1-20) (marketbox extensions)."""
        call = self._set_notification(
            url, signature_algorithm, shipping_control, shipping_control_timeout_seconds
        )
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def create_order(
        self,
        *,
        merchant_id: str,
        merchant_order_id: str,
        description: str,
        amount: Decimal | int | str,
        vat_amount: Decimal | int | str,
        currency_id: str,
        expiration_date: dt.datetime,
        basket_items: Sequence[BasketItem],
        customer: Customer | None = None,
        order_container_id: str | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **fields: Any,
    ) -> Order:
        """Create an order (`POST /v3/billing/api/order/order`).

        `fields` are further `CreateOrder` attributes (`language_id`, `success_url`,
        `notification_url`, `shop_id`, `meta_data`, `processable`, ...). Set
        `order_container_id` to add a suborder to an existing unpaid container.

        Every mutating method takes `idempotency_key` (a marketbox extension, sent as the
        `Idempotency-Key` header): retrying a call with the same key and arguments gets the
        first answer back instead of running it again. Without one the SDK sends a fresh UUID,
        which protects its own retries; pass your own to make retries of your code safe too.
        """
        order = _make_create_order(
            merchant_id,
            merchant_order_id,
            description,
            amount,
            vat_amount,
            currency_id,
            expiration_date,
            basket_items,
            customer,
            order_container_id,
            fields,
        )
        call = _keyed(self._create_order(order), idempotency_key)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def create_order_request(
        self,
        order: CreateOrder,
        *,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Order:
        """Create an order from a prepared `CreateOrder` model."""
        call = _keyed(self._create_order(order), idempotency_key)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def get_order(
        self, order_id: str, *, timeout: Timeout = None, max_retries: int | None = None
    ) -> Order:
        """Fetch one order (`GET /v3/billing/api/order/order/{id}`)."""
        return await self._send(self._get_order(order_id), timeout=timeout, max_retries=max_retries)

    async def list_orders(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        order_by: OrderBy = None,
        filters: Mapping[str, Any] | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **conditions: Any,
    ) -> Page[Order]:
        """List orders (`GET /v3/filter/api/order/order`).

        Conditions: `status=["created", "completed"]`, `merchant_order_id="A-1"`,
        `created_at__ge=datetime(...)` (operators eq ne gt ge lt le start). `order_by`:
        `"-created_at"` (desc) or a list; `filters`: raw wire keys such as
        `{"customer[type][eq]": "legal"}`. `page` is 1-based.
        """
        call = self._list_orders(page, page_size, order_by, filters, conditions)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    def iterate_orders(
        self,
        *,
        page_size: int | None = None,
        order_by: OrderBy = None,
        filters: Mapping[str, Any] | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **conditions: Any,
    ) -> AsyncIterator[Order]:
        """Every order matching the conditions of `list_orders`, page after page.

            async for order in client.iterate_orders(status="completed", order_by="created_at"):
                ...

        Pages (`page_size`, default 100) are fetched as the loop reaches them. Sort by a
        field that does not change (`created_at`) so that orders created meanwhile do not
        shift the pages under the loop.
        """

        def make(number: int, size: int) -> _Call[Page[Order]]:
            return self._list_orders(number, size, order_by, filters, conditions)

        return self._iterate(make, page_size, timeout, max_retries)

    async def update_order(
        self,
        order_id: str,
        update: UpdateOrder | None = None,
        *,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **fields: Any,
    ) -> Order:
        """Change an unpaid order (`PUT .../order/{id}`); pass an `UpdateOrder` or its fields."""
        call = _keyed(
            self._update_order(order_id, update or UpdateOrder(**fields)), idempotency_key
        )
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def cancel_order(
        self,
        order_id: str,
        *,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Order:
        """Cancel an order (`DELETE .../order/{id}`); returns it with status `canceled`."""
        call = _keyed(self._cancel_order(order_id), idempotency_key)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def set_order_status(
        self,
        order_id: str,
        status: str,
        *,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Order:
        """Move a non-processable order to `created`, `completed`, `expired` or `canceled`."""
        call = _keyed(self._set_order_status(order_id, status), idempotency_key)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    # -- after payment ----------------------------------------------------------------------

    async def refundable_items(
        self, order_id: str, *, timeout: Timeout = None, max_retries: int | None = None
    ) -> list[BasketItem]:
        """What is left to refund of a paid order, line by line
        (`GET .../order/{id}/refund-basket-item`): each line's `available_amount` and
        `available_vat_amount`. An unpaid order's lines have 0.00 available."""
        call = self._refundable_items(order_id)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def create_refund(
        self,
        *,
        parent_id: str,
        merchant_order_id: str,
        description: str,
        amount: Decimal | int | str,
        vat_amount: Decimal | int | str,
        basket_items: Sequence[BasketItem],
        status: str | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Refund:
        """Refund a paid order in full or in part (`POST /v3/billing/api/order/refund-order`).

        `parent_id` is the paid order; `basket_items` are the lines given back (matched to the
        order's by `sku`, each at most its `available_amount`); `merchant_order_id` is the
        refund's own number, unique per refund: a reused one raises `DuplicateMerchantOrderId`,
        which protects against refunding twice. `status="draft"` keeps the refund open for a
        correction order (`create_correction`). Raises `WrongOrderStatus` for an unpaid order,
        `ValidationError` above what is left to refund.
        """
        refund = CreateRefund(
            parent_id=parent_id,
            merchant_order_id=merchant_order_id,
            description=description,
            amount=amount,  # type: ignore[arg-type]  # converted in __post_init__
            vat_amount=vat_amount,  # type: ignore[arg-type]
            basket_items=list(basket_items),
            status=status,
        )
        call = _keyed(self._create_refund(refund), idempotency_key)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def create_refund_request(
        self,
        refund: CreateRefund,
        *,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Refund:
        """Create a refund from a prepared `CreateRefund` model."""
        call = _keyed(self._create_refund(refund), idempotency_key)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def refund_in_full(
        self,
        order_id: str,
        *,
        merchant_order_id: str,
        description: str,
        status: str | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Refund:
        """Refund everything still refundable of a paid order: reads `refundable_items`, then
        creates one refund of every line with something left (see `full_refund_lines`).

        Raises `ValidationError` (code `nothing_to_refund`) when nothing is left, without
        creating anything.
        """
        items = await self.refundable_items(order_id, timeout=timeout, max_retries=max_retries)
        refund = _full_refund(order_id, items, merchant_order_id, description, status)
        call = _keyed(self._create_refund(refund), idempotency_key)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def list_refunds(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        order_by: OrderBy = None,
        filters: Mapping[str, Any] | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **conditions: Any,
    ) -> Page[Refund]:
        """List refunds (`GET /v3/filter/api/order/refund-order`); conditions, sorting and
        paging as in `list_orders` (fields `id`, `parent_id`, `status`, `merchant_id`,
        `merchant_order_id`, `created_at`)."""
        call = self._list_refunds(page, page_size, order_by, filters, conditions)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    def iterate_refunds(
        self,
        *,
        page_size: int | None = None,
        order_by: OrderBy = None,
        filters: Mapping[str, Any] | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **conditions: Any,
    ) -> AsyncIterator[Refund]:
        """Every refund matching `list_refunds` conditions, page after page (see
        `iterate_orders`)."""

        def make(number: int, size: int) -> _Call[Page[Refund]]:
            return self._list_refunds(number, size, order_by, filters, conditions)

        return self._iterate(make, page_size, timeout, max_retries)

    async def cancel_refund(
        self,
        refund_id: str,
        *,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Refund:
        """Cancel a `draft` or `created` refund (`DELETE .../order/{id}`, the call that cancels
        an order); its amount becomes refundable again. Returns it with status `canceled`."""
        call = _keyed(self._cancel_refund(refund_id), idempotency_key)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def create_correction(
        self,
        refund_id: str,
        *,
        merchant_id: str,
        merchant_order_id: str,
        description: str,
        amount: Decimal | int | str,
        vat_amount: Decimal | int | str,
        currency_id: str,
        basket_items: Sequence[BasketItem],
        expiration_date: dt.datetime | None = None,
        customer: Customer | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **fields: Any,
    ) -> Order:
        """Withhold a fee, penalty or service charge from a draft refund
        (`POST /v3/billing/api/order/correction-order`, api.md §9.4).

        `refund_id` is a refund created with `status="draft"`; `basket_items` are the withheld
        positions. The correction order comes back `completed`; the refund becomes `created`
        and the buyer gets the refund less the correction (`Refund.payout_amount`).
        `fields` are further `CreateOrder` attributes (`meta_data`, `notification_url`, ...).
        """
        correction = _make_correction(
            refund_id,
            merchant_id,
            merchant_order_id,
            description,
            amount,
            vat_amount,
            currency_id,
            basket_items,
            expiration_date,
            customer,
            fields,
        )
        call = _keyed(self._create_correction(correction), idempotency_key)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def create_shipment(
        self,
        *,
        order_id: str,
        basket_items: Sequence[BasketItem],
        document_number: str | None = None,
        document_date: dt.date | None = None,
        final: bool | None = None,
        meta_data: dict[str, Any] | list[Any] | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Shipment:
        """Register what a paid order delivered (`POST /v3/billing/api/order/shipment`).

        Several shipments per order are allowed, together at most the order's amount; a
        shipment captures a held payment, and `final=True` closes the order's shipments and
        releases what is left of the hold. Raises `WrongOrderStatus` for an unpaid order.
        """
        shipment = _make_shipment(
            order_id, basket_items, document_number, document_date, final, meta_data
        )
        call = _keyed(self._create_shipment(shipment), idempotency_key)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def list_shipments(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        order_by: OrderBy = None,
        filters: Mapping[str, Any] | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **conditions: Any,
    ) -> Page[Shipment]:
        """List shipments (`GET /v3/filter/api/order/shipment`); conditions, sorting and paging
        as in `list_orders` (fields `id`, `order_id`, `merchant_id`, `created_at`)."""
        call = self._list_shipments(page, page_size, order_by, filters, conditions)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    def iterate_shipments(
        self,
        *,
        page_size: int | None = None,
        order_by: OrderBy = None,
        filters: Mapping[str, Any] | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **conditions: Any,
    ) -> AsyncIterator[Shipment]:
        """Every shipment matching `list_shipments` conditions, page after page (see
        `iterate_orders`)."""

        def make(number: int, size: int) -> _Call[Page[Shipment]]:
            return self._list_shipments(number, size, order_by, filters, conditions)

        return self._iterate(make, page_size, timeout, max_retries)

    # -- the notification delivery log (marketbox extension, docs/notifications.md §8) --------

    async def list_notifications(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        order_by: OrderBy = None,
        filters: Mapping[str, Any] | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **conditions: Any,
    ) -> Page[NotificationRecord]:
        """The notifications sent to this merchant and their delivery state, newest first
        (`GET /v3/notification/api/notification`; fields `id`, `order_id`, `status`, `event`,
        `created_at`; marketbox only)."""
        call = self._list_notifications(page, page_size, order_by, filters, conditions)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def get_notification(
        self, notification_id: str, *, timeout: Timeout = None, max_retries: int | None = None
    ) -> NotificationRecord:
        """One notification with every delivery attempt: the exact request (headers with
        `X-Signature`, body) and the shop's reply (marketbox only)."""
        call = self._get_notification(notification_id)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def resend_notification(
        self,
        notification_id: str,
        *,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> NotificationRecord:
        """Send a notification again, signed with the current key; returns the record that
        carries it (a new one for a finished notification). Raises `NotificationInFlight`
        while it is being delivered (marketbox only)."""
        call = _keyed(self._resend_notification(notification_id), idempotency_key)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def resend_failed_notifications(
        self,
        *,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> list[str]:
        """Resend every rejected or abandoned notification not resent yet; returns the new
        records' ids (marketbox only)."""
        call = _keyed(self._resend_failed_notifications(), idempotency_key)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def send_test_notification(
        self,
        *,
        url: str | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> NotificationTestResult:
        """Send the test notification to `url` (default: the merchant's notification URL) now
        and return the shop's answer (marketbox only)."""
        call = _keyed(self._send_test_notification(url), idempotency_key)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    # -- mail (marketbox extension) -----------------------------------------------------------

    async def list_mail_messages(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        order_by: OrderBy = None,
        filters: Mapping[str, Any] | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **conditions: Any,
    ) -> Page[MailMessage]:
        """List the letters written for the merchant (`GET /v3/mail/api/message`, a marketbox
        extension): its payment notices and its buyers' receipt letters, newest first;
        conditions, sorting and paging as in `list_orders` (fields `id`, `kind`, `status`,
        `to`, `order_container_id`, `order_id`, `created_at`, `sent_at`)."""
        call = self._list_mail_messages(page, page_size, order_by, filters, conditions)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    def iterate_mail_messages(
        self,
        *,
        page_size: int | None = None,
        order_by: OrderBy = None,
        filters: Mapping[str, Any] | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **conditions: Any,
    ) -> AsyncIterator[MailMessage]:
        """Every letter matching `list_mail_messages` conditions, page after page."""

        def make(number: int, size: int) -> _Call[Page[MailMessage]]:
            return self._list_mail_messages(number, size, order_by, filters, conditions)

        return self._iterate(make, page_size, timeout, max_retries)

    async def get_mail_message(
        self, message_id: str, *, timeout: Timeout = None, max_retries: int | None = None
    ) -> MailMessage:
        """One letter (`GET /v3/mail/api/message/{id}`); `NotFound` for another merchant's."""
        call = self._get_mail_message(message_id)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    # -- marketplace, company lookup, guarantee ---------------------------------------------

    async def create_shop(
        self,
        *,
        title: str,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **fields: Any,
    ) -> Shop:
        """Create a marketplace point of sale; `fields` are `ShopFields` attributes."""
        call = _keyed(self._create_shop(ShopFields(title=title, **fields)), idempotency_key)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def update_shop(
        self,
        shop_id: int,
        *,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
        **fields: Any,
    ) -> Shop:
        """Update a point of sale (`POST /v3/marketplace/api/shop/{id}`)."""
        call = _keyed(self._update_shop(shop_id, ShopFields(**fields)), idempotency_key)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def get_shop(
        self, shop_id: int, *, timeout: Timeout = None, max_retries: int | None = None
    ) -> Shop:
        """One of your points of sale, its `launch_secret` included
        (`GET /v3/marketplace/api/shop/{id}`)."""
        return await self._send(self._get_shop(shop_id), timeout=timeout, max_retries=max_retries)

    async def rotate_launch_secret(
        self,
        shop_id: int,
        *,
        overlap_seconds: int | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Shop:
        """A new launch secret for a point of sale (marketbox); the replaced one keeps signing
        beside it `overlap_seconds` more (default 24 h, 0 = stop at once)."""
        call = _keyed(self._rotate_launch_secret(shop_id, overlap_seconds), idempotency_key)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def upsert_special_offer(
        self,
        offer: SpecialOffer,
        *,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> SpecialOffer:
        """Create or change a special offer (keyed by merchant_id + external_id)."""
        call = _keyed(self._upsert_special_offer(offer), idempotency_key)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def lookup_company(
        self,
        vat_number: str,
        *,
        page: int | None = None,
        page_size: int | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> Page[Counterparty]:
        """Every registration of a company or sole trader by INN
        (`GET /v3/filter/api/counterparty-detail`); an unknown INN is an empty page.

        Raises `ValidationError` for a malformed INN, `OutOfService` when the platform has no
        company source or it is down.
        """
        call = self._lookup_company(vat_number, page, page_size)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def validate_payment_method(
        self,
        order_id: str,
        *,
        payment_method_id: str,
        customer: Customer,
        language_id: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> PaymentMethodCheck:
        """Can this payer pay the order with this guarantee instrument
        (`POST .../order/{id}/payment-method-action/validate`)?"""
        call = self._validate_payment_method(order_id, payment_method_id, customer, language_id)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def send_payment_code(
        self,
        order_id: str,
        *,
        payment_method_id: str,
        customer: Customer,
        language_id: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> PaymentCodeSent:
        """Have the platform send the payer a confirmation code
        (`POST .../order/{id}/payment-method-action/send-code`)."""
        call = self._send_payment_code(order_id, payment_method_id, customer, language_id)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def pay_with_code(
        self,
        order_id: str,
        *,
        payment_method_id: str,
        customer: Customer,
        public_code: str,
        code: str,
        language_id: str | None = None,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> PaymentCodeResult:
        """Pay the order's invoice with the code the payer received
        (`POST .../order/{id}/payment-method-action/pay`); check `.result` (or `.paid`)."""
        call = self._pay_with_code(
            order_id, payment_method_id, customer, public_code, code, language_id
        )
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    # -- sandbox controls (marketbox only; the server refuses them in production) ------------

    async def trigger_sandbox(
        self,
        order_id: str,
        action: Literal["pay", "decline", "hold", "expire"],
        *,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> SandboxTrigger:
        """Do to the order what a buyer or its deadline would, without a browser
        (`POST /v3/sandbox/api/order/{id}/{action}`): `pay` or `hold` its invoice with a
        test card, have the bank `decline` it, or `expire` it now. Notifications follow."""
        call = self._trigger_sandbox(order_id, action)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def get_sandbox_clock(
        self, *, timeout: Timeout = None, max_retries: int | None = None
    ) -> SandboxClock:
        """The sandbox clock (`GET /v3/sandbox/api/clock`)."""
        return await self._send(self._get_sandbox_clock(), timeout=timeout, max_retries=max_retries)

    async def advance_sandbox_clock(
        self,
        by: str | dt.timedelta,
        *,
        timeout: Timeout = None,
        max_retries: int | None = None,
    ) -> SandboxClock:
        """Move the sandbox clock forward by `by` ("2h", "1d12h" or a timedelta): deadlines
        it passes expire at once, retries it makes due are sent within a second."""
        call = self._advance_sandbox_clock(by)
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def reset_sandbox_clock(
        self, *, timeout: Timeout = None, max_retries: int | None = None
    ) -> SandboxClock:
        """The sandbox clock back to the real time (`POST /v3/sandbox/api/clock/reset`)."""
        call = self._reset_sandbox_clock()
        return await self._send(call, timeout=timeout, max_retries=max_retries)

    async def reset_sandbox(
        self, *, timeout: Timeout = None, max_retries: int | None = None
    ) -> SandboxReset:
        """Delete every order, payment, notification, letter and receipt of the sandbox
        (`POST /v3/sandbox/api/reset`); merchants, instruments and points of sale stay."""
        return await self._send(self._reset_sandbox(), timeout=timeout, max_retries=max_retries)


# ---------------------------------------------------------------------------------------------
# Payment instruments (bank side)


class _InstrumentBase(_Base):
    def __init__(
        self,
        *,
        signing_key: str | bytes,
        token: str | None,
        algorithm: str,
        base_url: str,
        timeout: httpx.Timeout | float | None,
        user_agent: str | None,
        max_retries: int,
    ) -> None:
        super().__init__(
            token,
            base_url=base_url,
            timeout=timeout,
            user_agent=user_agent,
            max_retries=max_retries,
        )
        compute_signature(b"", signing_key, algorithm)  # fail fast on a bad algorithm
        self._signing_key = signing_key
        self.algorithm = algorithm

    def _list_invoices(
        self,
        page: int | None,
        page_size: int | None,
        order_by: OrderBy,
        filters: Mapping[str, Any] | None,
        conditions: Mapping[str, Any],
    ) -> _Call[Page[Invoice]]:
        params = build_query(
            conditions=conditions,
            filters=filters,
            order_by=order_by,
            page=page,
            page_size=page_size,
        )
        return _Call("GET", _INVOICE, _page(Invoice), params=tuple(params))

    def _get_invoice(self, invoice_id: str) -> _Call[Invoice]:
        return _Call("GET", f"{_INVOICE}/{_seg(invoice_id)}", _one(Invoice))

    def _confirm(
        self,
        invoice_id: str,
        payment_operation_id: str,
        amount: Decimal | int | str,
        currency_id: str,
        payment_order: PaymentOrder | None,
        status: str | None,
    ) -> _Call[InvoicePayment]:
        request = InvoicePayment(
            invoice_id=invoice_id,
            payment_operation_id=payment_operation_id,
            amount=amount,  # type: ignore[arg-type]  # converted in __post_init__
            currency_id=currency_id,
            payment_order=payment_order,
            status=status,
        )
        body = self._body(request.to_dict())
        signature = compute_signature(body, self._signing_key, self.algorithm)
        return _Call(
            "POST",
            f"{_INVOICE}/confirm",
            _one(InvoicePayment),
            body=body,
            headers={SIGNATURE_HEADER: signature},
        )


class InstrumentClient(_InstrumentBase, _SyncSender):
    """Synchronous client for payment instruments (banks) (api.md §13).

    Requests to confirm a payment are signed: `X-Signature` is the lowercase hex HMAC
    (`algorithm`, sha1 by default) of the exact body bytes under `signing_key`.
    """

    def __init__(
        self,
        *,
        signing_key: str | bytes,
        token: str | None = None,
        algorithm: str = "sha1",
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout | float | None = None,
        user_agent: str | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        super().__init__(
            signing_key=signing_key,
            token=token,
            algorithm=algorithm,
            base_url=base_url,
            timeout=timeout,
            user_agent=user_agent,
            max_retries=max_retries,
        )
        self._http = httpx.Client(**_httpx_client_kwargs(self, transport))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying connection pool."""
        self._http.close()

    def list_invoices(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        order_by: OrderBy = None,
        filters: Mapping[str, Any] | None = None,
        **conditions: Any,
    ) -> Page[Invoice]:
        """List invoices (`GET /v3/payment/api/invoice`), filters as in `Client.list_orders`."""
        return self._send(self._list_invoices(page, page_size, order_by, filters, conditions))

    def get_invoice(self, invoice_id: str) -> Invoice:
        """Fetch one invoice (`GET /v3/payment/api/invoice/{id}`)."""
        return self._send(self._get_invoice(invoice_id))

    def confirm_invoice_payment(
        self,
        *,
        invoice_id: str,
        payment_operation_id: str,
        amount: Decimal | int | str,
        currency_id: str,
        payment_order: PaymentOrder | None = None,
        status: str | None = None,
        idempotency_key: str | None = None,
    ) -> InvoicePayment:
        """Confirm a payment (`POST /v3/payment/api/invoice/confirm`, signed).

        Idempotent per `payment_operation_id`: repeating a successful confirmation succeeds.
        `idempotency_key` (marketbox extension) replays the stored answer of a retried call.
        Raises `InvoiceAlreadyPaid`, `InvoiceNotFound`, `RequestSignatureRejected` or
        `OutOfService` (retry later).
        """
        call = self._confirm(
            invoice_id, payment_operation_id, amount, currency_id, payment_order, status
        )
        return self._send(_keyed(call, idempotency_key))


class AsyncInstrumentClient(_InstrumentBase, _AsyncSender):
    """Asynchronous client for payment instruments; same methods as `InstrumentClient`."""

    def __init__(
        self,
        *,
        signing_key: str | bytes,
        token: str | None = None,
        algorithm: str = "sha1",
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | float | None = None,
        user_agent: str | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        super().__init__(
            signing_key=signing_key,
            token=token,
            algorithm=algorithm,
            base_url=base_url,
            timeout=timeout,
            user_agent=user_agent,
            max_retries=max_retries,
        )
        self._http = httpx.AsyncClient(**_httpx_client_kwargs(self, transport))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the underlying connection pool."""
        await self._http.aclose()

    async def list_invoices(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        order_by: OrderBy = None,
        filters: Mapping[str, Any] | None = None,
        **conditions: Any,
    ) -> Page[Invoice]:
        """List invoices (`GET /v3/payment/api/invoice`), filters as in `Client.list_orders`."""
        return await self._send(self._list_invoices(page, page_size, order_by, filters, conditions))

    async def get_invoice(self, invoice_id: str) -> Invoice:
        """Fetch one invoice (`GET /v3/payment/api/invoice/{id}`)."""
        return await self._send(self._get_invoice(invoice_id))

    async def confirm_invoice_payment(
        self,
        *,
        invoice_id: str,
        payment_operation_id: str,
        amount: Decimal | int | str,
        currency_id: str,
        payment_order: PaymentOrder | None = None,
        status: str | None = None,
        idempotency_key: str | None = None,
    ) -> InvoicePayment:
        """Confirm a payment (`POST /v3/payment/api/invoice/confirm`, signed)."""
        call = self._confirm(
            invoice_id, payment_operation_id, amount, currency_id, payment_order, status
        )
        return await self._send(_keyed(call, idempotency_key))
