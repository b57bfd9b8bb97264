"""Points of sale, special offers and mini-app add-ons (spec/api.md §12, miniapps.md §3.2, §5).

Services take a connection and never commit. The keyword-only functions without a request
model (`create_point_of_sale`, `upsert_special_offer`) are for seeding and demo code; they run
the same validation as the API.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, money
from marketbox.errors import FieldError, ValidationFailed
from marketbox.marketplace import addons, miniapp, repository, schemas, search
from marketbox.marketplace.errors import ForeignMerchant, PointOfSaleNotFound
from marketbox.miniapp_host import launch
from marketbox.storage.query import ListQuery, mapping_of
from marketbox.toolkit.i18n import N_

# Aliases are numeric strings like the real service's ("1694158899"), derived from the id.
_ALIAS_BASE = 1_000_000_000

# Request field -> column, for the fields copied as they are.
_PLAIN_FIELDS = {
    "title": "title",
    "description": "description",
    "type": "type",
    "shopUrl": "shop_url",
    "registrationAddress": "registration_address",
    "logoUrl": "logo_url",
    "imageUrls": "image_urls",
    "deliveryInfo": "delivery_info",
    "notificationEmail": "notification_email",
    "yandexMetrikaId": "yandex_metrika_id",
    "jivositeId": "jivosite_id",
    "brandId": "brand_id",
    "accountProgramIds": "account_program_ids",
    "active": "active",
    "allowAddons": "allow_addons",
}
_NOT_NULL = ("title", "type", "active", "allowAddons")


# --- response shapes ------------------------------------------------------------------------


def format_datetime(value: datetime) -> str:
    """ATOM format with an explicit +00:00 offset (api.md §1.4)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _decimal(text: str | None) -> Decimal | None:
    return Decimal(text) if text is not None else None


def _decimal_text(value: Decimal | None) -> str | None:
    return format(value, "f") if value is not None else None


def pos_page_path(shop_id: int) -> str:
    return f"/marketplace/shop/{shop_id}"


def shop_response(row: Any, public_base: str = "") -> dict[str, Any]:
    """ShopResponse (api.md §12.1): the request fields plus id, token, type, alias, shopUrl."""
    m = mapping_of(row)
    min_sum = m["min_order_sum_minor"]
    return {
        "id": m["id"],
        "merchantId": m["merchant_id"],
        "title": m["title"],
        "description": m["description"],
        "type": m["type"],
        "alias": m["alias"],
        "token": m["token"],
        # Without a storefront of its own, the point of sale's marketplace page is its shop URL.
        "shopUrl": m["shop_url"] or f"{public_base}{pos_page_path(m['id'])}",
        "registrationAddress": m["registration_address"],
        "lat": _decimal(m["lat"]),
        "lon": _decimal(m["lon"]),
        "logoUrl": m["logo_url"],
        "imageUrls": list(m["image_urls"] or []),
        "links": list(m["links"] or []),
        "deliveryInfo": m["delivery_info"],
        "minOrderSum": money.from_minor(min_sum) if min_sum is not None else None,
        "notificationEmail": m["notification_email"],
        "yandexMetrikaId": m["yandex_metrika_id"],
        "jivositeId": m["jivosite_id"],
        "brandId": m["brand_id"],
        "accountProgramIds": list(m["account_program_ids"] or []),
        "miniApp": m["mini_app"],
        "addonStatus": m["addon_status"],
        **_launch_secret_fields(m),
        "allowAddons": bool(m["allow_addons"]),
        "active": bool(m["active"]),
        "createdAt": format_datetime(m["created_at"]),
        "updatedAt": format_datetime(m["updated_at"]),
    }


def _launch_secret_fields(m: Any) -> dict[str, Any]:
    until = m["previous_launch_secret_valid_until"]
    in_force = m["previous_launch_secret"] and until is not None and clock.now() < until
    created = m["launch_secret_created_at"]
    return {
        "launchSecret": m["launch_secret"],
        "launchSecretCreatedAt": format_datetime(created) if created is not None else None,
        "previousLaunchSecretValidUntil": format_datetime(until) if in_force else None,
    }


def offer_response(row: Any) -> dict[str, Any]:
    m = mapping_of(row)
    return {
        "id": m["id"],
        "merchantId": m["merchant_id"],
        "externalId": m["external_id"],
        "active": bool(m["active"]),
        "startAt": format_datetime(m["start_at"]),
        "finishAt": format_datetime(m["finish_at"]),
        "name": m["name"],
        "description": m["description"],
        "tags": list(m["tags"] or []),
        "shopId": m["shop_id"],
    }


# --- points of sale: API ----------------------------------------------------------------------


def _check_merchant(given: str | None, merchant_id: str) -> None:
    if given is not None and given.strip().lower() != merchant_id.lower():
        raise ForeignMerchant()


def _mini_app_value(
    request: schemas._ShopFields, fields_set: set[str], *, require_https: bool
) -> tuple[bool, dict[str, Any] | None]:
    """(changed, stored value) for the miniApp object or its flat miniAppUrl/miniAppModes form."""
    if "miniApp" in fields_set:
        if request.miniApp is None:
            return True, None
        return True, miniapp.clean_mini_app(request.miniApp, require_https=require_https)
    if "miniAppUrl" in fields_set:
        if request.miniAppUrl is None:
            return True, None
        flat = schemas.MiniApp(url=request.miniAppUrl, modes=request.miniAppModes)
        return True, miniapp.clean_mini_app(flat, require_https=require_https, name="miniAppUrl")
    if "miniAppModes" in fields_set:
        raise ValidationFailed(
            "Invalid miniAppModes",
            fields=[FieldError("miniAppModes", "wrong_value", "only together with miniAppUrl")],
        )
    return False, None


def _column_values(
    request: schemas._ShopFields, *, require_https: bool, creating: bool, auto_approve: bool
) -> dict[str, Any]:
    fields_set = set(request.model_fields_set)
    if creating:
        fields_set |= {"title"}
    errors = [
        FieldError(name, "required", "must not be null")
        for name in _NOT_NULL
        if name in fields_set and getattr(request, name) is None
    ]
    if errors:
        raise ValidationFailed("Validation error", fields=errors)
    values: dict[str, Any] = {
        column: getattr(request, name)
        for name, column in _PLAIN_FIELDS.items()
        if name in fields_set
    }
    if "lat" in fields_set:
        values["lat"] = _decimal_text(request.lat)
    if "lon" in fields_set:
        values["lon"] = _decimal_text(request.lon)
    if "links" in fields_set:
        values["links"] = (
            [link.model_dump() for link in request.links] if request.links is not None else None
        )
    if "minOrderSum" in fields_set:
        values["min_order_sum_minor"] = (
            money.to_minor(request.minOrderSum) if request.minOrderSum is not None else None
        )
    changed, mini_app = _mini_app_value(request, fields_set, require_https=require_https)
    if changed:
        values["mini_app"] = mini_app
        values["offers_addon"] = bool(mini_app and "suborder" in mini_app["modes"])
        values["addon_status"] = addons.addon_status_after_save(mini_app, auto_approve=auto_approve)
    return values


async def _check_brand(
    conn: AsyncConnection, brand_id: int | None, *, merchant_id: str, shop_id: int | None
) -> None:
    if brand_id is None:
        return
    brand = await repository.get_point_of_sale(conn, brand_id, merchant_id=merchant_id)
    if brand is None or brand.type != "brand" or brand.id == shop_id:
        raise ValidationFailed(
            "Invalid brandId",
            fields=[
                FieldError("brandId", "wrong_value", "not a point of sale of type brand of yours")
            ],
        )


def _search_text(values: dict[str, Any]) -> str:
    # The airports an add-on is offered for are searchable too: «SVO» finds Sheremetyevo's.
    airports = miniapp.rule_values((values.get("mini_app") or {}).get("addonRule"), "iataCode")
    return search.index_text(
        [
            values.get("title"),
            values.get("description"),
            values.get("registration_address"),
            " ".join(airports),
        ]
    )


async def create_from_request(
    conn: AsyncConnection,
    *,
    merchant_id: str,
    request: schemas.CreateShopRequest,
    auto_approve_addons: bool,
    require_https: bool = False,
    public_base: str = "",
) -> dict[str, Any]:
    """POST /v3/marketplace/api/shop. `merchantId`, if given, must be the token's merchant.

    `auto_approve_addons`: a suborder mini-app is approved as an add-on at once (sandbox)
    instead of waiting for the operator (production; marketplace/addons.py).
    """
    _check_merchant(request.merchantId, merchant_id)
    values = _column_values(
        request, require_https=require_https, creating=True, auto_approve=auto_approve_addons
    )
    if require_https:  # production: no private networks (netguard.py)
        await miniapp.check_public_url(request, values)
    await _check_brand(conn, values.get("brand_id"), merchant_id=merchant_id, shop_id=None)
    now = clock.now()
    values.setdefault("type", "shop")
    values.setdefault("active", True)
    values.setdefault("offers_addon", False)
    values.update(
        merchant_id=merchant_id,
        # Unique placeholder until the id is known; replaced in the same transaction.
        alias=f"new-{secrets.token_hex(8)}",
        token=secrets.token_hex(16),
        launch_secret=launch.new_secret(),
        launch_secret_created_at=now,
        search_text=_search_text(values),
        created_at=now,
        updated_at=now,
    )
    shop_id = await repository.insert_point_of_sale(conn, values)
    await repository.update_point_of_sale(conn, shop_id, {"alias": str(_ALIAS_BASE + shop_id)})
    row = await repository.get_point_of_sale(conn, shop_id, merchant_id=merchant_id)
    return shop_response(row, public_base)


async def create_point_of_sale(
    conn: AsyncConnection,
    *,
    merchant_id: str,
    title: str,
    description: str | None = None,
    type: str = "shop",
    shop_url: str | None = None,
    registration_address: str | None = None,
    lat: Decimal | str | None = None,
    lon: Decimal | str | None = None,
    logo_url: str | None = None,
    image_urls: Sequence[str] | None = None,
    links: Sequence[dict[str, str]] | None = None,
    delivery_info: str | None = None,
    min_order_sum: Decimal | None = None,
    notification_email: str | None = None,
    yandex_metrika_id: int | None = None,
    brand_id: int | None = None,
    account_program_ids: Sequence[str] | None = None,
    mini_app: dict[str, Any] | None = None,
    active: bool = True,
    require_https: bool = False,
    public_base: str = "",
    auto_approve_addons: bool = True,
) -> dict[str, Any]:
    """Create a point of sale without HTTP (seeding, demo). Returns the ShopResponse dict.

    Seeding runs in sandbox, so a suborder mini-app is approved as an add-on by default.

    `mini_app` is the API's miniApp object: ``{"url", "origins"?, "modes"?, "addonRule"?}``.
    """
    payload: dict[str, Any] = {
        "title": title,
        "description": description,
        "type": type,
        "shopUrl": shop_url,
        "registrationAddress": registration_address,
        "lat": Decimal(lat) if isinstance(lat, str) else lat,
        "lon": Decimal(lon) if isinstance(lon, str) else lon,
        "logoUrl": logo_url,
        "imageUrls": list(image_urls) if image_urls is not None else None,
        "links": list(links) if links is not None else None,
        "deliveryInfo": delivery_info,
        "minOrderSum": min_order_sum,
        "notificationEmail": notification_email,
        "yandexMetrikaId": yandex_metrika_id,
        "brandId": brand_id,
        "accountProgramIds": list(account_program_ids) if account_program_ids else None,
        "miniApp": mini_app,
        "active": active,
    }
    request = schemas.validate(
        schemas.CreateShopRequest, {k: v for k, v in payload.items() if v is not None}
    )
    return await create_from_request(
        conn,
        merchant_id=merchant_id,
        request=request,
        auto_approve_addons=auto_approve_addons,
        require_https=require_https,
        public_base=public_base,
    )


async def update_point_of_sale(
    conn: AsyncConnection,
    *,
    merchant_id: str,
    shop_id: int,
    request: schemas.UpdateShopRequest,
    auto_approve_addons: bool,
    require_https: bool = False,
    public_base: str = "",
) -> dict[str, Any]:
    """POST /v3/marketplace/api/shop/{id}: a partial update; a field sent as null is cleared.

    `merchantId` + `externalUpdate` (re-import from the merchant) are accepted; there is no
    merchant profile to import from, so they change nothing (docs/marketplace.md).
    """
    _check_merchant(request.merchantId, merchant_id)
    row = await repository.get_point_of_sale(conn, shop_id, merchant_id=merchant_id)
    if row is None:
        raise PointOfSaleNotFound()
    values = _column_values(
        request, require_https=require_https, creating=False, auto_approve=auto_approve_addons
    )
    if require_https:  # production: no private networks (netguard.py)
        await miniapp.check_public_url(request, values)
    if values.get("mini_app") == row.mini_app and "addon_status" in values:
        del values["addon_status"]  # saved unchanged: the operator's decision stands
    if "brand_id" in values:
        await _check_brand(conn, values["brand_id"], merchant_id=merchant_id, shop_id=shop_id)
    merged = {**dict(row._mapping), **values}
    values["search_text"] = _search_text(merged)
    values["updated_at"] = clock.now()
    await repository.update_point_of_sale(conn, shop_id, values)
    row = await repository.get_point_of_sale(conn, shop_id, merchant_id=merchant_id)
    return shop_response(row, public_base)


async def rotate_launch_secret(
    conn: AsyncConnection,
    *,
    merchant_id: str,
    shop_id: int,
    request: schemas.RotateLaunchSecretRequest,
    public_base: str = "",
) -> dict[str, Any]:
    """POST /v3/marketplace/api/shop/{id}/launch-secret/rotate: a new launch secret; the one it
    replaces keeps signing beside it for `overlapSeconds` (docs/miniapps.md "Signed launch
    data"). The answer is the point of sale with the new secret."""
    row = await repository.get_point_of_sale(conn, shop_id, merchant_id=merchant_id)
    if row is None:
        raise PointOfSaleNotFound()
    now = clock.now()
    overlap = timedelta(seconds=request.overlapSeconds)
    await repository.update_point_of_sale(
        conn,
        shop_id,
        {
            "launch_secret": launch.new_secret(),
            "launch_secret_created_at": now,
            "previous_launch_secret": row.launch_secret if overlap else None,
            "previous_launch_secret_valid_until": now + overlap if overlap else None,
            "updated_at": now,
        },
    )
    row = await repository.get_point_of_sale(conn, shop_id, merchant_id=merchant_id)
    return shop_response(row, public_base)


async def get_point_of_sale(
    conn: AsyncConnection, *, merchant_id: str, shop_id: int, public_base: str = ""
) -> dict[str, Any]:
    row = await repository.get_point_of_sale(conn, shop_id, merchant_id=merchant_id)
    if row is None:
        raise PointOfSaleNotFound()
    return shop_response(row, public_base)


async def list_points_of_sale(
    conn: AsyncConnection,
    *,
    merchant_id: str,
    query: ListQuery,
    text: str | None = None,
    public_base: str = "",
) -> tuple[list[dict[str, Any]], int]:
    """The merchant's own points of sale, filtered, sorted, paged; `text` is the stem search."""
    rows, total = await repository.list_points_of_sale(
        conn, merchant_id=merchant_id, query=query, terms=search.query_terms(text)
    )
    return [shop_response(r, public_base) for r in rows], total


# --- special offers ---------------------------------------------------------------------------


async def upsert_from_request(
    conn: AsyncConnection, *, merchant_id: str, request: schemas.SpecialOfferRequest
) -> dict[str, Any]:
    """POST /v3/marketplace/api/special-offer: create or change, keyed by (merchant, externalId)."""
    _check_merchant(request.merchantId, merchant_id)
    if request.finishAt <= request.startAt:
        raise ValidationFailed(
            "Validation error",
            fields=[FieldError("finishAt", "wrong_value", "must be after startAt")],
        )
    if request.shopId is not None:
        shop = await repository.get_point_of_sale(conn, request.shopId, merchant_id=merchant_id)
        if shop is None:
            raise ValidationFailed(
                "Validation error",
                fields=[FieldError("shopId", "wrong_value", "no such point of sale of yours")],
            )
    now = clock.now()
    values = {
        "active": request.active,
        "start_at": request.startAt,
        "finish_at": request.finishAt,
        "name": request.name,
        "description": request.description,
        "tags": list(request.tags),
        "shop_id": request.shopId,
        "updated_at": now,
    }
    key = {"merchant_id": merchant_id, "external_id": request.externalId}
    if not await repository.update_special_offer(conn, **key, values=values):
        try:
            # A savepoint, so a racing insert of the same key fails alone (PostgreSQL aborts
            # the whole transaction otherwise); then the other writer's row is updated.
            async with conn.begin_nested():
                await repository.insert_special_offer(conn, {**key, **values, "created_at": now})
        except IntegrityError:
            await repository.update_special_offer(conn, **key, values=values)
    row = await repository.get_special_offer(conn, **key)
    return offer_response(row)


async def upsert_special_offer(
    conn: AsyncConnection,
    *,
    merchant_id: str,
    external_id: str,
    start_at: datetime | str,
    finish_at: datetime | str,
    description: str,
    tags: Sequence[str] = (),
    name: str | None = None,
    active: bool = True,
    shop_id: int | None = None,
) -> dict[str, Any]:
    """Create or change a special offer without HTTP (seeding, demo)."""
    payload = {
        "externalId": external_id,
        "active": active,
        "startAt": start_at,
        "finishAt": finish_at,
        "name": name,
        "description": description,
        "tags": list(tags),
        "shopId": shop_id,
    }
    request = schemas.validate(schemas.SpecialOfferRequest, payload)
    return await upsert_from_request(conn, merchant_id=merchant_id, request=request)


# --- public pages -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Seller:
    """Who is paid, from the same fields the payment page and the receipt read: the merchant's
    display name, legal name and INN."""

    name: str
    legal_name: str
    vat_number: str


@dataclass(frozen=True)
class PublicPointOfSale:
    """What the marketplace pages may show: never the token or the notification e-mail."""

    id: int
    title: str
    description: str | None
    type: str
    logo_url: str | None
    image_urls: tuple[str, ...]
    links: tuple[dict[str, str], ...]
    address: str | None
    lat: Decimal | None
    lon: Decimal | None
    delivery_info: str | None
    shop_url: str | None
    mini_app: dict[str, Any] | None
    addon_status: str = "none"
    seller: Seller | None = None  # on the point of sale's own page only
    # What its mini-app's launch data is signed with (own page only); never shown.
    launch_keys: launch.LaunchKeys | None = dataclasses.field(default=None, repr=False)

    @property
    def has_order_app(self) -> bool:
        return bool(self.mini_app and "order" in self.mini_app["modes"])

    @property
    def is_addon(self) -> bool:
        """Offered on payment pages as an add-on service (approved by the operator)."""
        return bool(
            self.mini_app
            and "suborder" in self.mini_app["modes"]
            and self.addon_status == "approved"
        )

    @property
    def is_addon_only(self) -> bool:
        """Bought only as an add-on to another order: nothing to order on its own page."""
        return self.is_addon and not self.has_order_app

    @property
    def addon_airports(self) -> list[str]:
        """The airports a flight must touch for the add-on to be offered (its rule's
        ``iataCode`` values); empty when the rule is about something else or absent."""
        return miniapp.rule_values((self.mini_app or {}).get("addonRule"), "iataCode")

    @property
    def is_offline(self) -> bool:
        return self.type == "offline"

    @property
    def kind(self) -> tuple[str, str]:
        """The chip a page shows for it: (chip modifier, UI text key)."""
        if self.has_order_app:
            return "info", N_("pos.online_order")
        if self.is_addon:
            return "info", N_("pos.addon")
        return "neutral", N_("pos.offline") if self.is_offline else N_("pos.online")


def _public(row: Any) -> PublicPointOfSale:
    m = row._mapping
    return PublicPointOfSale(
        id=m["id"],
        title=m["title"],
        description=m["description"],
        type=m["type"],
        logo_url=m["logo_url"],
        image_urls=tuple(m["image_urls"] or ()),
        links=tuple(m["links"] or ()),
        address=m["registration_address"],
        lat=_decimal(m["lat"]),
        lon=_decimal(m["lon"]),
        delivery_info=m["delivery_info"],
        shop_url=m["shop_url"],
        mini_app=m["mini_app"],
        addon_status=m["addon_status"],
    )


# Search results are counted up to this many (a bigger count reads "more than 100"): a page
# that shows the first 24 needs no more, and counting stays bounded however common the word.
SEARCH_COUNT_LIMIT = 100


async def search_points_of_sale(
    conn: AsyncConnection,
    *,
    text: str | None,
    limit: int,
    offset: int = 0,
    count_limit: int = SEARCH_COUNT_LIMIT,
) -> tuple[list[PublicPointOfSale], int]:
    """Active points of sale matching `text` (marketplace/search.py), newest first, and their
    number: exact up to `count_limit`, else ``count_limit + 1`` ("more than count_limit")."""
    rows, total = await repository.search_public(
        conn,
        terms=search.query_terms(text),
        limit=limit,
        offset=offset,
        count_limit=count_limit,
    )
    return [_public(r) for r in rows], total


async def public_point_of_sale(conn: AsyncConnection, shop_id: int) -> PublicPointOfSale | None:
    """An active point of sale with its seller (one statement)."""
    row = await repository.public_point_of_sale(conn, shop_id)
    if row is None:
        return None
    seller = Seller(
        name=row.merchant_name,
        legal_name=row.merchant_legal_name or row.merchant_name,
        vat_number=row.merchant_vat_number or "",
    )
    return dataclasses.replace(_public(row), seller=seller, launch_keys=launch_keys_of(row))


def launch_keys_of(row: Any) -> launch.LaunchKeys | None:
    """The launch secret(s) in force for a point of sale's row."""
    return launch.LaunchKeys.of(
        row.launch_secret, row.previous_launch_secret, row.previous_launch_secret_valid_until
    )


@dataclass(frozen=True)
class LiveOffer:
    id: int
    name: str | None
    description: str
    tags: tuple[str, ...]
    finish_at: datetime
    shop_id: int | None
    shop_title: str | None


async def live_special_offers(
    conn: AsyncConnection, *, limit: int | None = None
) -> list[LiveOffer]:
    rows = await repository.live_special_offers(conn, now=clock.now(), limit=limit)
    return [
        LiveOffer(
            id=r.id,
            name=r.name,
            description=r.description,
            tags=tuple(r.tags or ()),
            finish_at=r.finish_at,
            shop_id=r.shop_id,
            shop_title=r.shop_title,
        )
        for r in rows
    ]
