"""`POST /v3/billing/api/order/{id}/payment-method-action/{validate,send-code,pay}` (api.md §11),
for the merchant whose order it is."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from marketbox.guarantee import service as guarantee_service
from marketbox.guarantee.schemas import (
    ActionRequest,
    PayRequest,
    PayResponse,
    SendCodeResponse,
    ValidateResponse,
)
from marketbox.web import envelope
from marketbox.web.context import AppContext, get_context, read_model
from marketbox.web.openapi import envelope_of, json_body

router = APIRouter(tags=["guarantee"])

ACTIONS = "/v3/billing/api/order/{order_id}/payment-method-action"


def _rules(ctx: AppContext) -> guarantee_service.CodeRules:
    s = ctx.settings
    return guarantee_service.CodeRules(
        ttl_seconds=s.guarantee_code_ttl_seconds,
        resend_seconds=s.guarantee_resend_seconds,
        sends=s.guarantee_code_sends,
        attempts=s.guarantee_code_attempts,
    )


@router.post(
    f"{ACTIONS}/validate",
    summary="Can this payer confirm the order's payment with this instrument?",
    openapi_extra=json_body(ActionRequest),
    responses=envelope_of(ValidateResponse),
)
async def validate(request: Request, order_id: str) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        body = await read_model(request, ActionRequest)
        answer = await guarantee_service.validate(
            conn,
            merchant=merchant,
            order_id=order_id,
            request=body,
            mode=ctx.settings.mode,
        )
    return envelope.data(answer)


@router.post(
    f"{ACTIONS}/send-code",
    summary="Send the payer a confirmation code",
    openapi_extra=json_body(ActionRequest),
    responses=envelope_of(SendCodeResponse),
)
async def send_code(request: Request, order_id: str) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        body = await read_model(request, ActionRequest)
        answer = await guarantee_service.send_code(
            conn,
            merchant=merchant,
            order_id=order_id,
            request=body,
            mode=ctx.settings.mode,
            rules=_rules(ctx),
        )
    return envelope.data(answer)


@router.post(
    f"{ACTIONS}/pay",
    summary="Pay the order's invoice with the code the payer received",
    openapi_extra=json_body(PayRequest),
    responses=envelope_of(PayResponse),
)
async def pay(request: Request, order_id: str) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        body = await read_model(request, PayRequest)
        answer = await guarantee_service.pay(
            conn,
            merchant=merchant,
            order_id=order_id,
            request=body,
            mode=ctx.settings.mode,
        )
    return envelope.data(answer)
