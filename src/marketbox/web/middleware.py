"""Pure ASGI middleware: a request id on every response (spec/api.md §1.2) and the per-IP
rate limit of the API (§5), ahead of routing so that refused requests cost almost nothing."""

from __future__ import annotations

import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marketbox.errors import RateLimited
from marketbox.web.envelope import JSONResponse


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(16)
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        await self.app(scope, receive, send_with_id)


class IPRateLimitMiddleware:
    """500 requests per 30 s per client IP on /v3 (settings), answered in the envelope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v3/"):
            limiter = scope["app"].state.ctx.ip_limiter
            if limiter is not None:
                client = scope.get("client")
                try:
                    limiter.hit(client[0] if client else "unknown")
                except RateLimited as exc:
                    response = JSONResponse(
                        exc.envelope(), status_code=exc.status, headers=exc.headers
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
