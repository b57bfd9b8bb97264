"""Refund endpoints (spec/api.md §9.1-§9.3). Handlers parse, authorize, call one service, answer.

GET  /v3/billing/api/order/order/{id}/refund-basket-item   what is left to refund, per line
POST /v3/billing/api/order/refund-order                     create a refund (created | draft)
GET  /v3/filter/api/order/refund-order                      list refunds (§6 filters)
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from marketbox.orders.schemas import CreateOrderRequest, OrderResponse
from marketbox.refunds import repository
from marketbox.refunds import service as refunds_service
from marketbox.refunds.schemas import CreateRefundRequest, RefundableItem, RefundResponse
from marketbox.web import envelope, filters
from marketbox.web.context import get_context, read_model
from marketbox.web.openapi import envelope_of, json_body, list_query

router = APIRouter(tags=["refunds"])

REFUND_FILTERS: dict[str, filters.Parser] = {
    "id": str.lower,
    "parentId": str.lower,
    "status": filters.parse_str,
    "merchantId": str.lower,
    "merchantOrderId": filters.parse_str,
    "createdAt": filters.parse_datetime,
}
assert set(REFUND_FILTERS) == set(repository.FILTER_COLUMNS)


@router.get(
    "/v3/billing/api/order/order/{order_id}/refund-basket-item",
    summary="What is left to refund of a paid order, line by line",
    responses=envelope_of(RefundableItem, many=True),
)
async def refundable_items(request: Request, order_id: str) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        items = await refunds_service.refundable_items(conn, merchant=merchant, order_id=order_id)
    return envelope.data(items)


@router.post(
    "/v3/billing/api/order/refund-order",
    summary="Refund a paid order, in full or in part",
    openapi_extra=json_body(CreateRefundRequest),
    responses=envelope_of(RefundResponse),
)
async def create_refund(request: Request) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        body = await read_model(request, CreateRefundRequest)
        refund = await refunds_service.create_refund(conn, merchant=merchant, request=body)
    return envelope.data(refund)


@router.get(
    "/v3/filter/api/order/refund-order",
    summary="List refunds (filters, sorting and paging of api.md §6)",
    openapi_extra=list_query(REFUND_FILTERS),
    responses=envelope_of(RefundResponse, many=True),
)
async def list_refunds(request: Request) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        query = filters.parse_list_query(
            request.scope["query_string"].decode("latin-1"),
            REFUND_FILTERS,
            set(repository.SORT_COLUMNS),
        )
        items, total = await refunds_service.list_refunds(conn, merchant=merchant, query=query)
    return envelope.page(items, total=total, page=query.page, page_size=query.page_size)


@router.post(
    "/v3/billing/api/order/correction-order",
    summary="Withhold a fee, penalty or service charge from a draft refund (api.md §9.4)",
    openapi_extra=json_body(CreateOrderRequest),
    responses=envelope_of(OrderResponse),
)
async def create_correction(request: Request) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        body = await read_model(request, CreateOrderRequest)
        correction = await refunds_service.create_correction(conn, merchant=merchant, request=body)
    return envelope.data(correction)
