"""Marketplace API (spec/api.md §12) plus the marketplace pages (views.py) on one router::

POST /v3/marketplace/api/shop             create a point of sale          (§12.1)
POST /v3/marketplace/api/shop/{id}        update one of yours              (§12.2)
GET  /v3/marketplace/api/shop/{id}        read one of yours                (ours)
GET  /v3/marketplace/api/shop             list yours, §6 filters + `q`     (ours)
POST /v3/marketplace/api/shop/{id}/launch-secret/rotate   a new launch secret (ours)
POST /v3/marketplace/api/special-offer    create or change an offer        (§12.3)
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from marketbox import parsing
from marketbox.marketplace import repository, schemas, views
from marketbox.marketplace import service as marketplace_service
from marketbox.marketplace.errors import PointOfSaleNotFound
from marketbox.web import envelope, filters
from marketbox.web.context import get_context, read_model
from marketbox.web.openapi import envelope_of, json_body, list_query

api = APIRouter(tags=["marketplace"])

SHOP_FILTERS: dict[str, filters.Parser] = {
    "q": filters.parse_str,
    "id": filters.parse_int,
    "type": filters.parse_str,
    "active": filters.parse_bool,
    "title": filters.parse_str,
    "alias": filters.parse_str,
    "brandId": filters.parse_int,
    "createdAt": filters.parse_datetime,
    "updatedAt": filters.parse_datetime,
}
assert set(SHOP_FILTERS) - {"q"} == set(repository.FILTER_COLUMNS)


def _shop_id(raw: str) -> int:
    """A point-of-sale id from the path: ASCII digits within the INTEGER column, else 404."""
    try:
        return parsing.parse_int(raw, minimum=1, maximum=parsing.INT32_MAX)
    except parsing.ParseError:
        raise PointOfSaleNotFound() from None


def _require_https(request: Request) -> bool:
    return get_context(request).settings.mode == "production"


@api.post(
    "/v3/marketplace/api/shop",
    summary="Create a point of sale",
    openapi_extra=json_body(schemas.CreateShopRequest),
    responses=envelope_of(schemas.ShopResponse),
)
async def create_shop(request: Request) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        body = await read_model(request, schemas.CreateShopRequest)
        shop = await marketplace_service.create_from_request(
            conn,
            merchant_id=merchant.id,
            request=body,
            auto_approve_addons=ctx.settings.mode == "sandbox",
            require_https=_require_https(request),
            public_base=ctx.settings.public_base,
        )
    return envelope.data(shop)


@api.get(
    "/v3/marketplace/api/shop",
    summary="List your points of sale (filters, sorting and paging of api.md §6; q = search)",
    openapi_extra=list_query(SHOP_FILTERS),
    responses=envelope_of(schemas.ShopResponse, many=True),
)
async def list_shops(request: Request) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        query = filters.parse_list_query(
            request.scope["query_string"].decode("latin-1"),
            SHOP_FILTERS,
            set(repository.SORT_COLUMNS),
            default_order=("id", True),
        )
        text = " ".join(str(v) for c in query.conditions if c.field == "q" for v in c.values)
        items, total = await marketplace_service.list_points_of_sale(
            conn,
            merchant_id=merchant.id,
            query=query,
            text=text,
            public_base=ctx.settings.public_base,
        )
    return envelope.page(items, total=total, page=query.page, page_size=query.page_size)


@api.get(
    "/v3/marketplace/api/shop/{shop_id}",
    summary="Get one of your points of sale",
    responses=envelope_of(schemas.ShopResponse),
)
async def get_shop(request: Request, shop_id: str) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        shop = await marketplace_service.get_point_of_sale(
            conn,
            merchant_id=merchant.id,
            shop_id=_shop_id(shop_id),
            public_base=ctx.settings.public_base,
        )
    return envelope.data(shop)


@api.post(
    "/v3/marketplace/api/shop/{shop_id}",
    summary="Update one of your points of sale (fields sent as null are cleared)",
    openapi_extra=json_body(schemas.UpdateShopRequest),
    responses=envelope_of(schemas.ShopResponse),
)
async def update_shop(request: Request, shop_id: str) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        pos_id = _shop_id(shop_id)
        body = await read_model(request, schemas.UpdateShopRequest)
        shop = await marketplace_service.update_point_of_sale(
            conn,
            merchant_id=merchant.id,
            shop_id=pos_id,
            request=body,
            auto_approve_addons=ctx.settings.mode == "sandbox",
            require_https=_require_https(request),
            public_base=ctx.settings.public_base,
        )
    return envelope.data(shop)


@api.post(
    "/v3/marketplace/api/shop/{shop_id}/launch-secret/rotate",
    summary="Rotate the launch secret of one of your points of sale (the previous one signs "
    "beside it for overlapSeconds)",
    openapi_extra=json_body(schemas.RotateLaunchSecretRequest),
    responses=envelope_of(schemas.ShopResponse),
)
async def rotate_launch_secret(request: Request, shop_id: str) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        pos_id = _shop_id(shop_id)
        body = await read_model(request, schemas.RotateLaunchSecretRequest)
        shop = await marketplace_service.rotate_launch_secret(
            conn,
            merchant_id=merchant.id,
            shop_id=pos_id,
            request=body,
            public_base=ctx.settings.public_base,
        )
    return envelope.data(shop)


@api.post(
    "/v3/marketplace/api/special-offer",
    summary="Create or change a special offer (keyed by merchantId + externalId)",
    openapi_extra=json_body(schemas.SpecialOfferRequest),
    responses=envelope_of(schemas.SpecialOfferResponse),
)
async def upsert_special_offer(request: Request) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        body = await read_model(request, schemas.SpecialOfferRequest)
        offer = await marketplace_service.upsert_from_request(
            conn, merchant_id=merchant.id, request=body
        )
    return envelope.data(offer)


router = APIRouter()
router.include_router(api)
router.include_router(views.router)
