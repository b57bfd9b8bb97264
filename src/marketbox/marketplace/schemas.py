"""The marketplace JSON contract (spec/api.md §12 and the newer-docs addendum).

Request models check shape, types and lengths; rules that need the database or the settings
(brandId, shopId ownership, https in production, the mini-app rule) live in `service.py` and
`miniapp.py`. Unknown properties are ignored, as in the order API.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar, get_args
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
from pydantic import ValidationError as PydanticValidationError

from marketbox import money, parsing
from marketbox.errors import FieldError, ValidationFailed

PosType = Literal["shop", "marketplace", "external", "offline", "brand"]
POS_TYPES: tuple[str, ...] = get_args(PosType)
MiniAppMode = Literal["order", "suborder"]
MINIAPP_MODES: tuple[str, ...] = get_args(MiniAppMode)
MAX_IMAGES = 20
MAX_LINKS = 20
MAX_ORIGINS = 10
MAX_ACCOUNT_PROGRAMS = 100
MAX_TAGS = 50
MAX_MIN_ORDER_SUM = Decimal("999999999999.99")


def _no_float(value: Any) -> Decimal:
    """A JSON number or numeric string: ASCII only, finite, within ±`parsing.MAX_AMOUNT`."""
    return parsing.decimal_input(value)


def _int_or_numeric_string(value: Any) -> int:
    """An int, an integral number or a string of ASCII digits (the Field bounds it further)."""
    return parsing.int_input(value, minimum=-parsing.INT64_MAX, maximum=parsing.INT64_MAX)


def is_http_url(value: str) -> bool:
    """An absolute http(s) URL with a host and no credentials."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        return False
    return (
        parts.scheme in {"http", "https"}
        and bool(parts.hostname)
        and parts.username is None
        and value == value.strip()
        and not any(c.isspace() for c in value)
    )


def _http_url(value: str) -> str:
    if not is_http_url(value):
        raise ValueError("must be an absolute http(s) URL")
    return value


def _cents(value: Decimal) -> Decimal:
    if not money.has_at_most_cents(value):
        raise ValueError("at most 2 decimal places")
    return value


def _email(value: str) -> str:
    local, at, domain = value.partition("@")
    if not (local and at and "." in domain) or any(c.isspace() for c in value):
        raise ValueError("must be an e-mail address")
    return value


def _datetime(value: Any) -> datetime:
    """RFC 3339 with any offset (``Z`` too), no offset meaning UTC, in `parsing`'s range."""
    if isinstance(value, datetime):
        return parsing.check_datetime(value if value.tzinfo else value.replace(tzinfo=UTC))
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string")
    try:
        return parsing.parse_datetime(value)
    except parsing.ParseError as exc:
        raise ValueError(
            f"must be an RFC 3339 date-time, e.g. 2023-01-01T12:00:00Z ({exc})"
        ) from exc


Url = Annotated[str, StringConstraints(min_length=1, max_length=1000), AfterValidator(_http_url)]


MAX_COORDINATE_PLACES = 12  # far below a millimetre; the text fits its 32-character column


def _coordinate_places(value: Decimal) -> Decimal:
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_COORDINATE_PLACES:
        raise ValueError(f"at most {MAX_COORDINATE_PLACES} decimal places")
    return value


# A latitude and a longitude in degrees, as exact decimals.
Latitude = Annotated[
    Decimal,
    BeforeValidator(_no_float),
    Field(allow_inf_nan=False, ge=-90, le=90),
    AfterValidator(_coordinate_places),
    WithJsonSchema(parsing.decimal_json_schema(Decimal(-90), Decimal(90))),
]
Longitude = Annotated[
    Decimal,
    BeforeValidator(_no_float),
    Field(allow_inf_nan=False, ge=-180, le=180),
    AfterValidator(_coordinate_places),
    WithJsonSchema(parsing.decimal_json_schema(Decimal(-180), Decimal(180))),
]


Amount = Annotated[
    Decimal,
    BeforeValidator(_no_float),
    Field(allow_inf_nan=False, ge=0, le=MAX_MIN_ORDER_SUM),
    AfterValidator(_cents),
    WithJsonSchema(parsing.decimal_json_schema(Decimal(0), MAX_MIN_ORDER_SUM)),
]
IntId = Annotated[int, BeforeValidator(_int_or_numeric_string), Field(ge=1, le=parsing.INT32_MAX)]
BigId = Annotated[int, BeforeValidator(_int_or_numeric_string), Field(ge=0, le=parsing.INT64_MAX)]
DateTime = Annotated[datetime, BeforeValidator(_datetime)]
Email = Annotated[str, StringConstraints(max_length=500), AfterValidator(_email)]
Modes = Annotated[list[MiniAppMode], Field(min_length=1, max_length=2)]
AccountProgramIds = Annotated[
    list[Annotated[str, Len(1, 36)]], Field(max_length=MAX_ACCOUNT_PROGRAMS)
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=False, populate_by_name=True)


_M = TypeVar("_M", bound=BaseModel)


class Link(_Model):
    title: Annotated[str, Len(1, 100)]
    url: Url


class MiniApp(_Model):
    """Our extension: the mini-app of a point of sale (docs/marketplace.md)."""

    url: Url
    origins: (
        Annotated[list[Annotated[str, Len(1, 200)]], Field(min_length=1, max_length=MAX_ORIGINS)]
        | None
    ) = None
    modes: Modes | None = None
    addonRule: dict[str, Any] | None = None


class _ShopFields(_Model):
    description: Annotated[str, MaxLen(2000)] | None = None
    type: PosType | None = None
    shopUrl: Annotated[str, StringConstraints(max_length=64), AfterValidator(_http_url)] | None = (
        None
    )
    registrationAddress: Annotated[str, MaxLen(200)] | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    logoUrl: Url | None = None
    imageUrls: Annotated[list[Url], Field(max_length=MAX_IMAGES)] | None = None
    links: Annotated[list[Link], Field(max_length=MAX_LINKS)] | None = None
    deliveryInfo: Annotated[str, MaxLen(1000)] | None = None
    minOrderSum: Amount | None = None
    notificationEmail: Email | None = None
    yandexMetrikaId: BigId | None = None
    jivositeId: Annotated[str, MaxLen(100)] | None = None
    brandId: IntId | None = None
    accountProgramIds: AccountProgramIds | None = None
    miniApp: MiniApp | None = None
    # The spec's inferred flat spelling (api.md §12.2); folded into miniApp by the service.
    miniAppUrl: Url | None = None
    miniAppModes: Modes | None = None
    active: bool | None = None
    # Our extension: false keeps other merchants' add-ons off the invoices of orders created
    # for this point of sale, unless an order says orderSetting.allowAddons (docs/api.md).
    allowAddons: bool | None = None
    merchantId: Annotated[str, MaxLen(36)] | None = None
    externalUpdate: bool | None = None


class CreateShopRequest(_ShopFields):
    title: Annotated[str, Len(1, 50)]


class UpdateShopRequest(_ShopFields):
    title: Annotated[str, Len(1, 50)] | None = None


class SpecialOfferRequest(_Model):
    merchantId: Annotated[str, MaxLen(36)] | None = None
    externalId: Annotated[str, Len(1, 36)]
    active: bool
    startAt: DateTime
    finishAt: DateTime
    name: Annotated[str, MaxLen(255)] | None = None
    description: Annotated[str, MaxLen(1000)]
    tags: Annotated[list[Annotated[str, Len(1, 100)]], Field(max_length=MAX_TAGS)]
    shopId: IntId | None = None


class ShopResponse(_Model):
    """Documentation only (OpenAPI): what every shop endpoint answers in `data`."""

    id: int
    merchantId: str
    title: str
    description: str | None
    type: PosType
    alias: str
    token: str
    shopUrl: str
    registrationAddress: str | None
    lat: Decimal | None
    lon: Decimal | None
    logoUrl: str | None
    imageUrls: list[str]
    links: list[Link]
    deliveryInfo: str | None
    minOrderSum: Decimal | None
    notificationEmail: str | None
    yandexMetrikaId: int | None
    jivositeId: str | None
    brandId: int | None
    accountProgramIds: list[str]
    miniApp: MiniApp | None
    # Our extension: the operator's word on the suborder mini-app (docs/marketplace.md).
    addonStatus: Literal["none", "pending", "approved", "revoked"]
    # Our extension (docs/miniapps.md "Signed launch data"): the secret the host signs this
    # point of sale's mini-app launch data with; the replaced one signs beside it until
    # previousLaunchSecretValidUntil (null when no overlap is in force).
    launchSecret: str | None
    launchSecretCreatedAt: str | None
    previousLaunchSecretValidUntil: str | None
    # Our extension: the add-on default of this point of sale's invoices (docs/api.md).
    allowAddons: bool
    active: bool
    createdAt: str
    updatedAt: str


MAX_LAUNCH_OVERLAP_SECONDS = 7 * 24 * 3600
DEFAULT_LAUNCH_OVERLAP_SECONDS = 24 * 3600


class RotateLaunchSecretRequest(_Model):
    """A new launch secret; the replaced one keeps signing beside it `overlapSeconds` more
    (0 stops it at once)."""

    overlapSeconds: Annotated[int, Field(ge=0, le=MAX_LAUNCH_OVERLAP_SECONDS, strict=True)] = (
        DEFAULT_LAUNCH_OVERLAP_SECONDS
    )


class SpecialOfferResponse(_Model):
    """Documentation only (OpenAPI)."""

    id: int
    merchantId: str
    externalId: str
    active: bool
    startAt: str
    finishAt: str
    name: str | None
    description: str
    tags: list[str]
    shopId: int | None


def field_name(loc: tuple[int | str, ...], prefix: str = "") -> str:
    """("links", 0, "url") -> "links[0].url" (the order API's spelling)."""
    name = prefix
    for part in loc:
        text = str(part)
        if text.startswith(("function-", "constrained-")):
            continue
        name += (
            f"[{text}]"
            if isinstance(part, int) or parsing.is_ascii_digits(text)
            else (f".{text}" if name else text)
        )
    return name or "body"


def validate(model: type[_M], payload: Any) -> _M:
    """`model.model_validate` with errors turned into the API's field errors."""
    try:
        return model.model_validate(payload)
    except PydanticValidationError as exc:
        fields = [
            FieldError(
                field_name(tuple(err["loc"])),
                "required" if err["type"] == "missing" else "wrong_value",
                err["msg"],
            )
            for err in exc.errors(include_url=False)
        ]
        raise ValidationFailed("Validation error", fields=fields) from exc
