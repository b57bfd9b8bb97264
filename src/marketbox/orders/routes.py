"""Order endpoints (spec/api.md §8). Handlers parse, authorize, call one service, answer."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from marketbox.orders import repository, update_body
from marketbox.orders import service as orders_service
from marketbox.orders.schemas import (
    CreateOrderRequest,
    OrderResponse,
    OrderStatusRequest,
    UpdateOrderRequest,
)
from marketbox.web import envelope, filters
from marketbox.web.context import get_context, read_json, read_model, validate_model
from marketbox.web.openapi import envelope_of, json_body, list_query

router = APIRouter(tags=["orders"])

ORDER_FILTERS: dict[str, filters.Parser] = {
    "id": str.lower,
    "status": filters.parse_str,
    "createdAt": filters.parse_datetime,
    "expirationDate": filters.parse_datetime,
    "paidAt": filters.parse_datetime,
    "merchantOrderId": filters.parse_str,
    "merchantOrderIdVisible": filters.parse_str,
    "merchantId": str.lower,
    "orderContainerId": str.lower,
    "parentId": str.lower,
    "shopId": filters.parse_int,
    "amount": filters.parse_decimal,
    "vatAmount": filters.parse_decimal,
    "currencyId": filters.parse_str,
    "subtype": filters.parse_str,
    "languageId": filters.parse_str,
}
assert set(ORDER_FILTERS) == set(repository.FILTER_COLUMNS)


@router.post(
    "/v3/billing/api/order/order",
    summary="Create an order (or a suborder with orderContainerId)",
    openapi_extra=json_body(CreateOrderRequest),
    responses=envelope_of(OrderResponse),
)
async def create_order(request: Request) -> Response:
    ctx = get_context(request)
    merchant = await ctx.merchant_outside_transaction(request)
    body = await read_model(request, CreateOrderRequest)
    # A new order with a new container is one INSERT statement; joining a container locks it.
    unit = ctx.db.transaction() if body.orderContainerId else ctx.db.statement()
    async with unit as conn:
        order = await orders_service.create_order(
            conn,
            merchant=merchant,
            request=body,
            settings=ctx.settings,
            require_https=ctx.settings.mode == "production",
        )
    return envelope.data(order)


@router.get(
    "/v3/filter/api/order/order",
    summary="List orders (filters, sorting and paging of api.md §6)",
    openapi_extra=list_query(ORDER_FILTERS),
    responses=envelope_of(OrderResponse, many=True),
)
async def list_orders(request: Request) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        query = filters.parse_list_query(
            request.scope["query_string"].decode("latin-1"),
            ORDER_FILTERS,
            set(repository.SORT_COLUMNS),
        )
        items, total = await orders_service.list_orders(conn, merchant=merchant, query=query)
    return envelope.page(items, total=total, page=query.page, page_size=query.page_size)


@router.get(
    "/v3/billing/api/order/order/{order_id}",
    summary="Get one order",
    responses=envelope_of(OrderResponse),
)
async def get_order(request: Request, order_id: str) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        order = await orders_service.get_order(conn, merchant=merchant, order_id=order_id)
    return envelope.data(order)


@router.put(
    "/v3/billing/api/order/order/{order_id}",
    summary="Update an unpaid order",
    openapi_extra=json_body(UpdateOrderRequest),
    responses=envelope_of(OrderResponse),
)
async def update_order(request: Request, order_id: str) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        # Named fields, or the PHP SDK's positional array read by position (update_body.py).
        fields = update_body.named_fields(await read_json(request))
        body = validate_model(UpdateOrderRequest, fields)
        order = await orders_service.update_order(
            conn,
            merchant=merchant,
            order_id=order_id,
            request=body,
            require_https=ctx.settings.mode == "production",
        )
    return envelope.data(order)


@router.delete(
    "/v3/billing/api/order/order/{order_id}",
    summary="Cancel an order",
    responses=envelope_of(OrderResponse),
)
async def cancel_order(request: Request, order_id: str) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        order = await orders_service.cancel_order(conn, merchant=merchant, order_id=order_id)
    return envelope.data(order)


@router.put(
    "/v3/billing/api/order/{order_id}/status",
    summary="Set the status of a non-processable order",
    openapi_extra=json_body(OrderStatusRequest),
    responses=envelope_of(OrderResponse),
)
async def set_order_status(request: Request, order_id: str) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        body = await read_model(request, OrderStatusRequest)
        order = await orders_service.set_status(
            conn, merchant=merchant, order_id=order_id, request=body
        )
    return envelope.data(order)
