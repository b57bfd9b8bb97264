"""A test double of the external bank, registered by configuration:
`MARKETBOX_PAYMENT_GATEWAY=tests.support.gateway:checking`.

`CheckingGateway` is the sandbox gateway (same test cards, same books in the database) that,
every time it is called, first proves that the caller holds no database transaction:

* no connection of the app's pool is checked out (`pool.checkedout() == 0`), and
* the database itself is free: on SQLite another connection takes the write lock at once
  (`BEGIN IMMEDIATE` with no busy wait); on PostgreSQL no session of the database is inside a
  transaction (`pg_stat_activity`).

Each call is kept in `calls` with what it saw. Hooks let a test act as the rest of the world
while the bank works (`during_authorize`: pay the invoice elsewhere, join an add-on, block),
make the answer get lost (`lose_answers`: the bank acts, the caller times out) or make the bank
unreachable for some operations (`unreachable`).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg

from marketbox.config import Settings
from marketbox.payments import gateway as gw
from marketbox.payments.sandbox_gateway import SandboxGateway
from marketbox.storage.db import Database


@dataclass(frozen=True)
class Call:
    method: str
    connections_checked_out: int
    database_free: bool


@dataclass
class CheckingGateway(SandboxGateway):
    db: Database
    name: str = "checking"
    calls: list[Call] = field(default_factory=list)
    during_authorize: Callable[[gw.AuthorizeRequest], Awaitable[None]] | None = None
    lose_answers: set[str] = field(default_factory=set)
    unreachable: set[str] = field(default_factory=set)

    async def _check(self, method: str) -> None:
        self.calls.append(
            Call(method, self.db.engine.pool.checkedout(), await database_is_free(self.db))
        )
        if method in self.unreachable:
            raise gw.GatewayUnavailable(f"{method}: connection refused")

    async def _answer(self, method: str, result: Any) -> Any:
        if method in self.lose_answers:
            await asyncio.sleep(3600)  # the bank acted; its answer never arrives
        return result

    async def authorize(self, request: gw.AuthorizeRequest) -> gw.Authorization:
        await self._check("authorize")
        if self.during_authorize is not None:
            await self.during_authorize(request)
        return await self._answer("authorize", await super().authorize(request))

    async def find(self, idempotency_key: str) -> gw.Authorization | None:
        await self._check("find")
        return await super().find(idempotency_key)

    async def get(self, reference: str) -> gw.Authorization | None:
        await self._check("get")
        return await super().get(reference)

    async def capture(
        self, reference: str, amount: Decimal, *, key: str | None = None
    ) -> gw.Operation:
        await self._check("capture")
        return await self._answer("capture", await super().capture(reference, amount, key=key))

    async def void(self, reference: str) -> gw.Operation:
        await self._check("void")
        return await self._answer("void", await super().void(reference))

    async def refund(
        self, reference: str, amount: Decimal, *, key: str | None = None
    ) -> gw.Operation:
        await self._check("refund")
        return await self._answer("refund", await super().refund(reference, amount, key=key))


def checking(settings: Settings, db: Database) -> CheckingGateway:
    """The factory MARKETBOX_PAYMENT_GATEWAY names."""
    return CheckingGateway(db)


async def database_is_free(db: Database) -> bool:
    """No transaction is open on the database right now (by anyone)."""
    url = db.engine.url
    if url.get_backend_name() == "sqlite":
        probe = sqlite3.connect(url.database or "", timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # database is locked: a writer holds it
            return False
        else:
            probe.execute("ROLLBACK")
            return True
        finally:
            probe.close()
    conn = await asyncpg.connect(
        user=url.username,
        password=url.password,
        host=url.host,
        port=url.port,
        database=url.database,
    )
    try:
        busy = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
        )
    finally:
        await conn.close()
    return busy == 0
