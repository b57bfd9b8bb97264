"""Typed models of the API's request and response objects.

Models are plain dataclasses with snake_case attributes; on the wire the same names are
camelCase (`merchant_order_id` <-> `merchantOrderId`). `to_dict()` builds the JSON object
(leaving out fields that are None), `from_dict()` parses one: amounts become `Decimal`,
datetimes become aware `datetime`, nested objects become models. Response models keep the
whole object they were parsed from in `raw`, so fields this SDK does not know yet are not lost.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import types
import typing
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any, ClassVar, Generic, Self, TypeVar

from ._money import to_decimal

__all__ = [
    "TEST_NOTIFICATION_ID",
    "AuthInfo",
    "BasketItem",
    "Counterparty",
    "CreateOrder",
    "CreateRefund",
    "CreateShipment",
    "Customer",
    "Invoice",
    "InvoicePayment",
    "InvoiceSetting",
    "Notification",
    "Order",
    "OrderSetting",
    "OrderStatus",
    "Page",
    "PaymentCodeResult",
    "PaymentCodeSent",
    "PaymentMethodCheck",
    "PaymentOrder",
    "PaymentOrderTemplate",
    "Refund",
    "RefundStatus",
    "Shipment",
    "Shop",
    "ShopFields",
    "SpecialOffer",
    "UpdateOrder",
]

T = TypeVar("T")

#: `id` of the platform's monitoring test notification (notifications.md §6.1).
TEST_NOTIFICATION_ID = "ffffffff-ffff-ffff-ffff-ffffffffffff"


class OrderStatus(enum.StrEnum):
    """Order statuses (api.md §8.7); `SUCCESS` appears only in some real notifications."""

    DRAFT = "draft"
    CREATED = "created"
    HOLD = "hold"
    COMPLETED = "completed"
    EXPIRED = "expired"
    CANCELED = "canceled"
    SUCCESS = "success"


def camel(name: str) -> str:
    """`merchant_order_id` -> `merchantOrderId`."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _parse_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an RFC 3339 datetime string, got {value!r}")
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:  # the API stores UTC; an offset-less value means UTC
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def _parse_date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a YYYY-MM-DD date string, got {value!r}")
    return dt.date.fromisoformat(value[:10])


def _convert(tp: Any, value: Any, name: str) -> Any:
    """Convert the JSON `value` to the annotated type `tp` (best effort for unions)."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        errors: list[Exception] = []
        for arg in args:
            try:
                return _convert(arg, value, name)
            except (TypeError, ValueError) as exc:
                errors.append(exc)
        raise ValueError(f"{name}: cannot convert {value!r}: {errors}")
    if origin is list:
        (item_tp,) = typing.get_args(tp) or (Any,)
        if not isinstance(value, list):
            raise ValueError(f"{name}: expected a list, got {value!r}")
        return [_convert(item_tp, item, name) for item in value]
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ValueError(f"{name}: expected an object, got {value!r}")
        return dict(value)
    if tp is Any or tp is object:
        return value
    if tp is Decimal:
        return to_decimal(value, name=name)
    if tp is dt.datetime:
        return _parse_datetime(value)
    if tp is dt.date:
        return _parse_date(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name}: expected a boolean, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"{name}: expected an integer, got {value!r}")
        return int(value)
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"{name}: expected a string, got {value!r}")
        return value
    if isinstance(tp, type) and issubclass(tp, Model):
        if not isinstance(value, Mapping):
            raise ValueError(f"{name}: expected an object, got {value!r}")
        return tp.from_dict(value)
    return value


_TYPE_HINTS: dict[type, dict[str, Any]] = {}


def _type_hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of a model class, worked out once per class."""
    hints = _TYPE_HINTS.get(cls)
    if hints is None:
        hints = _TYPE_HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _to_json_value(value: Any) -> Any:
    if isinstance(value, Model):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return [_to_json_value(item) for item in value]
    return value


class Model:
    """Base of all SDK models: camelCase (de)serialization driven by the annotations."""

    #: Money-like fields that are converted with `to_decimal` on construction.
    _decimal_fields: ClassVar[tuple[str, ...]] = ()
    #: Wire names that differ from `camel(attribute)`.
    _aliases: ClassVar[dict[str, str]] = {}

    def __post_init__(self) -> None:
        for name in self._decimal_fields:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, to_decimal(value, name=name))

    @classmethod
    def _wire_name(cls, attr: str) -> str:
        return cls._aliases.get(attr) or camel(attr)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object for this model (camelCase keys, None fields left out)."""
        result: dict[str, Any] = {}
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            if field.name == "raw":
                continue
            value = getattr(self, field.name)
            if value is None:
                continue
            result[self._wire_name(field.name)] = _to_json_value(value)
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Parse a JSON object (camelCase keys) into the model; raises ValueError if invalid."""
        hints = _type_hints(cls)
        kwargs: dict[str, Any] = {}
        missing: list[str] = []
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]
            if field.name == "raw":
                kwargs["raw"] = dict(data)
                continue
            wire = cls._wire_name(field.name)
            if wire in data and data[wire] is not None:
                kwargs[field.name] = _convert(hints[field.name], data[wire], wire)
            elif (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            ):
                missing.append(wire)
        if missing:
            raise ValueError(f"{cls.__name__}: missing required field(s) {', '.join(missing)}")
        return cls(**kwargs)


# ---------------------------------------------------------------------------------------------
# Orders


@dataclasses.dataclass(kw_only=True)
class Customer(Model):
    """The payer. All fields optional; `type` is `private` or `legal`."""

    type: str | None = None
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    vat_number: str | None = None
    tax_registration_reason_code: str | None = None
    registration_address: str | None = None
    country_id: str | None = None


@dataclasses.dataclass(kw_only=True)
class BasketItem(Model):
    """One basket line. `amount`/`amount_wo_vat` are unit prices, `total_*` line totals."""

    _decimal_fields = (
        "quantity",
        "amount",
        "amount_wo_vat",
        "total_amount",
        "total_vat_amount",
        "gross_weight",
        "net_weight",
        "excise",
        "available_amount",
        "available_vat_amount",
    )

    sku: str
    name: str
    measure: str
    measure_code: str
    quantity: Decimal
    amount: Decimal
    amount_wo_vat: Decimal
    total_amount: Decimal
    total_vat_amount: Decimal
    vat_code: str
    type: str | int
    payment_type: str
    group_name: str | None = None
    origin_country: str | None = None
    origin_country_code: str | None = None
    gross_weight: Decimal | None = None
    net_weight: Decimal | None = None
    excise: Decimal | None = None
    service_date: dt.date | None = None
    category_type: str | None = None
    category: str | None = None
    meta_data: dict[str, Any] | None = None
    #: Only in refundable-item lists: what is still refundable on this line.
    available_amount: Decimal | None = None
    available_vat_amount: Decimal | None = None


@dataclasses.dataclass(kw_only=True)
class InvoiceSetting(Model):
    """Payment-page behaviour options."""

    customer_locked: bool | None = None
    customer_locked_fields: list[str] | None = None
    payment_method_id_locked: bool | None = None
    payment_method_id: int | None = None
    customer_hidden_fields: list[str] | None = None


@dataclasses.dataclass(kw_only=True)
class OrderSetting(Model):
    """Order options: calculation (`round_policy`: strict, none, floor, ceil, halfUp, halfDown;
    `disable_validate`) and, on the main order, `allow_addons=False` to keep other merchants'
    add-on services off the invoice (a marketbox extension)."""

    round_policy: str | None = None
    disable_validate: bool | None = None
    allow_addons: bool | None = None


@dataclasses.dataclass(kw_only=True)
class CreateOrder(Model):
    """Body of `POST /v3/billing/api/order/order` (CreateOrderRequest).

    Set `order_container_id` to add the order to an existing unpaid container (suborder),
    `parent_id` for a correction order.
    """

    _decimal_fields = ("amount", "vat_amount")

    merchant_id: str
    merchant_order_id: str
    description: str
    amount: Decimal
    vat_amount: Decimal
    currency_id: str
    expiration_date: dt.datetime
    basket_items: list[BasketItem]
    customer: Customer = dataclasses.field(default_factory=Customer)
    merchant_order_id_visible: str | None = None
    language_id: str | None = None
    meta_data: dict[str, Any] | None = None
    notification_url: str | None = None
    success_url: str | None = None
    fail_url: str | None = None
    return_url: str | None = None
    invoice_setting: InvoiceSetting | None = None
    order_setting: OrderSetting | None = None
    parent_id: str | None = None
    order_container_id: str | None = None
    shop_id: int | None = None
    processable: bool | None = None
    delivery_address: str | None = None
    user_account_id: str | None = None


@dataclasses.dataclass(kw_only=True)
class UpdateOrder(Model):
    """Body of `PUT /v3/billing/api/order/order/{id}`: only the fields that are set change."""

    _decimal_fields = ("amount", "vat_amount")

    description: str | None = None
    amount: Decimal | None = None
    vat_amount: Decimal | None = None
    expiration_date: dt.datetime | None = None
    basket_items: list[BasketItem] | None = None
    meta_data: dict[str, Any] | None = None
    customer: Customer | None = None
    shop_id: int | None = None


@dataclasses.dataclass(kw_only=True)
class Order(Model):
    """An order as returned by the API (OrderResponse)."""

    _decimal_fields = ("amount", "vat_amount")

    id: str
    status: str
    merchant_id: str | None = None
    merchant_order_id: str | None = None
    merchant_order_id_visible: str | None = None
    description: str | None = None
    amount: Decimal | None = None
    vat_amount: Decimal | None = None
    currency_id: str | None = None
    language_id: str | None = None
    order_container_id: str | None = None
    payment_url: str | None = None
    created_at: dt.datetime | None = None
    expiration_date: dt.datetime | None = None
    paid_at: dt.datetime | None = None
    basket_items: list[BasketItem] = dataclasses.field(default_factory=list)
    customer: Customer | None = None
    subtype: str | None = None
    processing_status: str | None = None
    processable: bool | None = None
    parent_id: str | None = None
    shop_id: int | None = None
    file_ids: Any = None
    meta_data: Any = None
    invoice_setting: InvoiceSetting | None = None
    order_setting: OrderSetting | None = None
    notification_url: str | None = None
    success_url: str | None = None
    fail_url: str | None = None
    return_url: str | None = None
    delivery_address: str | None = None
    user_account_id: str | None = None
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)


@dataclasses.dataclass(kw_only=True)
class Notification(Order):
    """An HTTP order notification (OrderNotification: OrderResponse plus `paidAt`).

    Parsed and verified by `parse_notification`; `merchant_order_id`, `amount` and
    `currency_id` are always present on a valid notification.
    """

    #: Wire fields a notification must carry (notifications.md §2).
    REQUIRED: ClassVar[tuple[str, ...]] = (
        "id",
        "status",
        "merchantId",
        "merchantOrderId",
        "amount",
        "currencyId",
    )

    @property
    def is_test(self) -> bool:
        """True for the platform's monitoring test notification (never change orders on it)."""
        return self.id == TEST_NOTIFICATION_ID


@dataclasses.dataclass(kw_only=True)
class AuthInfo(Model):
    """Answer of the auth check: `user_id` is None for an anonymous (token-less) call."""

    user_id: str | None = None
    profile: Any = None
    access_token: Any = None
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)


@dataclasses.dataclass(kw_only=True)
class PreviousCredential(Model):
    """A replaced token or key that still works until `valid_until` (a rotation's overlap)."""

    fingerprint: str
    valid_until: dt.datetime


@dataclasses.dataclass(kw_only=True)
class CredentialInfo(Model):
    """A token or signing key, named by its fingerprint (first 16 hex digits of its SHA-256)."""

    fingerprint: str
    created_at: dt.datetime
    previous: PreviousCredential | None = None


@dataclasses.dataclass(kw_only=True)
class NotificationSettings(Model):
    """The merchant's default notification URL and the HMAC algorithm of its signatures;
    shipping control on the payment page (the payment page waits up to
    `shipping_control_timeout_seconds` for the shop's answer to a held payment's notification;
    marketbox extension, docs/miniapps.md "Shipping control")."""

    notification_url: str | None = None
    signature_algorithm: str = "sha1"
    shipping_control: bool = False
    shipping_control_timeout_seconds: int = 20


@dataclasses.dataclass(kw_only=True)
class Credentials(Model):
    """The merchant's credentials without secrets (marketbox extension). After a rotation,
    `new_token` / `new_signing_key` hold the new secrets: they are shown this once."""

    merchant_id: str
    token: CredentialInfo
    signing_key: CredentialInfo
    notification: NotificationSettings
    new_token: str | None = dataclasses.field(default=None, repr=False)
    new_signing_key: str | None = dataclasses.field(default=None, repr=False)
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)


# ---------------------------------------------------------------------------------------------
# Sandbox controls (marketbox only, refused in production; docs/sandbox.md)


@dataclasses.dataclass(kw_only=True)
class SandboxTrigger(Model):
    """What a sandbox trigger did: `result` is paid, held, declined, expired or pending (the
    gateway did not answer in time); `order` is the order as it is now."""

    action: str
    result: str
    order: Order
    payment_id: str | None = None
    failure_code: str | None = None
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)


@dataclasses.dataclass(kw_only=True)
class SandboxClock(Model):
    """The sandbox clock: `now` is the time deadlines and retries follow, `real_now` the real
    time; `offset` is how far it is moved forward."""

    now: dt.datetime
    real_now: dt.datetime
    offset_seconds: int
    moved: bool
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @property
    def offset(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.offset_seconds)


@dataclasses.dataclass(kw_only=True)
class SandboxReset(Model):
    """What a sandbox reset deleted: rows per table."""

    deleted: dict[str, int]
    demo_merchant_id: str
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)


@dataclasses.dataclass
class Page(Generic[T]):
    """One page of a list endpoint: `items` plus the envelope's `metaData`."""

    items: list[T]
    total_count: int | None = None
    page: int | None = None
    page_size: int | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def has_next(self) -> bool:
        """True when later pages exist (judged from totalCount, page and pageSize)."""
        if self.total_count is None or self.page is None or not self.page_size:
            return False
        return self.page * self.page_size < self.total_count


# ---------------------------------------------------------------------------------------------
# Refunds and corrections (api.md §9)


class RefundStatus(enum.StrEnum):
    """Refund statuses (api.md §9): a `draft` waits for a correction order, `created` is formed,
    `completed` is paid out, `canceled` gives its amount back to what is refundable."""

    DRAFT = "draft"
    CREATED = "created"
    COMPLETED = "completed"
    CANCELED = "canceled"


@dataclasses.dataclass(kw_only=True)
class CreateRefund(Model):
    """Body of `POST /v3/billing/api/order/refund-order` (a full or partial refund).

    `parent_id` is the paid order; `merchant_order_id` is the refund's own number, unique per
    refund (a reused one raises `DuplicateMerchantOrderId`: that protects against refunding
    twice). `status` is `created` (default) or `draft` (to attach a correction order).
    """

    _decimal_fields = ("amount", "vat_amount")

    parent_id: str
    merchant_order_id: str
    description: str
    amount: Decimal
    vat_amount: Decimal
    basket_items: list[BasketItem]
    status: str | None = None


@dataclasses.dataclass(kw_only=True)
class Refund(Model):
    """A refund as returned by the API (RefundOrderResponse).

    After a correction order (api.md §9.4) `correction_amount` is what was withheld and
    `payout_amount` what the buyer gets back (marketbox extensions; None otherwise).
    """

    _decimal_fields = ("amount", "vat_amount", "correction_amount", "payout_amount")

    id: str
    parent_id: str
    status: str
    amount: Decimal
    vat_amount: Decimal
    merchant_order_id: str | None = None
    merchant_id: str | None = None
    description: str | None = None
    currency_id: str | None = None
    basket_items: list[BasketItem] = dataclasses.field(default_factory=list)
    created_at: dt.datetime | None = None
    correction_amount: Decimal | None = None
    payout_amount: Decimal | None = None
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)


# ---------------------------------------------------------------------------------------------
# Shipments (api.md §10)


@dataclasses.dataclass(kw_only=True)
class CreateShipment(Model):
    """Body of `POST /v3/billing/api/order/shipment`: what a paid order delivered.

    Several shipments per order are allowed, together at most the order's amount; a `final`
    one closes the order's shipments (and releases what is left of a held payment).
    """

    order_id: str
    basket_items: list[BasketItem]
    document_number: str | None = None
    document_date: dt.date | None = None
    final: bool | None = None
    meta_data: dict[str, Any] | list[Any] | None = None


@dataclasses.dataclass(kw_only=True)
class Shipment(Model):
    """A shipment as returned by the API (ShipmentResponse); `id` is an integer."""

    _decimal_fields = ("amount", "vat_amount")

    id: int
    order_id: str
    merchant_id: str | None = None
    document_number: str | None = None
    document_date: dt.date | None = None
    basket_items: list[BasketItem] = dataclasses.field(default_factory=list)
    final: bool = False
    status: str | None = None
    type: str | None = None
    amount: Decimal | None = None
    vat_amount: Decimal | None = None
    currency_id: str | None = None
    created_at: dt.datetime | None = None
    meta_data: Any = None
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)


@dataclasses.dataclass(kw_only=True)
class MailMessage(Model):
    """A letter the platform wrote for the merchant (marketbox extension, `GET
    /v3/mail/api/message`): the buyer's receipt letter or the merchant's payment notice.

    `status`: `pending` (not sent yet), `sent` (the SMTP server accepted it), `captured`
    (sandbox without SMTP: stored, never sent) or `failed` (given up after the last retry).
    """

    id: str
    kind: str
    to: str
    subject: str
    text: str
    status: str
    attempts: int = 0
    merchant_id: str | None = None
    language: str | None = None
    last_error: str | None = None
    order_container_id: str | None = None
    order_id: str | None = None
    created_at: dt.datetime | None = None
    next_attempt_at: dt.datetime | None = None
    sent_at: dt.datetime | None = None
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)


# ---------------------------------------------------------------------------------------------
# Marketplace


@dataclasses.dataclass(kw_only=True)
class ShopFields(Model):
    """Fields of a point-of-sale create/update request (all optional; `title` needed to create)."""

    _decimal_fields = ("min_order_sum", "lat", "lon")

    title: str | None = None
    description: str | None = None
    brand_id: int | None = None
    merchant_id: str | None = None
    external_update: bool | None = None
    type: str | None = None
    shop_url: str | None = None
    min_order_sum: Decimal | None = None
    notification_email: str | None = None
    yandex_metrika_id: int | None = None
    delivery_info: str | None = None
    registration_address: str | None = None
    lat: Decimal | None = None
    lon: Decimal | None = None
    jivosite_id: str | None = None
    mini_app_url: str | None = None
    mini_app_modes: list[str] | None = None
    logo_url: str | None = None
    images: list[Any] | None = None
    links: list[Any] | None = None
    account_program_ids: list[str] | None = None
    # marketbox extension: False keeps other merchants' add-ons off the invoices of orders
    # created for this point of sale (an order's `OrderSetting.allow_addons` wins).
    allow_addons: bool | None = None


@dataclasses.dataclass(kw_only=True)
class Shop(ShopFields):
    """A marketplace point of sale (ShopResponse). `token` and `launch_secret` are secrets.

    `launch_secret` (marketbox) verifies its mini-app's signed launch data
    (`verify_launch_data`); the replaced one still signs beside it until
    `previous_launch_secret_valid_until`."""

    id: int
    token: str | None = dataclasses.field(default=None, repr=False)
    alias: str | None = None
    launch_secret: str | None = dataclasses.field(default=None, repr=False)
    launch_secret_created_at: dt.datetime | None = None
    previous_launch_secret_valid_until: dt.datetime | None = None
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)


@dataclasses.dataclass(kw_only=True)
class SpecialOffer(Model):
    """A special offer; upserted by (`merchant_id`, `external_id`). `id` is set by the server."""

    merchant_id: str
    external_id: str
    active: bool
    start_at: dt.datetime
    finish_at: dt.datetime
    description: str
    tags: list[str] = dataclasses.field(default_factory=list)
    name: str | None = None
    id: int | None = None
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)


# ---------------------------------------------------------------------------------------------
# Payment instruments


@dataclasses.dataclass(kw_only=True)
class PaymentOrderTemplate(Model):
    """Bank-transfer details of an invoice (who to pay, where)."""

    _decimal_fields = ("amount",)

    type: str | None = None
    amount: Decimal | None = None
    currency_id: str | None = None
    name: str | None = None
    vat_number: str | None = None
    tax_registration_reason_code: str | None = None
    settlement_account: str | None = None
    correspondent_account: str | None = None
    bank_name: str | None = None
    bic: str | None = None
    kbk: str | None = None
    oktmo: str | None = None
    uin: str | None = None
    payment_purpose: str | None = None


@dataclasses.dataclass(kw_only=True)
class PaymentOrder(Model):
    """Details of the payer's payment order, sent with an instrument's confirmation."""

    _decimal_fields = ("amount",)

    type: str
    amount: Decimal
    currency_id: str
    number: str | None = None
    date: dt.date | None = None
    name: str | None = None
    phone: str | None = None
    vat_number: str | None = None
    tax_registration_reason_code: str | None = None
    settlement_account: str | None = None
    correspondent_account: str | None = None
    bank_name: str | None = None
    bic: str | None = None
    kbk: str | None = None
    payment_purpose: str | None = None


@dataclasses.dataclass(kw_only=True)
class Invoice(Model):
    """An invoice (order container) as seen by a payment instrument (InvoiceResponse)."""

    _decimal_fields = ("amount", "vat_amount")

    id: str
    number: str | None = None
    created_at: dt.datetime | None = None
    expiration_date: dt.datetime | None = None
    description: str | None = None
    amount: Decimal | None = None
    vat_amount: Decimal | None = None
    currency_id: str | None = None
    customer: Customer | None = None
    payment_order_template: PaymentOrderTemplate | None = None
    status: str | None = None
    payment_url: str | None = None
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)


@dataclasses.dataclass(kw_only=True)
class InvoicePayment(Model):
    """A payment confirmed by an instrument (InvoicePaymentResponse; `id` = transaction id)."""

    _decimal_fields = ("amount",)

    id: str | None = None
    invoice_id: str | None = None
    payment_operation_id: str | None = None
    amount: Decimal | None = None
    currency_id: str | None = None
    payment_order: PaymentOrder | None = None
    status: str | None = None
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)


# ---------------------------------------------------------------------------------------------
# Company lookup


@dataclasses.dataclass(kw_only=True)
class Counterparty(Model):
    """A company's or sole trader's registration found by INN (`Client.lookup_company`).

    One INN may have several: the head office and its branches differ by KPP
    (`tax_registration_reason_code`, None for a sole trader). `registration_number` is the
    OGRN (13 digits) or OGRNIP (15). The values come from a register: treat them as data.
    """

    id: str
    vat_number: str
    tax_registration_reason_code: str | None = None
    name: str | None = None
    name_full: str | None = None
    name_i18n: str | None = None
    registration_number: str | None = None
    registration_date: dt.datetime | None = None
    registration_address: str | None = None
    post_address: str | None = None
    post_address_zip: str | None = None
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)


# ---------------------------------------------------------------------------------------------
# Guarantee instruments: confirming a payment with a code (api.md §11)


def _flatten_result_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """The answer with the keys of its `resultData` object lifted to the top level."""
    inner = data.get("resultData")
    flat = {k: v for k, v in data.items() if k != "resultData"}
    if isinstance(inner, Mapping):
        message = inner.get("message")
        if isinstance(message, Mapping):  # pay: resultData.message.{title, message}
            flat["title"] = message.get("title")
            flat["message"] = message.get("message")
        for key in ("publicCode", "leftAttempt"):  # send-code
            if key in inner:
                flat[key] = inner[key]
    return flat


class _GuaranteeAnswer(Model):
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        answer = super().from_dict(_flatten_result_data(data))
        answer.raw = dict(data)  # type: ignore[attr-defined]
        return answer


@dataclasses.dataclass(kw_only=True)
class PaymentMethodCheck(_GuaranteeAnswer):
    """Answer of `validate_payment_method`: `result` is `available`, `notEnoughMoney` or
    `notRegistered`; `result_note` says why when it is not available."""

    result: str
    type: str | None = None
    result_note: str | None = None
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @property
    def available(self) -> bool:
        return self.result == "available"


@dataclasses.dataclass(kw_only=True)
class PaymentCodeSent(_GuaranteeAnswer):
    """Answer of `send_payment_code`: `result` is `success`, `codeAlreadySent` or `error`.

    `public_code` goes back with the payer's code to `pay_with_code` (None after an error);
    `left_attempt` is how many more codes may be sent for this order.
    """

    result: str
    type: str | None = None
    result_note: str | None = None
    public_code: str | None = None
    left_attempt: int | None = None
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @property
    def sent(self) -> bool:
        """True when a code is on its way to the payer (just now or within the resend window)."""
        return self.result in ("success", "codeAlreadySent")


@dataclasses.dataclass(kw_only=True)
class PaymentCodeResult(_GuaranteeAnswer):
    """Answer of `pay_with_code`: `result` is `success` (the order is paid), `wrongCode`,
    `limitReached`, `notEnoughMoney`, `alreadyPaid` or `error`.

    Unless it succeeded, `title` and `message` are the text to show the payer as it is.
    """

    result: str
    type: str | None = None
    title: str | None = None
    message: str | None = None
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @property
    def paid(self) -> bool:
        """True when the order is paid: now (`success`) or before (`alreadyPaid`)."""
        return self.result in ("success", "alreadyPaid")


# ---------------------------------------------------------------------------------------------
# The notification delivery log (a marketbox extension, docs/notifications.md §8)


@dataclasses.dataclass(kw_only=True)
class SentRequest(Model):
    """The exact request a notification attempt sent: URL, headers (with `X-Signature`) and
    the body as text."""

    url: str | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: str = ""
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)


@dataclasses.dataclass(kw_only=True)
class ShopReply(Model):
    """What the shop answered: HTTP status, headers, body (the first 2048 bytes)."""

    status: int
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: str | None = None
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)


@dataclasses.dataclass(kw_only=True)
class DeliveryAttempt(Model):
    """One delivery attempt: the request, the reply (None: no HTTP answer) and the verdict
    (`outcome` success / retry / rejected; `reason` says why in one word)."""

    attempt: int
    started_at: dt.datetime
    duration_ms: int
    request: SentRequest
    response: ShopReply | None = None
    outcome: str
    reason: str | None = None
    reply_code: str | None = None
    error: str | None = None
    dispatcher: str | None = None
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)


@dataclasses.dataclass(kw_only=True)
class NotificationRecord(Model):
    """A notification in the delivery log; `request` and `attempts` are filled by
    `get_notification` (a list leaves them empty)."""

    id: str
    order_id: str
    merchant_id: str | None = None
    event: str | None = None
    url: str | None = None
    status: str
    attempt_count: int = 0
    next_attempt_at: dt.datetime | None = None
    in_flight: bool = False
    last_error: str | None = None
    resent_from: str | None = None
    created_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    request: SentRequest | None = None
    attempts: list[DeliveryAttempt] = dataclasses.field(default_factory=list)
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)


@dataclasses.dataclass(kw_only=True)
class NotificationTestResult(Model):
    """The test notification just sent: its record's id and status and the attempt made."""

    notification_id: str
    status: str
    attempt: DeliveryAttempt | None = None
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @property
    def accepted(self) -> bool:
        """True when the shop answered `success`."""
        return self.attempt is not None and self.attempt.outcome == "success"
