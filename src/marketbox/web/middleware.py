"""Pure ASGI middleware, ahead of routing so that refused requests cost almost nothing:

RequestIdMiddleware        a request id on every response (spec/api.md §1.2) and on every log
                           record written while serving it (logs.request_id)
SecurityHeadersMiddleware  nosniff everywhere; CSP + Referrer-Policy on HTML (web/headers.py)
HeadAsGetMiddleware        HEAD answered wherever GET is: same status and headers, no body
BodySizeLimitMiddleware    413 for a body above MARKETBOX_MAX_BODY_BYTES, chunked ones too
IPRateLimitMiddleware      the per-IP rate limit of the API (§5)
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marketbox import logs
from marketbox.errors import AppError, PayloadTooLarge, RateLimited
from marketbox.web import headers as security
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

        token = logs.request_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logs.request_id.reset(token)


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
                    await limiter.hit(client[0] if client else "unknown")
                except RateLimited as exc:
                    response = JSONResponse(
                        exc.envelope(), status_code=exc.status, headers=exc.headers
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


class SecurityHeadersMiddleware:
    """`X-Content-Type-Options: nosniff` on every answer; on HTML, the default
    Content-Security-Policy (frame-ancestors 'self') and Referrer-Policy unless the page set its
    own (the payment page and the point-of-sale page do)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _with_security_headers(message.get("headers", []))
            await send(message)

        await self.app(scope, receive, send_with_headers)


_NOSNIFF = (b"x-content-type-options", security.NOSNIFF.encode())
_PAGE_DEFAULTS = (
    (b"content-security-policy", security.DEFAULT_PAGE_POLICY.encode()),
    (b"referrer-policy", security.REFERRER_POLICY.encode()),
)


def _with_security_headers(raw: Any) -> list[tuple[bytes, bytes]]:
    """The answer's headers plus those of ours it did not set itself (names are lower case
    in ASGI, as Starlette writes them)."""
    headers = list(raw)
    names = {name.lower() for name, _ in headers}
    if _NOSNIFF[0] not in names:
        headers.append(_NOSNIFF)
    content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
    if content_type.startswith(b"text/html"):
        headers.extend(header for header in _PAGE_DEFAULTS if header[0] not in names)
    return headers


class HeadAsGetMiddleware:
    """Serve HEAD as the GET of the same URL and drop the body (RFC 9110 §9.3.2).

    Routes declare GET only; without this a HEAD would be a 405. The status and headers
    (Content-Length included) are exactly the GET's.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        finished = False

        async def send_without_body(message: Message) -> None:
            nonlocal finished
            if message["type"] == "http.response.start":
                await send(message)
            elif not finished and not message.get("more_body", False):
                finished = True  # the last body message (or a pathsend): one empty body
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        await self.app({**scope, "method": "GET"}, receive, send_without_body)


class BodySizeLimitMiddleware:
    """Refuse a request body above `max_body_bytes` with 413 in the envelope.

    A Content-Length above the limit is refused before anything is read; a body without one
    (chunked) is counted while it arrives and refused at the first byte over the limit, so no
    parser (JSON, form) ever sees more than the limit.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit: int = scope["app"].state.ctx.settings.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared <= limit:
            # The server reads exactly Content-Length bytes (no Transfer-Encoding was sent):
            # the body cannot grow past the limit, so nothing needs counting.
            await self.app(scope, receive, send)
            return
        # Connection: close, so the server stops reading what is left of the body.
        refusal = PayloadTooLarge(
            f"The request body is larger than {limit} bytes", headers={"Connection": "close"}
        )
        if declared is not None:
            await _respond(refusal, scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # An AppError: the app's handlers answer it in the envelope.
                    raise refusal
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except PayloadTooLarge:
            if started:
                raise
            await _respond(refusal, scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    """The declared body length; None when there is none, or a Transfer-Encoding too (which
    then decides where the body ends), or it is not a number."""
    length = None
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return None
        elif name == b"transfer-encoding":
            return None
    return length


async def _respond(exc: AppError, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse(exc.envelope(), status_code=exc.status, headers=exc.headers)
    await response(scope, receive, send)
