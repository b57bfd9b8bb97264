"""The delivery log endpoints (our extension, docs/notifications.md §8), merchant-scoped by the
Bearer token. Handlers parse, authorize, call one service, answer.

GET  /v3/notification/api/notification                     the merchant's notifications (§6)
GET  /v3/notification/api/notification/{id}                one, with every attempt
POST /v3/notification/api/notification/{id}/resend         send it again
POST /v3/notification/api/notification/resend-failed       resend every rejected / abandoned
POST /v3/notification/api/test                             send the test notification now
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from marketbox import netguard
from marketbox.notifications import service
from marketbox.notifications.schemas import (
    NotificationDetail,
    NotificationResponse,
    ResendResponse,
    TestNotificationRequest,
    TestNotificationResponse,
)
from marketbox.web import envelope, filters
from marketbox.web.context import get_context, read_model
from marketbox.web.openapi import envelope_of, json_body, list_query

router = APIRouter(tags=["notifications"])

NOTIFICATIONS = "/v3/notification/api/notification"
NOTIFICATION_FILTERS: dict[str, filters.Parser] = {
    "id": str.lower,
    "orderId": str.lower,
    "status": filters.parse_str,
    "event": filters.parse_str,
    "createdAt": filters.parse_datetime,
}
assert set(NOTIFICATION_FILTERS) == set(service.FILTER_COLUMNS)


@router.get(
    NOTIFICATIONS,
    summary="List notifications and their delivery state (filters and paging of §6; extension)",
    openapi_extra=list_query(NOTIFICATION_FILTERS),
    responses=envelope_of(NotificationResponse, many=True),
)
async def list_notifications(request: Request) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        query = filters.parse_list_query(
            request.scope["query_string"].decode("latin-1"),
            NOTIFICATION_FILTERS,
            set(service.SORT_COLUMNS),
        )
        items, total = await service.list_notifications(conn, merchant_id=merchant.id, query=query)
    return envelope.page(items, total=total, page=query.page, page_size=query.page_size)


@router.post(
    f"{NOTIFICATIONS}/resend-failed",
    summary="Resend every rejected or abandoned notification not resent yet (extension)",
    responses=envelope_of(ResendResponse),
)
async def resend_failed(request: Request) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        resent = await service.resend_failed(conn, merchant_id=merchant.id)
    return envelope.data({"notificationIds": resent})


@router.get(
    NOTIFICATIONS + "/{notification_id}",
    summary="A notification with every attempt: exact request, the shop's reply (extension)",
    responses=envelope_of(NotificationDetail),
)
async def get_notification(request: Request, notification_id: str) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        detail = await service.get_notification(conn, notification_id, merchant_id=merchant.id)
    return envelope.data(detail)


@router.post(
    NOTIFICATIONS + "/{notification_id}/resend",
    summary="Send a notification again, signed with the current key (extension)",
    responses=envelope_of(NotificationResponse),
)
async def resend(request: Request, notification_id: str) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        carrier = await service.resend(conn, notification_id, merchant_id=merchant.id)
        record = await service.get_summary(conn, carrier, merchant_id=merchant.id)
    return envelope.data(record)


@router.post(
    "/v3/notification/api/test",
    summary="Send the test notification now and return the shop's answer (extension)",
    openapi_extra=json_body(TestNotificationRequest),
    responses=envelope_of(TestNotificationResponse),
)
async def send_test(request: Request) -> Response:
    ctx = get_context(request)
    merchant = await ctx.merchant_outside_transaction(request)
    if (await request.body()).strip():
        url = (await read_model(request, TestNotificationRequest)).url
    else:
        url = None
    if ctx.settings.blocks_private_networks:
        await netguard.check_url(url, field="url")
    result = await service.send_test(ctx.db, ctx.settings, merchant_id=merchant.id, url=url)
    return envelope.data(result)
