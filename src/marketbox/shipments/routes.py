"""Shipment endpoints (spec/api.md §10). Handlers parse, authorize, call one service, answer.

POST /v3/billing/api/order/shipment     register a shipment (captures a hold)
GET  /v3/filter/api/order/shipment      list shipments (§6 filters; the documented path)
GET  /v3/billing/api/order/shipment     the same list (the path the MCP server calls)
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from marketbox.shipments import repository
from marketbox.shipments import service as shipments_service
from marketbox.shipments.schemas import CreateShipmentRequest, ShipmentResponse
from marketbox.web import envelope, filters
from marketbox.web.context import get_context, read_model
from marketbox.web.openapi import envelope_of, json_body, list_query

router = APIRouter(tags=["shipments"])

SHIPMENTS = "/v3/billing/api/order/shipment"
SHIPMENT_FILTERS: dict[str, filters.Parser] = {
    "id": filters.parse_int,
    "orderId": str.lower,
    "merchantId": str.lower,
    "createdAt": filters.parse_datetime,
}
assert set(SHIPMENT_FILTERS) == set(repository.FILTER_COLUMNS)


@router.post(
    SHIPMENTS,
    summary="Register a shipment of a paid order (captures a held payment)",
    openapi_extra=json_body(CreateShipmentRequest),
    responses=envelope_of(ShipmentResponse),
)
async def create_shipment(request: Request) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        body = await read_model(request, CreateShipmentRequest)
        shipment = await shipments_service.create_shipment(conn, merchant=merchant, request=body)
    return envelope.data(shipment)


async def _list(request: Request) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        query = filters.parse_list_query(
            request.scope["query_string"].decode("latin-1"),
            SHIPMENT_FILTERS,
            set(repository.SORT_COLUMNS),
        )
        items, total = await shipments_service.list_shipments(conn, merchant=merchant, query=query)
    return envelope.page(items, total=total, page=query.page, page_size=query.page_size)


for path, name in (
    ("/v3/filter/api/order/shipment", "list_shipments"),
    (SHIPMENTS, "list_shipments_mcp"),
):
    router.add_api_route(
        path,
        _list,
        methods=["GET"],
        name=name,
        summary="List shipments (filters, sorting and paging of api.md §6)",
        openapi_extra=list_query(SHIPMENT_FILTERS),
        responses=envelope_of(ShipmentResponse, many=True),
    )
