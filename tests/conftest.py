"""Fixtures shared by every tier: databases (SQLite and PostgreSQL), the app, HTTP clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from marketbox import clock, jsonutil
from marketbox.app import create_app
from marketbox.config import Settings
from marketbox.merchants import service as merchants_service
from marketbox.storage.db import Database
from tests.support.databases import REQUIRE_PG, PostgresTemplate, SQLiteTemplate, postgres_available


@pytest.fixture(autouse=True)
def _sandbox_clock_back_on_real_time() -> Iterator[None]:
    """A test that moved the sandbox clock (docs/sandbox.md) leaves this process's offset behind;
    the next test starts on the real time whatever database it uses."""
    yield
    clock.set_offset(timedelta(0))


DEMO_AUTH = {"Authorization": f"Bearer {merchants_service.DEMO_TOKEN}"}
TEST_PUBLIC_URL = "http://testserver"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SQLiteTemplate:
    template = SQLiteTemplate(tmp_path_factory.mktemp("sqlite"))
    template.build()
    return template


@pytest.fixture(scope="session")
async def pg_template() -> AsyncIterator[PostgresTemplate | None]:
    if not await postgres_available():
        if REQUIRE_PG:
            pytest.fail("PostgreSQL is required (MARKETBOX_REQUIRE_POSTGRES=1) but unreachable")
        yield None
        return
    template = PostgresTemplate()
    await template.build()
    yield template
    await template.teardown()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest,
    sqlite_template: SQLiteTemplate,
    pg_template: PostgresTemplate | None,
) -> AsyncIterator[str]:
    """A fresh, migrated database; every test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_template.new_database()
        return
    if pg_template is None:
        pytest.skip("PostgreSQL is not reachable")
    url = await pg_template.new_database()
    yield url
    await pg_template.drop(url)


@pytest.fixture
def sqlite_url(sqlite_template: SQLiteTemplate) -> str:
    return sqlite_template.new_database()


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "public_url": TEST_PUBLIC_URL,
        "mode": "sandbox",
        "rate_limit_enabled": False,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.database_url)
    async with database.transaction() as conn:
        await merchants_service.seed_demo_merchant(conn)
    yield database
    await database.dispose()


@pytest.fixture
def app(settings: Settings, db: Database) -> Any:
    return create_app(settings, db=db, migrate=False)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=TEST_PUBLIC_URL) as http:
        yield http


@pytest.fixture
async def api(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The HTTP client authenticated as the demo shop."""
    client.headers.update(DEMO_AUTH)
    return client


def body(payload: Any) -> bytes:
    """Request JSON with exact Decimals (httpx's json= would go through float)."""
    return jsonutil.dumps(payload)


def read(response: httpx.Response) -> Any:
    return jsonutil.loads(response.content)


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Path:
    return tmp_path


def pytest_sessionstart(session: pytest.Session) -> None:
    """In CI (MARKETBOX_REQUIRE_BROWSER=1) a missing Chromium fails the run, never skips it."""
    import os

    if os.environ.get("MARKETBOX_REQUIRE_BROWSER") == "1":
        chromium = os.environ.get("MARKETBOX_CHROMIUM", "/usr/bin/chromium")
        if not os.access(chromium, os.X_OK):
            raise pytest.UsageError(
                f"browser tests are required but {chromium} is missing: apt-get install chromium"
            )
