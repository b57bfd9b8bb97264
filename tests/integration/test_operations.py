"""What an operator relies on (docs/deploy.md): the probes, the JSON logs, the metrics."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from marketbox import logs
from marketbox.app import create_app
from marketbox.config import Settings
from marketbox.notifications.dispatcher import Dispatcher
from marketbox.payments import service as payments_service
from marketbox.storage.db import Database
from marketbox.storage.migrate import current_revision, head_revision
from tests.conftest import DEMO_AUTH, TEST_PUBLIC_URL, body, make_settings, read
from tests.support.builders import order_payload
from tests.support.databases import PostgresTemplate
from tests.support.receiver import Receiver, Reply

TOKEN = "scrape-token-0123456789"
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url,
        metrics_enabled=True,
        metrics_token=TOKEN,
        access_log=True,
        notification_retry_schedule=(0,) * 10,
        notification_timeout_seconds=1.0,
    )


async def client_for(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=TEST_PUBLIC_URL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- /healthz and /readyz -----------------------------------------------------------------


async def test_a_migrated_database_is_ready(client: httpx.AsyncClient) -> None:
    for method in ("GET", "HEAD"):
        live = await client.request(method, "/healthz")
        ready = await client.request(method, "/readyz")
        assert live.status_code == 200 and ready.status_code == 200, (live.text, ready.text)
        assert ready.headers["cache-control"] == "no-store"
    ready = await client.get("/readyz")
    assert read(ready) == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "redis": "not configured"},
    }
    assert read(await client.get("/healthz")) == {"status": "ok"}


async def test_an_unreachable_database_is_alive_but_not_ready() -> None:
    port = free_port()  # nothing listens there
    settings = make_settings(
        f"postgresql+asyncpg://postgres@127.0.0.1:{port}/none", readiness_timeout_seconds=5.0
    )
    app = create_app(settings, migrate=False)
    async with await client_for(app) as client:
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
    await app.state.ctx.db.dispose()
    assert ready.status_code == 503
    checks = read(ready)["checks"]
    assert checks["database"].startswith("unreachable (")
    assert str(port) not in ready.text  # what failed, by kind; no addresses
    assert read(ready)["status"] == "unavailable"


async def test_a_database_never_migrated_is_not_ready(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    app = create_app(settings, migrate=False)
    async with await client_for(app) as client:
        ready = await client.get("/readyz")
    await app.state.ctx.db.dispose()
    assert ready.status_code == 503
    checks = read(ready)["checks"]
    assert checks["database"] == "ok"
    assert checks["migrations"] == (
        f"behind: database at no revision, this code expects {head_revision()}"
        " (run `marketbox migrate`)"
    )


async def test_a_database_behind_the_code_is_not_ready(
    client: httpx.AsyncClient, db: Database
) -> None:
    async with db.transaction() as conn:  # as if no revision were applied yet
        await conn.execute(text("DELETE FROM alembic_version"))
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert read(ready)["checks"]["migrations"].startswith("behind: database at no revision")


async def test_a_database_migrated_by_newer_code_keeps_the_old_processes_ready(
    client: httpx.AsyncClient, db: Database
) -> None:
    """During a rollout the new release migrates first; the old processes serve on until
    they are replaced (migrations only add what the previous release can live with)."""
    async with db.transaction() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert read(ready)["checks"]["migrations"] == (
        f"ahead: database at 9999, newer than this code's {head_revision()}"
    )


async def test_redis_configured_but_unreachable_is_not_ready(database_url: str, db: Any) -> None:
    settings = make_settings(database_url, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with await client_for(create_app(settings, db=db, migrate=False)) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    checks = read(ready)["checks"]
    assert checks["database"] == "ok" and checks["migrations"] == "ok"
    assert checks["redis"] == "unreachable (ConnectionRefusedError)"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_redis_that_never_answers_is_bounded_by_the_timeout(
    database_url: str, db: Any
) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections (the kernel does), never answers
    try:
        port = silent.getsockname()[1]
        settings = make_settings(
            database_url,
            redis_url=f"redis://:pw@127.0.0.1:{port}/0",
            readiness_timeout_seconds=0.5,
        )
        async with await client_for(create_app(settings, db=db, migrate=False)) as client:
            started = time.monotonic()
            ready = await client.get("/readyz")
            elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert ready.status_code == 503
    assert read(ready)["checks"]["redis"] == "no answer within 0.5 s"
    assert elapsed < 3


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_reachable_redis_is_ready(database_url: str, db: Any) -> None:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", 6379), 2)
    except (OSError, TimeoutError):
        pytest.skip("no Redis on 127.0.0.1:6379")
    writer.close()
    settings = make_settings(database_url, redis_url="redis://127.0.0.1:6379/0")
    async with await client_for(create_app(settings, db=db, migrate=False)) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert read(ready)["checks"]["redis"] == "ok"


# --- JSON logs ------------------------------------------------------------------------------


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The root logger's records as the JSON lines MARKETBOX_LOG_FORMAT=json writes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.RequestIdFilter())
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


def lines_of(stream: io.StringIO, logger: str | None = None) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [e for e in entries if logger is None or e["logger"] == logger]


async def test_log_lines_are_json_with_the_request_id(
    settings: Settings, db: Database, json_log: io.StringIO
) -> None:
    app = create_app(settings, db=db, migrate=False)

    @app.get("/boom")
    async def boom() -> None:
        logging.getLogger("marketbox.test").info("about to fail")
        raise RuntimeError("boom")

    async with await client_for(app) as client:
        response = await client.get("/help")
        failed = await client.get("/boom")
        await client.get("/healthz")
        await client.get("/readyz")
    request_id = response.headers["x-request-id"]
    failed_id = failed.headers["x-request-id"]

    (access,) = [e for e in lines_of(json_log, "marketbox.access") if e["path"] == "/help"]
    assert access["request_id"] == request_id
    assert access["level"] == "INFO"
    assert access["status"] == 200 and access["route"] == "/help"
    assert access["time"].endswith("Z") and "message" in access
    (inside,) = lines_of(json_log, "marketbox.test")
    assert inside["request_id"] == failed_id and inside["message"] == "about to fail"
    (error,) = lines_of(json_log, "marketbox.web")
    assert error["level"] == "ERROR" and error["request_id"] == failed_id
    assert "RuntimeError: boom" in error["exception"]
    # The probes are logged, but never at INFO.
    probes = [
        e for e in lines_of(json_log, "marketbox.access") if e["path"] in ("/healthz", "/readyz")
    ]
    assert [e["level"] for e in probes] == ["DEBUG", "DEBUG"]
    # Outside a request there is no request id.
    logging.getLogger("marketbox.test").warning("after")
    assert "request_id" not in lines_of(json_log, "marketbox.test")[-1]


# --- metrics --------------------------------------------------------------------------------


def samples(scrape: httpx.Response) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    assert scrape.status_code == 200, scrape.text
    found = {}
    for family in text_string_to_metric_families(scrape.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_need_the_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 401
    assert (
        await client.get("/metrics", headers={"Authorization": "Bearer wrong"})
    ).status_code == 401
    scrape = await client.get("/metrics", headers=SCRAPE)
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_metrics_are_off_unless_enabled(database_url: str, db: Any) -> None:
    app = create_app(make_settings(database_url), db=db, migrate=False)
    async with await client_for(app) as client:
        assert (await client.get("/metrics")).status_code == 404


async def test_a_request_counts_under_its_route_template(client: httpx.AsyncClient) -> None:
    route = dict(method="GET", route="/order/{container_id}", status="404")
    before = samples(await client.get("/metrics", headers=SCRAPE))
    for container in (
        "00000000-0000-7000-8000-000000000001",
        "00000000-0000-7000-8000-000000000002",
    ):
        assert (await client.get(f"/order/{container}")).status_code == 404
    assert (await client.get("/no/such/page")).status_code == 404
    after = samples(await client.get("/metrics", headers=SCRAPE))

    counted = "marketbox_http_requests_total"
    assert value(after, counted, **route) - value(before, counted, **route) == 2
    unmatched = dict(method="GET", route="(unmatched)", status="404")
    assert value(after, counted, **unmatched) - value(before, counted, **unmatched) == 1
    timed = "marketbox_http_request_duration_seconds_count"
    assert value(after, timed, **route) - value(before, timed, **route) == 2
    # No series names a raw path.
    assert not any("00000000" in str(labels) for _, labels in after)


async def test_deliveries_count_by_result_and_the_outbox_shows_what_is_left(
    settings: Settings, db: Database, client: httpx.AsyncClient
) -> None:
    async with Receiver() as shop:
        shop.script(Reply.success(), Reply.error("order_not_found"), Reply.http(500), Reply.hang())
        for number in range(4):
            created = await client.post(
                "/v3/billing/api/order/order",
                content=body(
                    order_payload(merchant_order_id=f"M-{number}", notificationUrl=shop.url)
                ),
                headers=DEMO_AUTH,
            )
            order = read(created)["data"]
            async with db.transaction() as conn:
                await payments_service.pay_container(
                    conn,
                    container_id=order["orderContainerId"],
                    method="card",
                    card_last4="4242",
                )
        before = samples(await client.get("/metrics", headers=SCRAPE))
        assert value(before, "marketbox_outbox_pending") == 4
        assert value(before, "marketbox_outbox_due") == 4
        async with Dispatcher(settings, db, name="metrics-test") as dispatcher:
            assert await dispatcher.run_once() == 4
        shop.release()
    after = samples(await client.get("/metrics", headers=SCRAPE))

    attempts = "marketbox_notification_deliveries_total"
    for result in ("delivered", "rejected", "http_error", "timeout"):
        assert value(after, attempts, result=result) - value(before, attempts, result=result) == 1
    timed = "marketbox_notification_delivery_duration_seconds_count"
    assert value(after, timed) - value(before, timed) == 4
    # The failed two wait for their retry (due at once: the schedule is all zeros).
    assert value(after, "marketbox_outbox_up") == 1
    assert value(after, "marketbox_outbox_pending") == 2
    assert value(after, "marketbox_outbox_due") == 2


# --- migrations: processes starting at once -------------------------------------------------


async def test_processes_starting_at_once_migrate_one_after_the_other(
    pg_template: PostgresTemplate | None,
) -> None:
    """Every process migrates as it starts (N API processes and M workers may start at once):
    on PostgreSQL they take turns, and the later ones find the schema current."""
    if pg_template is None:
        pytest.skip("PostgreSQL is not reachable")
    url = await pg_template.empty_database()
    try:
        # Processes, as in a deployment (Alembic's context is global: one migration a process).
        migrators = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                "import sys; from marketbox.storage.migrate import upgrade; upgrade(sys.argv[1])",
                url,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(3)
        ]
        async with asyncio.timeout(120):
            failures = [(await m.communicate())[1].decode()[-400:] for m in migrators]
        assert [m.returncode for m in migrators] == [0, 0, 0], failures
        db = Database(url)
        async with db.engine.connect() as conn:
            assert await current_revision(conn) == head_revision()
        await db.dispose()
    finally:
        await pg_template.drop(url)


# --- stopping -------------------------------------------------------------------------------


async def test_stopping_the_server_lets_a_delivery_in_flight_finish(
    settings: Settings, db: Database
) -> None:
    """`serve` (one process, its dispatcher inside) stopped by SIGTERM while a shop is still
    answering: the delivery completes and is recorded, not cut off to be sent again."""
    settings = settings.model_copy(
        update={"dispatcher_poll_seconds": 0.05, "notification_timeout_seconds": 5.0}
    )
    app = create_app(settings, db=db, run_worker=True, migrate=False)
    async with Receiver(default=Reply.slow(1.0)) as shop:
        async with app.router.lifespan_context(app):
            async with await client_for(app) as client:
                created = await client.post(
                    "/v3/billing/api/order/order",
                    content=body(order_payload(merchant_order_id="S-1", notificationUrl=shop.url)),
                    headers=DEMO_AUTH,
                )
            order = read(created)["data"]
            async with db.transaction() as conn:
                await payments_service.pay_container(
                    conn,
                    container_id=order["orderContainerId"],
                    method="card",
                    card_last4="4242",
                )
            await shop.wait_for_requests(1)
        # The lifespan has ended (the server stopped) with the shop's answer still on its way.
    async with db.transaction() as conn:
        status = (
            await conn.execute(
                text("SELECT status FROM notifications WHERE order_id = :id"), {"id": order["id"]}
            )
        ).scalar_one()
    assert status == "delivered"


# --- the worker's passes --------------------------------------------------------------------


async def test_the_worker_counts_the_card_attempts_it_recovers(
    database_url: str, db: Database
) -> None:
    """A card approved by the bank whose answer was never recorded (a crash): the worker's
    recovery pass pays the invoice, and the scrape shows it did."""
    from prometheus_client import REGISTRY

    from marketbox.notifications import worker
    from tests.integration.test_payment_gateway import CHECKING, step_2
    from tests.integration.test_payment_page import CARD_OK, container_row, create

    def recovered() -> float:
        return sum(
            sample.value
            for family in REGISTRY.collect()
            if family.name == "marketbox_card_attempts_recovered"
            for sample in family.samples
            if sample.name.endswith("_total")
        )

    settings = make_settings(
        database_url,
        payment_gateway=CHECKING,
        payment_gateway_timeout_seconds=0.05,
        payment_recovery_after_seconds=0.1,
        dispatcher_poll_seconds=0.05,
        expiry_sweep_seconds=0.05,
    )
    app = create_app(settings, db=db, migrate=False)
    async with await client_for(app) as client:
        client.headers.update(DEMO_AUTH)
        order = await create(client)
    await step_2(db, settings, app.state.ctx.gateway, order, CARD_OK)
    before = recovered()

    stop = asyncio.Event()
    running = asyncio.create_task(worker.run_worker(settings, db, stop))
    try:
        for _ in range(200):
            if (await container_row(db, order["orderContainerId"]))["status"] == "paid":
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
    assert (await container_row(db, order["orderContainerId"]))["status"] == "paid"
    assert recovered() - before >= 1


def test_production_serves_metrics_only_with_a_token() -> None:
    unused = "sqlite+aiosqlite:///unused.db"  # never opened
    with pytest.raises(ValueError, match="MARKETBOX_METRICS_TOKEN is required"):
        make_settings(unused, mode="production", session_secret="s" * 32, metrics_enabled=True)
    settings = make_settings(
        unused,
        mode="production",
        session_secret="s" * 32,
        metrics_enabled=True,
        metrics_token=TOKEN,
    )
    assert settings.metrics_enabled
