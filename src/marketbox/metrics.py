"""Prometheus metrics: what every process counts, and what a scrape reads (docs/deploy.md).

Counted in process (prometheus_client; summed over every process of `serve --workers N` in
its multiprocess mode, see `config.prometheus_multiproc_dir`):

    marketbox_http_requests_total{method,route,status}            web/metrics.py
    marketbox_http_request_duration_seconds{method,route,status}  web/metrics.py
    marketbox_notification_deliveries_total{result}               the dispatcher, per attempt
    marketbox_notification_delivery_duration_seconds              the dispatcher, per attempt
    marketbox_notifications_abandoned_total                       retry budget spent
    marketbox_notification_claims_lost_total                      a result not recorded
    marketbox_gateway_operations_total{status}                    the worker's gateway pass
    marketbox_card_attempts_recovered_total{status}               the worker's recovery pass

Read from the database at each scrape (`outbox_metrics`), bounded in time and in rows:

    marketbox_outbox_pending      notifications not yet delivered, rejected or abandoned
    marketbox_outbox_due          of those, the ones due now (the dispatchers' backlog)
    marketbox_outbox_lag_seconds  how long the most overdue one has been due (0: none)
    marketbox_outbox_up           1 when the query answered in time, 0 otherwise

This module is neutral (no web framework): the dispatcher counts here, the web layer and the
worker's metrics listener expose it.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import socket
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select

from marketbox import clock
from marketbox.config import Settings, prometheus_multiproc_dir
from marketbox.storage.db import Database
from marketbox.storage.tables import notifications

log = logging.getLogger("marketbox.metrics")

# The outbox gauges count at most this many rows, so a scrape stays cheap whatever the backlog.
OUTBOX_COUNT_CAP = 100_000
# Label values for a request that matched no route, and methods outside the usual set.
UNMATCHED_ROUTE = "(unmatched)"
OTHER_METHOD = "OTHER"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Delivery results (`notifications.delivery.DeliveryResult.reason`), plus `crashed` for a
# delivery that raised (a bug, not the shop).
DELIVERY_RESULTS = (
    "delivered",
    "rejected",
    "blocked",
    "shop_error",
    "http_error",
    "bad_reply",
    "timeout",
    "connection_error",
    "crashed",
)

HTTP_REQUESTS = Counter(
    "marketbox_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "marketbox_http_request_duration_seconds",
    "Time from the request's arrival to the end of its answer",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
DELIVERIES = Counter(
    "marketbox_notification_deliveries",
    "Notification delivery attempts by result",
    ["result"],
)
DELIVERY_DURATION = Histogram(
    "marketbox_notification_delivery_duration_seconds",
    "Time a delivery attempt took, the shop's answer included",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 60.0),
)
ABANDONED = Counter(
    "marketbox_notifications_abandoned",
    "Notifications given up after their last retry",
)
CLAIMS_LOST = Counter(
    "marketbox_notification_claims_lost",
    "Delivery results not recorded because the dispatcher had lost its claim",
)
GATEWAY_OPERATIONS = Counter(
    "marketbox_gateway_operations",
    "Captures, releases and refunds the worker asked of the gateway, by the status they "
    "ended in (pending: asked again later)",
    ["status"],
)
CARD_ATTEMPTS_RECOVERED = Counter(
    "marketbox_card_attempts_recovered",
    "Card attempts left unfinished (a crash, a lost answer) that the worker finished, by the "
    "status they ended in",
    ["status"],
)


def count_request(method: str, route: str, status: int, seconds: float) -> None:
    method = method if method in KNOWN_METHODS else OTHER_METHOD
    labels = (method, route, str(status))
    HTTP_REQUESTS.labels(*labels).inc()
    HTTP_DURATION.labels(*labels).observe(seconds)


# One child per known result, looked up once: `labels()` takes a lock and builds a key on
# every call, and a dispatcher counts every delivery.
_DELIVERIES_BY_RESULT = {result: DELIVERIES.labels(result) for result in DELIVERY_RESULTS}


def count_delivery(result: str, seconds: float | None) -> None:
    counter = _DELIVERIES_BY_RESULT.get(result)
    (counter if counter is not None else DELIVERIES.labels(result)).inc()
    if seconds is not None:
        DELIVERY_DURATION.observe(seconds)


def count_by_status(counter: Counter, by_status: dict[str, int]) -> None:
    for status, count in by_status.items():
        if count:
            counter.labels(status).inc(count)


def authorized(token: str, authorization: str | None) -> bool:
    """Whether a scrape's Authorization header carries `token` (always, when none is set)."""
    if not token:
        return True
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


async def outbox_metrics(db: Database, timeout_seconds: float) -> list[Metric]:
    """The outbox gauges, read now; `marketbox_outbox_up` 0 when the database did not answer."""
    up = GaugeMetricFamily(
        "marketbox_outbox_up", "1 when the outbox gauges were read from the database"
    )
    try:
        async with asyncio.timeout(timeout_seconds):
            pending, due, lag = await _read_outbox(db)
    except Exception as exc:  # a scrape answers whatever the database does
        log.warning("outbox metrics unavailable: %s", type(exc).__name__)
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    return [
        up,
        GaugeMetricFamily(
            "marketbox_outbox_pending",
            f"Notifications waiting for delivery or a retry (counted up to {OUTBOX_COUNT_CAP})",
            value=pending,
        ),
        GaugeMetricFamily(
            "marketbox_outbox_due",
            f"Pending notifications due now (counted up to {OUTBOX_COUNT_CAP})",
            value=due,
        ),
        GaugeMetricFamily(
            "marketbox_outbox_lag_seconds",
            "How long the most overdue pending notification has been due",
            value=lag,
        ),
    ]


async def _read_outbox(db: Database) -> tuple[int, int, float]:
    n = notifications
    now = clock.now()
    pending = n.c.status == "pending"

    def capped(*conditions: Any) -> Any:
        rows = select(n.c.id).where(*conditions).limit(OUTBOX_COUNT_CAP).subquery()
        return select(func.count()).select_from(rows)

    async with db.read() as conn:
        pending_count = (await conn.execute(capped(pending))).scalar_one()
        due_count = (await conn.execute(capped(pending, n.c.next_attempt_at <= now))).scalar_one()
        oldest = (
            await conn.execute(select(func.min(n.c.next_attempt_at)).where(pending))
        ).scalar_one_or_none()
    lag = max(now - oldest, timedelta(0)).total_seconds() if oldest is not None else 0.0
    return int(pending_count), int(due_count), lag


class _Scrape:
    """One scrape's metrics: the processes' counters plus the families read for it."""

    def __init__(self, extra: Iterable[Metric]) -> None:
        self.extra = list(extra)

    def collect(self) -> Iterator[Metric]:
        directory = prometheus_multiproc_dir()
        if directory:
            yield from MultiProcessCollector(None, path=directory).collect()
        else:
            yield from REGISTRY.collect()
        yield from self.extra


def exposition(accept: str | None, extra: Iterable[Metric] = ()) -> tuple[bytes, str]:
    """The scrape body and its content type, in the format the scraper asked for."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(_Scrape(extra)), content_type


async def start_listener(settings: Settings, db: Database, sockets: list[socket.socket]) -> Any:
    """`marketbox worker --metrics-port`: GET /metrics (the token rule of the API's) and
    GET /healthz on the given bound sockets, in the worker's event loop. Returns the aiohttp
    runner; `await runner.cleanup()` stops it."""
    from aiohttp import web

    async def scrape(request: web.Request) -> web.Response:
        if not authorized(settings.metrics_token, request.headers.get("Authorization")):
            return web.json_response({"error": "unauthorized"}, status=401)
        outbox = await outbox_metrics(db, settings.readiness_timeout_seconds)
        body, content_type = exposition(request.headers.get("Accept"), outbox)
        response = web.Response(body=body, headers={"Cache-Control": "no-store"})
        response.headers["Content-Type"] = content_type
        return response

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"}, headers={"Cache-Control": "no-store"})

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    for sock in sockets:
        await web.SockSite(runner, sock).start()
    return runner
