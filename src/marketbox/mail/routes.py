"""Mail endpoints (our extension, docs/api.md "Mail messages"): the letters written for the
merchant, sent or captured. Handlers parse, authorize, call one function, answer.

GET /v3/mail/api/message         list the merchant's letters (§6 filters, sorting, paging)
GET /v3/mail/api/message/{id}    one letter
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from marketbox.mail import listing
from marketbox.mail.schemas import MailMessageResponse
from marketbox.web import envelope, filters
from marketbox.web.context import get_context
from marketbox.web.openapi import envelope_of, list_query

router = APIRouter(tags=["mail"])

MAIL_FILTERS: dict[str, filters.Parser] = {
    "id": str.lower,
    "merchantId": str.lower,
    "orderContainerId": str.lower,
    "orderId": str.lower,
    "kind": filters.parse_str,
    "status": filters.parse_str,
    "to": filters.parse_str,
    "createdAt": filters.parse_datetime,
    "sentAt": filters.parse_datetime,
}
assert set(MAIL_FILTERS) == set(listing.FILTER_COLUMNS)


@router.get(
    "/v3/mail/api/message",
    summary="List the letters written for the merchant (filters, sorting, paging of §6; extension)",
    openapi_extra=list_query(MAIL_FILTERS),
    responses=envelope_of(MailMessageResponse, many=True),
)
async def list_messages(request: Request) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        query = filters.parse_list_query(
            request.scope["query_string"].decode("latin-1"),
            MAIL_FILTERS,
            set(listing.SORT_COLUMNS),
        )
        items, total = await listing.list_messages(conn, merchant_id=merchant.id, query=query)
    return envelope.page(items, total=total, page=query.page, page_size=query.page_size)


@router.get(
    "/v3/mail/api/message/{message_id}",
    summary="One letter: recipient, subject, text, status, attempts, times (extension)",
    responses=envelope_of(MailMessageResponse),
)
async def get_message(request: Request, message_id: str) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        item = await listing.get_message(conn, message_id, merchant_id=merchant.id)
    return envelope.data(item)
