"""Builds the ASGI app: routers, error handlers, static files, lifespan. No logic here."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from marketbox import __version__
from marketbox.bootstrap import prepare_database
from marketbox.config import Settings, get_settings
from marketbox.gate.hub import Hub
from marketbox.gate.routes import router as gate_router
from marketbox.notifications import events as gate_bus
from marketbox.orders.routes import router as orders_router
from marketbox.security.routes import router as security_router
from marketbox.storage.db import Database
from marketbox.web import assets, errors, health, openapi, reference
from marketbox.web import metrics as web_metrics
from marketbox.web.context import AppContext
from marketbox.web.idempotency import IdempotencyMiddleware
from marketbox.web.middleware import (
    BodySizeLimitMiddleware,
    HeadAsGetMiddleware,
    IPRateLimitMiddleware,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
)
from marketbox.web.pages import router as pages_router

log = logging.getLogger("marketbox")


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    run_worker: bool = False,
    migrate: bool = True,
) -> FastAPI:
    settings = settings or get_settings()
    db = db or Database(settings.database_url)
    ctx = AppContext(settings=settings, db=db)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await prepare_database(settings, db)
        # Start-up objects (modules, compiled statements, templates) live for the process:
        # keep them out of every future collection, and collect the young generation less
        # often. A request allocates thousands of short-lived objects (bench/: ~10 % of CPU).
        gc.freeze()
        gc.set_threshold(7000, 20, 20)
        # The WebSocket gate: this process's clients, fed by the deployment's bus (gate/).
        bus = gate_bus.create_bus(
            settings.database_url, settings.redis_url, settings.redis_key_prefix
        )
        gate_bus.install(bus)
        app.state.gate = Hub(db, bus)
        await app.state.gate.start()
        worker_task = None
        stop_worker = asyncio.Event()
        if run_worker:
            from marketbox.notifications.worker import run_worker as worker_loop

            worker_task = asyncio.create_task(worker_loop(settings, db, stop_worker))
        elif settings.mode == "sandbox":
            # The sandbox clock (docs/sandbox.md), kept in step by the worker when it runs here.
            from marketbox.sandbox import clock as sandbox_clock

            await sandbox_clock.refresh(db)
            worker_task = asyncio.create_task(sandbox_clock.keep_in_step(db, stop_worker))
        try:
            yield
        finally:
            if worker_task is not None:
                # A graceful stop (SIGTERM): deliveries in flight finish and are recorded,
                # for as long as one delivery may take; then whatever is left is cancelled
                # (its claims lapse and are sent again).
                stop_worker.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        asyncio.shield(worker_task), settings.notification_timeout_seconds + 1
                    )
                worker_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker_task
            await app.state.gate.close()
            gate_bus.install(None)
            await ctx.gateway.close()
            await ctx.shared.aclose()
            await db.dispose()

    app = FastAPI(
        title="marketbox API",
        version=__version__,
        description="Invoicebox-compatible API v3 (see docs/api.md)",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        # FastAPI's own Swagger UI loads its scripts from a CDN, and our pages use no CDNs:
        # /docs is ours (web/reference.py), its assets served by us; no ReDoc.
        docs_url=None,
        redoc_url=None,
        # Real clients follow no redirects (api.md MCP addendum): a trailing slash is a 404.
        redirect_slashes=False,
    )
    app.state.ctx = ctx
    # Added innermost first: a request meets RequestId, (RequestObserver,) SecurityHeaders,
    # HeadAsGet, Compression (HTML), BodySizeLimit, IPRateLimit, Idempotency, (RouteMarker,)
    # then the routes; every answer, refusals included, gets the id and headers (and is
    # counted and logged), and a replayed answer is the stored one, bounded like any other
    # request.
    observe = settings.metrics_enabled or settings.access_log
    if observe:
        app.add_middleware(web_metrics.RouteMarker)
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(IPRateLimitMiddleware)
    app.add_middleware(BodySizeLimitMiddleware)
    app.add_middleware(assets.CompressionMiddleware)  # inside HeadAsGet: a HEAD gets its headers
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    if observe:
        app.add_middleware(
            web_metrics.RequestObserver, count=settings.metrics_enabled, log=settings.access_log
        )
    app.add_middleware(RequestIdMiddleware)  # outermost: every answer carries the id
    errors.install(app)
    # Routes are matched in order, each at a cost (FastAPI tries them one by one): the
    # machine-to-machine calls that come by the thousand (creating orders, instruments
    # confirming payments) first. No two routers share a path, so the order decides nothing else.
    app.include_router(orders_router)
    _include_optional(app, "marketbox.payments.routes")
    app.include_router(health.router)
    app.include_router(web_metrics.router)
    app.include_router(security_router)
    app.include_router(gate_router)
    app.include_router(pages_router)
    app.include_router(reference.router)
    for module in (
        "marketbox.payment_page.views",
        "marketbox.marketplace.routes",
        "marketbox.refunds.routes",
        "marketbox.receipts.routes",
        "marketbox.mail.routes",
        "marketbox.shipments.routes",
        "marketbox.companies.routes",
        "marketbox.guarantee.routes",
        "marketbox.notifications.routes",
        "marketbox.sandbox.routes",
        "marketbox.office.views",
        "marketbox.playground.views",
    ):
        _include_optional(app, module)
    app.include_router(assets.router)  # /favicon.ico
    # Static files under plain and content-hashed names, compressed once (web/assets.py); the
    # mini-app host's directory before /static, which would otherwise answer for it.
    for prefix in assets.ASSETS.prefixes:
        app.mount(prefix, assets.StaticAssets(prefix))
    openapi.install(app, public_base=settings.public_base)
    return app


def _include_optional(app: FastAPI, module_name: str) -> None:
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return
    app.include_router(module.router)
