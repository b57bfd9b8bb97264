"""Request metrics, the access log and the `/metrics` scrape (docs/deploy.md "Metrics").

RequestObserver   outer middleware: times every answer (refusals by the limits included),
                  counts it in marketbox_http_requests_total / …_duration_seconds by method,
                  route template and status, and writes the access-log line
RouteMarker       innermost middleware: tells the observer which route template answered
                  (`/order/{container_id}`, never the raw path, so ids add no series)

Both are installed only when MARKETBOX_METRICS_ENABLED or MARKETBOX_ACCESS_LOG is on.

GET /metrics is 404 unless MARKETBOX_METRICS_ENABLED; with MARKETBOX_METRICS_TOKEN set it
requires `Authorization: Bearer <token>` (401 otherwise).
"""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marketbox import metrics
from marketbox.errors import NotFound, Unauthorized
from marketbox.web.context import get_context

router = APIRouter(include_in_schema=False)
access_log = logging.getLogger("marketbox.access")

# Probes and scrapes come every few seconds: logged at DEBUG, never at INFO.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_ROUTE_KEY = "route_template"


@router.get("/metrics")
async def scrape(request: Request) -> Response:
    ctx = get_context(request)
    settings = ctx.settings
    if not settings.metrics_enabled:
        raise NotFound("No such endpoint")
    if not metrics.authorized(settings.metrics_token, request.headers.get("authorization")):
        raise Unauthorized()
    outbox = await metrics.outbox_metrics(ctx.db, settings.readiness_timeout_seconds)
    body, content_type = metrics.exposition(request.headers.get("accept"), outbox)
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})


class RouteMarker:
    """Innermost: after routing, the matched route's template goes into the request state
    (shared with the outer layers, which see copies of the scope)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            route = scope.get("route")
            if route is not None:
                scope.setdefault("state", {})[_ROUTE_KEY] = getattr(route, "path", None)


class RequestObserver:
    def __init__(self, app: ASGIApp, *, count: bool, log: bool) -> None:
        self.app = app
        self.count = count
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        status = 500  # unless an answer starts

        async def observing_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observing_send)
        finally:
            seconds = time.perf_counter() - started
            route = state.get(_ROUTE_KEY) or metrics.UNMATCHED_ROUTE
            if self.count:
                metrics.count_request(scope["method"], route, status, seconds)
            if self.log:
                path = scope["path"]
                access_log.log(
                    logging.DEBUG if path in QUIET_PATHS else logging.INFO,
                    "%s %s %d %.1f ms",
                    scope["method"],
                    path,
                    status,
                    seconds * 1000,
                    extra={
                        "method": scope["method"],
                        "path": path,
                        "route": route,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 1),
                    },
                )
