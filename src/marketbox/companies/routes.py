"""`GET /v3/filter/api/counterparty-detail?vatNumber=<INN>` (api.md §14), for merchants."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from marketbox.companies import service as companies_service
from marketbox.companies.errors import InvalidInn
from marketbox.companies.schemas import Counterparty
from marketbox.web import envelope, filters
from marketbox.web.context import get_context
from marketbox.web.openapi import envelope_of

router = APIRouter(tags=["companies"])

LOOKUP_FILTERS: dict[str, filters.Parser] = {"vatNumber": filters.parse_str}
_PARAMETERS = [
    {
        "name": "vatNumber",
        "in": "query",
        "required": True,
        "description": "INN: 10 digits (company) or 12 (sole trader) with valid check digits",
        "schema": {"type": "string", "pattern": "^[0-9]{10}([0-9]{2})?$"},
    },
    {
        "name": "page",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": filters.MAX_PAGE},
    },
    {
        "name": "pageSize",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": filters.MAX_PAGE_SIZE},
    },
]


@router.get(
    "/v3/filter/api/counterparty-detail",
    summary="Look up a company or sole trader by INN (every registration; none is [])",
    openapi_extra={"parameters": _PARAMETERS},
    responses=envelope_of(Counterparty, many=True),
)
async def lookup_counterparty(request: Request) -> Response:
    ctx = get_context(request)
    # No transaction: the source may be a remote registry, and nothing here touches our tables.
    await ctx.merchant_outside_transaction(request)
    query = filters.parse_list_query(
        request.scope["query_string"].decode("latin-1"), LOOKUP_FILTERS, set()
    )
    vat_number = None
    for condition in query.conditions:
        # One INN per call, by equality: prefixes and lists would let a client walk the registry.
        if condition.op != "eq":
            raise InvalidInn("one INN per lookup, by equality (vatNumber=<INN>)")
        vat_number = condition.values[0]
    items, total = await companies_service.lookup(
        ctx.company_source,
        vat_number=vat_number,
        page=query.page,
        page_size=query.page_size,
        timeout=ctx.settings.company_lookup_timeout_seconds,
    )
    return envelope.page(items, total=total, page=query.page, page_size=query.page_size)
