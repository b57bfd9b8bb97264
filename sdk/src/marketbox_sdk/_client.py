"""HTTP clients: `Client` / `AsyncClient` (merchant API) and `InstrumentClient` /
`AsyncInstrumentClient` (payment-instrument API with signed requests).

Each public method first builds a `_Call` (the HTTP request plus how to read its answer) in
the shared base class; the sync and async classes only differ in how they send it, so the two
stay identical. Every answer goes through `_read_envelope`: an `error` object or an HTTP
status >= 400 raises the mapped `InvoiceboxError`, a success must carry `data`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import platform
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Any, Generic, Self, TypeVar
from urllib.parse import quote

import httpx

from . import _json
from ._errors import TransportError, UnexpectedResponse, error_from_response
from ._models import (
    AuthInfo,
    BasketItem,
    Counterparty,
    CreateOrder,
    Customer,
    Invoice,
    InvoicePayment,
    Model,
    Order,
    Page,
    PaymentCodeResult,
    PaymentCodeSent,
    PaymentMethodCheck,
    PaymentOrder,
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
    "DEFAULT_TIMEOUT",
    "AsyncClient",
    "AsyncInstrumentClient",
    "Client",
    "InstrumentClient",
]

#: The production Invoicebox API; point `base_url` at a marketbox server to use that instead.
DEFAULT_BASE_URL = "https://api.invoicebox.ru"
#: Default timeout: 30 s overall, 10 s to connect.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)

_ORDER = "/v3/billing/api/order/order"
_ORDER_LIST = "/v3/filter/api/order/order"
_SHOP = "/v3/marketplace/api/shop"
_SPECIAL_OFFER = "/v3/marketplace/api/special-offer"
_INVOICE = "/v3/payment/api/invoice"
_COUNTERPARTY = "/v3/filter/api/counterparty-detail"

R = TypeVar("R")
M = TypeVar("M", bound=Model)


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
    params: list[tuple[str, str]] | None = None
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

    def __init__(
        self,
        token: str | None,
        *,
        base_url: str,
        timeout: httpx.Timeout | float | None,
        user_agent: str | None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout if timeout is not None else DEFAULT_TIMEOUT
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

    def _request(self, client: httpx.Client | httpx.AsyncClient, call: _Call[Any]) -> httpx.Request:
        headers = dict(call.headers or {})
        return client.build_request(
            call.method, call.path, params=call.params, content=call.body, headers=headers
        )

    # -- merchant API calls (used by Client / AsyncClient) ------------------------------------

    def _check_auth(self) -> _Call[AuthInfo]:
        return _Call("GET", "/v3/security/api/auth/auth", _one(AuthInfo))

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
        return _Call("GET", _ORDER_LIST, _page(Order), params=params)

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

    def _upsert_special_offer(self, offer: SpecialOffer) -> _Call[SpecialOffer]:
        payload = offer.to_dict()
        payload.pop("id", None)
        return _Call("POST", _SPECIAL_OFFER, _one(SpecialOffer), body=self._body(payload))

    def _lookup_company(
        self, vat_number: str, page: int | None, page_size: int | None
    ) -> _Call[Page[Counterparty]]:
        params = [("vatNumber", str(vat_number))]
        params += build_query(page=page, page_size=page_size)
        return _Call("GET", _COUNTERPARTY, _page(Counterparty), params=params)

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


class Client(_Base):
    """Synchronous merchant API client (Invoicebox API v3 / marketbox).

        with Client(token="...", base_url="https://marketbox.example") as client:
            order = client.create_order(...)

    `transport` accepts any httpx transport (e.g. `httpx.MockTransport` in tests).
    `user_agent` is your application id (`MyShop/1.2`); the SDK appends its own.
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout | float | None = None,
        user_agent: str | None = None,
    ) -> None:
        super().__init__(token, base_url=base_url, timeout=timeout, user_agent=user_agent)
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

    def _send(self, call: _Call[R]) -> R:
        request = self._request(self._http, call)
        try:
            response = self._http.send(request)
        except httpx.TransportError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        return call.parse(_read_envelope(response))

    def check_auth(self) -> AuthInfo:
        """Check the token (`GET /v3/security/api/auth/auth`); raises Unauthorized if bad."""
        return self._send(self._check_auth())

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
        **fields: Any,
    ) -> Order:
        """Create an order (`POST /v3/billing/api/order/order`).

        `fields` are further `CreateOrder` attributes (`language_id`, `success_url`,
        `notification_url`, `shop_id`, `meta_data`, `processable`, ...). Set
        `order_container_id` to add a suborder to an existing unpaid container.

        Every mutating method takes `idempotency_key` (a marketbox extension, sent as the
        `Idempotency-Key` header): retrying a call with the same key and arguments gets the
        first answer back instead of running it again. Use a new key (a UUID) per operation.
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
        return self._send(_keyed(self._create_order(order), idempotency_key))

    def create_order_request(
        self, order: CreateOrder, *, idempotency_key: str | None = None
    ) -> Order:
        """Create an order from a prepared `CreateOrder` model."""
        return self._send(_keyed(self._create_order(order), idempotency_key))

    def get_order(self, order_id: str) -> Order:
        """Fetch one order (`GET /v3/billing/api/order/order/{id}`)."""
        return self._send(self._get_order(order_id))

    def list_orders(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        order_by: OrderBy = None,
        filters: Mapping[str, Any] | None = None,
        **conditions: Any,
    ) -> Page[Order]:
        """List orders (`GET /v3/filter/api/order/order`).

        Conditions: `status=["created", "completed"]`, `merchant_order_id="A-1"`,
        `created_at__ge=datetime(...)` (operators eq ne gt ge lt le start). `order_by`:
        `"-created_at"` (desc) or a list; `filters`: raw wire keys such as
        `{"customer[type][eq]": "legal"}`. `page` is 1-based.
        """
        return self._send(self._list_orders(page, page_size, order_by, filters, conditions))

    def update_order(
        self,
        order_id: str,
        update: UpdateOrder | None = None,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Order:
        """Change an unpaid order (`PUT .../order/{id}`); pass an `UpdateOrder` or its fields."""
        call = self._update_order(order_id, update or UpdateOrder(**fields))
        return self._send(_keyed(call, idempotency_key))

    def cancel_order(self, order_id: str, *, idempotency_key: str | None = None) -> Order:
        """Cancel an order (`DELETE .../order/{id}`); returns it with status `canceled`."""
        return self._send(_keyed(self._cancel_order(order_id), idempotency_key))

    def set_order_status(
        self, order_id: str, status: str, *, idempotency_key: str | None = None
    ) -> Order:
        """Move a non-processable order to `created`, `completed`, `expired` or `canceled`."""
        return self._send(_keyed(self._set_order_status(order_id, status), idempotency_key))

    def create_shop(self, *, title: str, idempotency_key: str | None = None, **fields: Any) -> Shop:
        """Create a marketplace point of sale; `fields` are `ShopFields` attributes."""
        call = self._create_shop(ShopFields(title=title, **fields))
        return self._send(_keyed(call, idempotency_key))

    def update_shop(
        self, shop_id: int, *, idempotency_key: str | None = None, **fields: Any
    ) -> Shop:
        """Update a point of sale (`POST /v3/marketplace/api/shop/{id}`)."""
        call = self._update_shop(shop_id, ShopFields(**fields))
        return self._send(_keyed(call, idempotency_key))

    def upsert_special_offer(
        self, offer: SpecialOffer, *, idempotency_key: str | None = None
    ) -> SpecialOffer:
        """Create or change a special offer (keyed by merchant_id + external_id)."""
        return self._send(_keyed(self._upsert_special_offer(offer), idempotency_key))

    def lookup_company(
        self, vat_number: str, *, page: int | None = None, page_size: int | None = None
    ) -> Page[Counterparty]:
        """Every registration of a company or sole trader by INN
        (`GET /v3/filter/api/counterparty-detail`); an unknown INN is an empty page.

        Raises `ValidationError` for a malformed INN, `OutOfService` when the platform has no
        company source or it is down.
        """
        return self._send(self._lookup_company(vat_number, page, page_size))

    def validate_payment_method(
        self,
        order_id: str,
        *,
        payment_method_id: str,
        customer: Customer,
        language_id: str | None = None,
    ) -> PaymentMethodCheck:
        """Can this payer pay the order with this guarantee instrument
        (`POST .../order/{id}/payment-method-action/validate`)?"""
        return self._send(
            self._validate_payment_method(order_id, payment_method_id, customer, language_id)
        )

    def send_payment_code(
        self,
        order_id: str,
        *,
        payment_method_id: str,
        customer: Customer,
        language_id: str | None = None,
    ) -> PaymentCodeSent:
        """Have the platform send the payer a confirmation code
        (`POST .../order/{id}/payment-method-action/send-code`)."""
        return self._send(
            self._send_payment_code(order_id, payment_method_id, customer, language_id)
        )

    def pay_with_code(
        self,
        order_id: str,
        *,
        payment_method_id: str,
        customer: Customer,
        public_code: str,
        code: str,
        language_id: str | None = None,
    ) -> PaymentCodeResult:
        """Pay the order's invoice with the code the payer received
        (`POST .../order/{id}/payment-method-action/pay`); check `.result` (or `.paid`)."""
        return self._send(
            self._pay_with_code(
                order_id, payment_method_id, customer, public_code, code, language_id
            )
        )


class AsyncClient(_Base):
    """Asynchronous merchant API client; same methods as `Client`, awaited.

    async with AsyncClient(token="...", transport=httpx.ASGITransport(app=app),
                           base_url="http://testserver") as client:
        order = await client.get_order(order_id)
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | float | None = None,
        user_agent: str | None = None,
    ) -> None:
        super().__init__(token, base_url=base_url, timeout=timeout, user_agent=user_agent)
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

    async def _send(self, call: _Call[R]) -> R:
        request = self._request(self._http, call)
        try:
            response = await self._http.send(request)
        except httpx.TransportError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        return call.parse(_read_envelope(response))

    async def check_auth(self) -> AuthInfo:
        """Check the token (`GET /v3/security/api/auth/auth`); raises Unauthorized if bad."""
        return await self._send(self._check_auth())

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
        **fields: Any,
    ) -> Order:
        """Create an order (`POST /v3/billing/api/order/order`); see `Client.create_order`."""
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
        return await self._send(_keyed(self._create_order(order), idempotency_key))

    async def create_order_request(
        self, order: CreateOrder, *, idempotency_key: str | None = None
    ) -> Order:
        """Create an order from a prepared `CreateOrder` model."""
        return await self._send(_keyed(self._create_order(order), idempotency_key))

    async def get_order(self, order_id: str) -> Order:
        """Fetch one order (`GET /v3/billing/api/order/order/{id}`)."""
        return await self._send(self._get_order(order_id))

    async def list_orders(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        order_by: OrderBy = None,
        filters: Mapping[str, Any] | None = None,
        **conditions: Any,
    ) -> Page[Order]:
        """List orders (`GET /v3/filter/api/order/order`); see `Client.list_orders`."""
        return await self._send(self._list_orders(page, page_size, order_by, filters, conditions))

    async def update_order(
        self,
        order_id: str,
        update: UpdateOrder | None = None,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Order:
        """Change an unpaid order (`PUT .../order/{id}`); pass an `UpdateOrder` or its fields."""
        call = self._update_order(order_id, update or UpdateOrder(**fields))
        return await self._send(_keyed(call, idempotency_key))

    async def cancel_order(self, order_id: str, *, idempotency_key: str | None = None) -> Order:
        """Cancel an order (`DELETE .../order/{id}`); returns it with status `canceled`."""
        return await self._send(_keyed(self._cancel_order(order_id), idempotency_key))

    async def set_order_status(
        self, order_id: str, status: str, *, idempotency_key: str | None = None
    ) -> Order:
        """Move a non-processable order to `created`, `completed`, `expired` or `canceled`."""
        return await self._send(_keyed(self._set_order_status(order_id, status), idempotency_key))

    async def create_shop(
        self, *, title: str, idempotency_key: str | None = None, **fields: Any
    ) -> Shop:
        """Create a marketplace point of sale; `fields` are `ShopFields` attributes."""
        call = self._create_shop(ShopFields(title=title, **fields))
        return await self._send(_keyed(call, idempotency_key))

    async def update_shop(
        self, shop_id: int, *, idempotency_key: str | None = None, **fields: Any
    ) -> Shop:
        """Update a point of sale (`POST /v3/marketplace/api/shop/{id}`)."""
        call = self._update_shop(shop_id, ShopFields(**fields))
        return await self._send(_keyed(call, idempotency_key))

    async def upsert_special_offer(
        self, offer: SpecialOffer, *, idempotency_key: str | None = None
    ) -> SpecialOffer:
        """Create or change a special offer (keyed by merchant_id + external_id)."""
        return await self._send(_keyed(self._upsert_special_offer(offer), idempotency_key))

    async def lookup_company(
        self, vat_number: str, *, page: int | None = None, page_size: int | None = None
    ) -> Page[Counterparty]:
        """Every registration of a company or sole trader by INN; see `Client.lookup_company`."""
        return await self._send(self._lookup_company(vat_number, page, page_size))

    async def validate_payment_method(
        self,
        order_id: str,
        *,
        payment_method_id: str,
        customer: Customer,
        language_id: str | None = None,
    ) -> PaymentMethodCheck:
        """Can this payer pay the order with this guarantee instrument? See `Client`."""
        return await self._send(
            self._validate_payment_method(order_id, payment_method_id, customer, language_id)
        )

    async def send_payment_code(
        self,
        order_id: str,
        *,
        payment_method_id: str,
        customer: Customer,
        language_id: str | None = None,
    ) -> PaymentCodeSent:
        """Have the platform send the payer a confirmation code; see `Client`."""
        return await self._send(
            self._send_payment_code(order_id, payment_method_id, customer, language_id)
        )

    async def pay_with_code(
        self,
        order_id: str,
        *,
        payment_method_id: str,
        customer: Customer,
        public_code: str,
        code: str,
        language_id: str | None = None,
    ) -> PaymentCodeResult:
        """Pay the order's invoice with the payer's code; see `Client.pay_with_code`."""
        return await self._send(
            self._pay_with_code(
                order_id, payment_method_id, customer, public_code, code, language_id
            )
        )


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
    ) -> None:
        super().__init__(token, base_url=base_url, timeout=timeout, user_agent=user_agent)
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
        return _Call("GET", _INVOICE, _page(Invoice), params=params)

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


class InstrumentClient(_InstrumentBase):
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
    ) -> None:
        super().__init__(
            signing_key=signing_key,
            token=token,
            algorithm=algorithm,
            base_url=base_url,
            timeout=timeout,
            user_agent=user_agent,
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

    _send = Client._send

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


class AsyncInstrumentClient(_InstrumentBase):
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
    ) -> None:
        super().__init__(
            signing_key=signing_key,
            token=token,
            algorithm=algorithm,
            base_url=base_url,
            timeout=timeout,
            user_agent=user_agent,
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

    _send = AsyncClient._send

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
