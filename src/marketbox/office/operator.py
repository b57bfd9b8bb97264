"""What the operator's pages of the office read (docs/office.md "Operator"): every merchant with
its order count, every payment instrument, and the state of the notification outbox. Read-only;
the platform's staff only (the views check the role).

Secrets never leave this module: no token hash and no signing key is selected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock
from marketbox.storage.tables import instruments, merchants, notifications, orders

# A page of the operator's lists shows at most this many rows (newest first).
LIST_LIMIT = 200


@dataclass(frozen=True)
class MerchantSummary:
    id: str
    name: str
    orders: int
    notification_url: str | None
    sign_algorithm: str
    created_at: datetime


@dataclass(frozen=True)
class InstrumentSummary:
    id: str
    name: str
    sign_algorithm: str
    created_at: datetime


@dataclass(frozen=True)
class OutboxState:
    pending: int  # notifications not yet delivered, rejected or abandoned
    due: int  # of those, due now
    oldest: dict[str, Any] | None  # the pending one created first: id, event, merchant, …


async def list_merchants(conn: AsyncConnection) -> tuple[list[MerchantSummary], int]:
    """The newest LIST_LIMIT merchants with their order counts (refunds included), and how
    many merchants there are."""
    counts = (
        select(orders.c.merchant_id, func.count().label("n"))
        .group_by(orders.c.merchant_id)
        .subquery()
    )
    rows = await conn.execute(
        select(
            merchants.c.id,
            merchants.c.name,
            merchants.c.notification_url,
            merchants.c.sign_algorithm,
            merchants.c.created_at,
            func.coalesce(counts.c.n, 0).label("orders"),
        )
        .select_from(merchants.outerjoin(counts, counts.c.merchant_id == merchants.c.id))
        .order_by(merchants.c.created_at.desc(), merchants.c.id)
        .limit(LIST_LIMIT)
    )
    total = (await conn.execute(select(func.count()).select_from(merchants))).scalar_one()
    found = [
        MerchantSummary(
            id=r.id,
            name=r.name,
            orders=int(r.orders),
            notification_url=r.notification_url,
            sign_algorithm=r.sign_algorithm,
            created_at=r.created_at,
        )
        for r in rows
    ]
    return found, int(total)


async def list_instruments(conn: AsyncConnection) -> list[InstrumentSummary]:
    rows = await conn.execute(
        select(
            instruments.c.id,
            instruments.c.name,
            instruments.c.sign_algorithm,
            instruments.c.created_at,
        )
        .order_by(instruments.c.created_at.desc(), instruments.c.id)
        .limit(LIST_LIMIT)
    )
    return [
        InstrumentSummary(
            id=r.id, name=r.name, sign_algorithm=r.sign_algorithm, created_at=r.created_at
        )
        for r in rows
    ]


async def outbox_state(conn: AsyncConnection) -> OutboxState:
    """How many notifications wait, how many are due, and the oldest waiting one."""
    n = notifications
    waiting = n.c.status == "pending"
    pending = (await conn.execute(select(func.count()).where(waiting))).scalar_one()
    due = (
        await conn.execute(select(func.count()).where(waiting, n.c.next_attempt_at <= clock.now()))
    ).scalar_one()
    oldest = (
        await conn.execute(
            select(
                n.c.id,
                n.c.merchant_id,
                n.c.event,
                n.c.attempts,
                n.c.created_at,
                n.c.next_attempt_at,
            )
            .where(waiting)
            .order_by(n.c.created_at, n.c.id)
            .limit(1)
        )
    ).first()
    return OutboxState(
        pending=int(pending),
        due=int(due),
        oldest=dict(oldest._mapping) if oldest is not None else None,
    )
