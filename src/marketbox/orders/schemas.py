"""The order JSON contract (spec/api.md §8): request models and the OrderResponse shape.

Request models describe shape and types only. Business rules that have their own Invoicebox
error codes (amounts, currency, language, expiration) live in `validation.py`, so they answer
with those codes instead of a generic `validation_error`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from annotated_types import Len, MaxLen
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from marketbox import parsing

VatCode = Literal[
    "VATNONE",
    "RUS_VAT0",
    "RUS_VAT5",
    "RUS_VAT5_ADDED",
    "RUS_VAT7",
    "RUS_VAT7_ADDED",
    "RUS_VAT10",
    "RUS_VAT10_ADDED",
    "RUS_VAT20",
    "RUS_VAT20_ADDED",
    "RUS_VAT22",
    "RUS_VAT22_ADDED",
]
VAT_CODES: tuple[str, ...] = get_args(VatCode)
PaymentType = Literal["full_prepayment", "prepayment", "advance", "full_payment"]
PAYMENT_TYPES: tuple[str, ...] = get_args(PaymentType)
RoundPolicy = Literal["strict", "none", "floor", "ceil", "halfUp", "halfDown"]
ROUND_POLICIES: tuple[str, ...] = get_args(RoundPolicy)
CustomerField = Literal["type", "name", "phone", "email", "vatNumber", "registrationAddress"]
CUSTOMER_FIELDS: tuple[str, ...] = get_args(CustomerField)
OrderStatus = Literal["created", "completed", "hold", "expired", "canceled", "draft"]
ORDER_STATUSES: tuple[str, ...] = get_args(OrderStatus)


def _http_url(value: Any) -> Any:
    """Callback and redirect targets must be absolute http(s) URLs: the payment page sends
    buyers to them and the dispatcher posts to them, so `javascript:` and the like never pass."""
    if isinstance(value, str):
        parts = urlsplit(value)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise ValueError("an absolute http(s) URL is required")
    return value


def _amount(value: Any) -> Decimal:
    """A JSON number or numeric string, ASCII only, finite, within ±`parsing.MAX_AMOUNT`."""
    return parsing.decimal_input(value)


def _int32(value: Any) -> int:
    """An int, an integral number or a string of ASCII digits that fits an INTEGER column."""
    return parsing.int_input(value, minimum=1, maximum=parsing.INT32_MAX)


Url = Annotated[str, StringConstraints(max_length=1000), AfterValidator(_http_url)]
# `_amount` already refuses what is not finite or out of ±MAX_AMOUNT; pydantic's own
# ge/le/allow_inf_nan checks would repeat it in Python for every amount (bench/).
Amount = Annotated[
    Decimal,
    BeforeValidator(_amount),
    # Documented as valid: 0 and up (a negative amount answers its own 422, validation.py).
    WithJsonSchema(parsing.decimal_json_schema(Decimal(0), parsing.MAX_AMOUNT)),
]
Quantity = Annotated[
    Decimal,
    BeforeValidator(_amount),
    # Kept to 6 decimals (validation.clean_quantity): the smallest quantity is 0.000001.
    WithJsonSchema(parsing.decimal_json_schema(Decimal("0.000001"), parsing.MAX_AMOUNT)),
]
PositiveInt32 = Annotated[int, BeforeValidator(_int32), Field(ge=1, le=parsing.INT32_MAX)]
ShopId = PositiveInt32
# Parsed in validation.py (its own error code); documented as what clients must send.
DateTimeText = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class _Model(BaseModel):
    # Unknown properties are ignored (clients send fields of newer API revisions).
    model_config = ConfigDict(extra="ignore", strict=False, populate_by_name=True)


class Customer(_Model):
    type: Literal["legal", "private"] | None = None
    name: Annotated[str, MaxLen(500)] | None = None
    phone: Annotated[str, MaxLen(100)] | None = None
    email: Annotated[str, MaxLen(100)] | None = None
    vatNumber: Annotated[str, MaxLen(20)] | None = None
    taxRegistrationReasonCode: Annotated[str, MaxLen(9)] | None = None
    registrationAddress: Annotated[str, MaxLen(1000)] | None = None
    countryId: Annotated[str, MaxLen(3)] | None = None


class BasketItem(_Model):
    sku: Annotated[str, Len(1, 500)]
    name: Annotated[str, Len(1, 500)]
    groupName: Annotated[str, MaxLen(500)] | None = None
    measure: Annotated[str, Len(1, 10)]
    measureCode: Annotated[str, Len(1, 4)]
    originCountry: Annotated[str, MaxLen(20)] | None = None
    originCountryCode: Annotated[str, MaxLen(4)] | None = None
    grossWeight: Amount | None = None
    netWeight: Amount | None = None
    quantity: Quantity
    amount: Amount
    amountWoVat: Amount
    totalAmount: Amount
    totalVatAmount: Amount
    excise: Amount | None = None
    vatCode: VatCode
    type: Literal["commodity", "service"] | Annotated[int, Field(ge=1, le=33)]
    serviceDate: Annotated[str, MaxLen(10)] | None = None
    paymentType: PaymentType
    categoryType: Literal["merchantHonestSignMap", "honestSign"] | None = None
    category: Annotated[str, MaxLen(20)] | None = None
    metaData: dict[str, Any] | list[Any] | None = None


class InvoiceSetting(_Model):
    customerLocked: bool | None = None
    customerLockedFields: list[CustomerField] | None = None
    paymentMethodIdLocked: bool | None = None
    paymentMethodId: PositiveInt32 | None = None
    customerHiddenFields: list[CustomerField] | None = None


class OrderSetting(_Model):
    roundPolicy: RoundPolicy | None = None
    disableValidate: bool | None = None
    # Our extension (docs/api.md): false keeps other merchants' add-ons off this invoice.
    allowAddons: bool | None = None


class CreateOrderRequest(_Model):
    """Body of POST /v3/billing/api/order/order."""

    description: Annotated[str, Len(1, 1000)]
    merchantId: Annotated[str, Len(1, 36)]
    merchantOrderId: Annotated[str, Len(1, 256)]
    merchantOrderIdVisible: Annotated[str, MaxLen(256)] | None = None
    amount: Amount
    vatAmount: Amount
    currencyId: str  # checked in validation: wrong_currency
    languageId: str | None = None  # checked in validation: language_not_found
    expirationDate: DateTimeText  # checked in validation: wrong_expiration_date
    basketItems: list[BasketItem] = Field(min_length=1)
    metaData: dict[str, Any] | list[Any] | None = None
    customer: Customer
    notificationUrl: Url | None = None
    successUrl: Url | None = None
    failUrl: Url | None = None
    returnUrl: Url | None = None
    invoiceSetting: InvoiceSetting | None = None
    orderSetting: OrderSetting | None = None
    parentId: Annotated[str, MaxLen(36)] | None = None
    orderContainerId: Annotated[str, MaxLen(36)] | None = None
    shopId: ShopId | None = None
    processable: bool | None = None
    deliveryAddress: Annotated[str, MaxLen(1000)] | None = None
    userAccountId: Annotated[str, MaxLen(36)] | None = None


class UpdateOrderRequest(_Model):
    """Body of PUT /v3/billing/api/order/order/{id}: every field optional, absent = unchanged."""

    description: Annotated[str, Len(1, 1000)] | None = None
    amount: Amount | None = None
    vatAmount: Amount | None = None
    expirationDate: DateTimeText | None = None
    basketItems: list[BasketItem] | None = Field(default=None, min_length=1)
    metaData: dict[str, Any] | list[Any] | None = None
    customer: Customer | None = None
    shopId: ShopId | None = None
    merchantOrderIdVisible: Annotated[str, MaxLen(256)] | None = None
    notificationUrl: Url | None = None
    successUrl: Url | None = None
    failUrl: Url | None = None
    returnUrl: Url | None = None
    invoiceSetting: InvoiceSetting | None = None


class OrderStatusRequest(_Model):
    """Body of PUT /v3/billing/api/order/{id}/status (non-processable orders)."""

    status: Literal["created", "completed", "expired", "canceled", "cancelled"]


class OrderResponse(_Model):
    """OrderResponse as emitted (documentation model for OpenAPI; see serializers.py)."""

    id: str
    orderContainerId: str
    merchantId: str
    merchantOrderId: str
    merchantOrderIdVisible: str | None = None
    description: str
    currencyId: str
    amount: Decimal
    vatAmount: Decimal
    basketItems: list[BasketItem]
    status: OrderStatus
    subtype: str
    processingStatus: str
    createdAt: str
    expirationDate: str
    paidAt: str | None = None
    fileIds: list[str]
    paymentUrl: str
    customer: Customer
    languageId: str
    processable: bool
    shopId: int | None = None
    metaData: dict[str, Any] | list[Any] | None = None
    successUrl: str | None = None
    failUrl: str | None = None
    returnUrl: str | None = None
    notificationUrl: str | None = None
    invoiceSetting: InvoiceSetting | None = None
    orderSetting: OrderSetting | None = None
    parentId: str | None = None
