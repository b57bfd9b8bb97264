"""Throttling card attempts on the payment page (docs/payment-page.md, same title).

Card testing sends many cards at one invoice, or at many invoices from one client; each attempt
is a question to the bank. An attempt is refused before it reaches the bank when, within its
window, the invoice (order container) or the client IP already had as many declines as allowed
(Settings `pay_declines_per_container` per `pay_container_window_seconds`, default 5 per 15 min;
`pay_declines_per_client` per `pay_client_window_seconds`, default 20 per hour; 0 = no limit).

    attempt --limits reached--> throttled (recorded, the bank is not asked)
    attempt --bank--> approved | declined (recorded; declines count against both limits)

Every attempt is a row of `payment_attempts`, written in the payment's own transaction, so the
counts are shared by every API process of the database. On PostgreSQL attempts on one invoice
are serialized by its container row lock (taken first, as on every path that changes an
invoice: docs/security.md "Lock order"), then a client's attempts by an advisory lock, so
concurrent attempts cannot all slip under a limit; on SQLite every transaction holds the write
lock anyway.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock
from marketbox.config import Settings
from marketbox.orders import repository as orders_repository
from marketbox.payments import sandbox
from marketbox.storage.locks import lock_for_transaction
from marketbox.storage.tables import payment_attempts

APPROVED = "approved"
DECLINED = "declined"
THROTTLED = "throttled"


@dataclass(frozen=True)
class Throttled:
    """The attempt was refused without asking the bank; retry after this many seconds."""

    retry_after: int


async def authorize(
    conn: AsyncConnection,
    settings: Settings,
    card: sandbox.Card,
    *,
    container_id: str,
    client: str,
) -> sandbox.CardOutcome | Throttled:
    """Ask the bank about `card` unless a limit is reached; record the attempt either way."""
    client = client[:64]
    await orders_repository.lock_container(conn, container_id)
    await lock_for_transaction(conn, f"pay-throttle:client:{client}")
    now = clock.now()
    waits = [
        await _wait(
            conn,
            payment_attempts.c.container_id == container_id,
            limit=settings.pay_declines_per_container,
            window=settings.pay_container_window_seconds,
            now=now,
        ),
        await _wait(
            conn,
            payment_attempts.c.client == client,
            limit=settings.pay_declines_per_client,
            window=settings.pay_client_window_seconds,
            now=now,
        ),
    ]
    retry_after = max(waits)
    if retry_after > 0:
        await _record(conn, container_id, client, THROTTLED, None, now)
        return Throttled(retry_after)
    outcome = sandbox.authorize(card, sandbox=settings.mode == "sandbox")
    if outcome.approved:
        await _record(conn, container_id, client, APPROVED, None, now)
    else:
        await _record(conn, container_id, client, DECLINED, outcome.failure_code, now)
    return outcome


async def _wait(
    conn: AsyncConnection, scope: object, *, limit: int, window: int, now: datetime
) -> int:
    """Seconds until one of the declines in the window ages out, or 0 if below `limit`."""
    if limit <= 0:
        return 0
    since = now - timedelta(seconds=window)
    declines = (
        select(payment_attempts.c.created_at)
        .where(
            scope,  # type: ignore[arg-type]
            payment_attempts.c.outcome == DECLINED,
            payment_attempts.c.created_at > since,
        )
        .order_by(payment_attempts.c.created_at.desc())
        .limit(limit)
        .subquery()
    )
    row = (
        await conn.execute(
            select(func.count(), func.min(declines.c.created_at)).select_from(declines)
        )
    ).one()
    count, oldest = row
    if count < limit or oldest is None:
        return 0
    # The limit-th most recent decline must age out before another attempt is allowed.
    return max(1, math.ceil((oldest + timedelta(seconds=window) - now).total_seconds()))


async def _record(
    conn: AsyncConnection,
    container_id: str,
    client: str,
    outcome: str,
    failure_code: str | None,
    now: datetime,
) -> None:
    await conn.execute(
        insert(payment_attempts).values(
            container_id=container_id,
            client=client,
            outcome=outcome,
            failure_code=failure_code,
            created_at=now,
        )
    )
