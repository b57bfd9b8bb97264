"""Throttling card attempts on the payment page (docs/payment-page.md, same title).

Card testing sends many cards at one invoice, or at many invoices from one client; each attempt
is a question to the bank. An attempt is refused before it reaches the bank when, within its
window, the invoice (order container) or the client IP already had as many declines as allowed
(Settings `pay_declines_per_container` per `pay_container_window_seconds`, default 5 per 15 min;
`pay_declines_per_client` per `pay_client_window_seconds`, default 20 per hour; 0 = no limit).

    attempt --limits reached--> Throttled (recorded, the bank is not asked)
    attempt --another one is with the bank--> Busy (nothing recorded: wait, then ask again)
    attempt --admitted--> the caller records it `authorizing` and asks the gateway
                          (payments/attempts.py); declines count against both limits

Every attempt is a row of `payment_attempts`, so the counts are shared by every API process of
the database. The gateway is asked outside any transaction, so the decision cannot hold a lock
until the answer: instead an attempt that is still with the gateway counts as if it were a
decline, and the caller waits for it (`Busy`). One invoice has at most one attempt with the
gateway at a time; a client may have as many as its remaining declines allow. Attempts left
unfinished longer than `payment_recovery_after_seconds` (a crash) no longer count as in flight:
the worker resolves them (attempts.recover).

On PostgreSQL the decision is serialized by the invoice's container row lock (taken first, as on
every path that changes an invoice: docs/security.md "Lock order"), then a client's by an
advisory lock; on SQLite every transaction holds the write lock anyway.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.config import Settings
from marketbox.orders import repository as orders_repository
from marketbox.storage.locks import lock_for_transaction
from marketbox.storage.tables import payment_attempts

APPROVED = "approved"
DECLINED = "declined"
THROTTLED = "throttled"
PENDING = "pending"  # with the gateway: no answer recorded yet
NONE = "none"  # abandoned: the gateway never saw it

# Intent statuses that are with the gateway or about to pay: a second attempt of the same
# invoice waits for them (the first may pay it).
IN_FLIGHT = ("authorizing", "authorized")


@dataclass(frozen=True)
class Throttled:
    """The attempt was refused without asking the bank; retry after this many seconds."""

    retry_after: int


@dataclass(frozen=True)
class Busy:
    """Another attempt of this invoice (or enough of this client's to reach its limit) is with
    the gateway: nothing was recorded; ask again once it has finished."""


async def admit(
    conn: AsyncConnection,
    settings: Settings,
    *,
    container_id: str,
    client: str,
    amount_minor: int,
    currency: str,
    now: datetime,
) -> Throttled | Busy | None:
    """May this attempt go to the gateway? None: yes (the caller records it in this
    transaction). Takes the container's row lock, then the client's lock."""
    client = client[:64]
    await orders_repository.lock_container(conn, container_id)
    await lock_for_transaction(conn, f"pay-throttle:client:{client}")
    container_scope = payment_attempts.c.container_id == container_id
    client_scope = payment_attempts.c.client == client
    fresh = now - timedelta(seconds=settings.payment_recovery_after_seconds)
    # The client's attempts on other invoices are answered under their own containers' locks,
    # not ours: one may move from in flight to declined between two statements. Counting the
    # in-flight ones first can count it twice (we wait and look again), never not at all.
    client_in_flight = await _in_flight(conn, client_scope, ("authorizing",), fresh)
    _, container_wait = await _declines(
        conn,
        container_scope,
        limit=settings.pay_declines_per_container,
        window=settings.pay_container_window_seconds,
        now=now,
    )
    client_declines, client_wait = await _declines(
        conn,
        client_scope,
        limit=settings.pay_declines_per_client,
        window=settings.pay_client_window_seconds,
        now=now,
    )
    retry_after = max(container_wait, client_wait)
    if retry_after > 0:
        await conn.execute(
            insert(payment_attempts).values(
                container_id=container_id,
                client=client,
                outcome=THROTTLED,
                status=THROTTLED,
                amount_minor=amount_minor,
                currency=currency,
                created_at=now,
                updated_at=now,
            )
        )
        return Throttled(retry_after)
    if await _in_flight(conn, container_scope, IN_FLIGHT, fresh):
        return Busy()
    limit = settings.pay_declines_per_client
    if limit > 0 and client_declines + client_in_flight >= limit:
        return Busy()
    return None


async def _declines(
    conn: AsyncConnection, scope: object, *, limit: int, window: int, now: datetime
) -> tuple[int, int]:
    """(declines counted, up to `limit`; seconds until one of them ages out, 0 if below)."""
    if limit <= 0:
        return 0, 0
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
        return count, 0
    # The limit-th most recent decline must age out before another attempt is allowed.
    return count, max(1, math.ceil((oldest + timedelta(seconds=window) - now).total_seconds()))


async def _in_flight(
    conn: AsyncConnection, scope: object, statuses: tuple[str, ...], fresh: datetime
) -> int:
    query = select(func.count()).where(
        scope,  # type: ignore[arg-type]
        payment_attempts.c.status.in_(statuses),
        payment_attempts.c.updated_at > fresh,
    )
    return int((await conn.execute(query)).scalar_one())
