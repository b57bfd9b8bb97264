"""Fiscal receipt endpoints (our extension, docs/api.md "Fiscal receipts (54-FZ)"). Handlers
parse, authorize, call one service, answer.

GET /v3/billing/api/order/order/{id}/receipt   the receipts of one order (payment, shipments,
                                               refunds, corrections)
GET /v3/filter/api/order/receipt               list the merchant's receipts (§6 filters)
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from marketbox.receipts import repository
from marketbox.receipts import service as receipts_service
from marketbox.receipts.schemas import ReceiptResponse
from marketbox.web import envelope, filters
from marketbox.web.context import get_context
from marketbox.web.openapi import envelope_of, list_query

router = APIRouter(tags=["receipts"])

RECEIPT_FILTERS: dict[str, filters.Parser] = {
    "id": str.lower,
    "orderId": str.lower,
    "orderContainerId": str.lower,
    "sourceId": str.lower,
    "merchantId": str.lower,
    "purpose": filters.parse_str,
    "kind": filters.parse_str,
    "status": filters.parse_str,
    "createdAt": filters.parse_datetime,
}
assert set(RECEIPT_FILTERS) == set(repository.FILTER_COLUMNS)


@router.get(
    "/v3/billing/api/order/order/{order_id}/receipt",
    summary="54-FZ receipts of an order, its shipments, refunds and corrections (extension)",
    responses=envelope_of(ReceiptResponse, many=True),
)
async def order_receipts(request: Request, order_id: str) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        items = await receipts_service.order_receipts(conn, merchant=merchant, order_id=order_id)
    return envelope.data(items)


@router.get(
    "/v3/filter/api/order/receipt",
    summary="List 54-FZ receipts (filters, sorting and paging of api.md §6; extension)",
    openapi_extra=list_query(RECEIPT_FILTERS),
    responses=envelope_of(ReceiptResponse, many=True),
)
async def list_receipts(request: Request) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        query = filters.parse_list_query(
            request.scope["query_string"].decode("latin-1"),
            RECEIPT_FILTERS,
            set(repository.SORT_COLUMNS),
        )
        items, total = await receipts_service.list_receipts(conn, merchant=merchant, query=query)
    return envelope.page(items, total=total, page=query.page, page_size=query.page_size)
