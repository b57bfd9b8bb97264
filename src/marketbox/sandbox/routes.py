"""Sandbox controls over HTTP (our extension, docs/sandbox.md); every one answers 403
`sandbox_only` in production mode, before anything else is looked at.

POST /v3/sandbox/api/order/{id}/pay|decline|hold|expire   a trigger on the merchant's order
GET  /v3/sandbox/api/clock                                the sandbox clock
POST /v3/sandbox/api/clock                                move it forward {"advance": "2h"}
POST /v3/sandbox/api/clock/reset                          back to the real time
POST /v3/sandbox/api/reset                                empty all sandbox data
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, timedelta

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from marketbox import clock
from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.orders import service as orders_service
from marketbox.sandbox import clock as sandbox_clock
from marketbox.sandbox import service as sandbox_service
from marketbox.sandbox.errors import SandboxOnly
from marketbox.sandbox.schemas import (
    ClockAdvanceRequest,
    ClockResponse,
    ResetResponse,
    TriggerResponse,
)
from marketbox.web import envelope
from marketbox.web.context import AppContext, get_context, read_model
from marketbox.web.openapi import envelope_of, json_body

router = APIRouter(tags=["sandbox"])

PREFIX = "/v3/sandbox/api"
SUMMARIES = {
    "pay": "Sandbox: pay the order's invoice as a buyer would (test card 4242…)",
    "decline": "Sandbox: a declined card payment of the order's invoice (test card …0002)",
    "hold": "Sandbox: pay the order's invoice as a pre-authorisation (test card …0309)",
    "expire": "Sandbox: the order's deadline passes now (expired, shop notified)",
}


def _sandbox(request: Request) -> AppContext:
    ctx = get_context(request)
    if ctx.settings.mode != "sandbox":
        raise SandboxOnly()
    return ctx


def _trigger_route(action: str) -> Callable[[Request, str], Awaitable[Response]]:
    async def run_trigger(request: Request, order_id: str) -> Response:
        ctx = _sandbox(request)
        merchant = await ctx.merchant_outside_transaction(request)
        result = await sandbox_service.trigger(
            ctx.db, ctx.gateway, ctx.settings, action=action, order_id=order_id, merchant=merchant
        )
        async with ctx.db.read() as conn:
            order = await orders_service.get_order(conn, merchant=merchant, order_id=order_id)
        return envelope.data(
            {
                "action": result.action,
                "result": result.outcome,
                "paymentId": result.payment_id,
                "failureCode": result.failure_code,
                "order": order,
            }
        )

    run_trigger.__name__ = f"trigger_{action}"
    return run_trigger


for _action in sandbox_service.ACTIONS:
    router.add_api_route(
        f"{PREFIX}/order/{{order_id}}/{_action}",
        _trigger_route(_action),
        methods=["POST"],
        summary=SUMMARIES[_action],
        responses=envelope_of(TriggerResponse),
    )


def _clock_state() -> dict[str, object]:
    now = clock.now()
    offset = clock.offset()
    return {
        "now": now.astimezone(UTC).isoformat(),
        "realNow": (now - offset).astimezone(UTC).isoformat(),
        "offsetSeconds": int(offset.total_seconds()),
        "moved": offset > timedelta(0),
    }


@router.get(
    f"{PREFIX}/clock",
    summary="Sandbox: the sandbox clock (how far it is moved forward)",
    responses=envelope_of(ClockResponse),
)
async def get_clock(request: Request) -> Response:
    ctx = _sandbox(request)
    await ctx.merchant_outside_transaction(request)
    await sandbox_clock.refresh(ctx.db)
    return envelope.data(_clock_state())


@router.post(
    f"{PREFIX}/clock",
    summary="Sandbox: move the clock forward (deadlines and retries fire now)",
    openapi_extra=json_body(ClockAdvanceRequest),
    responses=envelope_of(ClockResponse),
)
async def advance_clock(request: Request) -> Response:
    ctx = _sandbox(request)
    with sandbox_clock.kept_on_failure():
        async with ctx.db.transaction() as conn:
            await ctx.merchant(conn, request)
            body = await read_model(request, ClockAdvanceRequest)
            delta = sandbox_clock.parse_duration(body.advance)
            await sandbox_service.advance_clock(conn, delta)
    return envelope.data(_clock_state())


@router.post(
    f"{PREFIX}/clock/reset",
    summary="Sandbox: the clock back to the real time",
    responses=envelope_of(ClockResponse),
)
async def reset_clock(request: Request) -> Response:
    ctx = _sandbox(request)
    with sandbox_clock.kept_on_failure():
        async with ctx.db.transaction() as conn:
            await ctx.merchant(conn, request)
            await sandbox_clock.reset(conn)
    return envelope.data(_clock_state())


@router.post(
    f"{PREFIX}/reset",
    summary="Sandbox: delete every order, payment, notification, letter and receipt",
    responses=envelope_of(ResetResponse),
)
async def reset_sandbox(request: Request) -> Response:
    ctx = _sandbox(request)
    with sandbox_clock.kept_on_failure():
        async with ctx.db.transaction() as conn:
            await ctx.merchant(conn, request)
            result = await sandbox_service.reset(conn)
    # The demo shop's documented credentials are back: drop cached tokens in every process.
    ctx.tokens.clear()
    await ctx.shared.credentials_changed()
    return envelope.data({"deleted": result.deleted, "demoMerchantId": DEMO_MERCHANT_ID})
