"""Shipping control («Контроль отгрузки на платёжной странице», spec notifications.md §7).

A merchant with `merchants.shipping_control` on wants to reserve stock or book a seat before
the buyer leaves the payment page. For an invoice holding an order of such a merchant:

1. the card payment is a pre-authorisation (`controlled` before paying: the payment page asks
   the gateway with `capture=False`; the orders become `hold`, captured later by shipments);
2. right after the payment commits, `start` delivers the notification of each controlled order
   at once, through the dispatcher's own code (`Dispatcher.deliver_now`): the outbox row is
   claimed with the same lease as any dispatcher's claim, so it is sent once, by whoever claims
   it first, and a process that dies mid-request leaves the claim to lapse (the worker's
   dispatcher sends it afterwards). The request's timeout is the merchant's limit;
3. any API process answers the page's question from the database alone (`confirmation`): the
   notification's status, the order's `processing_status` and the limit since `paid_at`.

No transaction is open while a shop is asked or while a page waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.config import Settings
from marketbox.notifications.dispatcher import Dispatcher, default_name
from marketbox.storage.db import Database
from marketbox.storage.tables import merchants, notifications, order_containers, orders

log = logging.getLogger("marketbox.shipping_control")

# What the payment page shows (`Confirmation.state`).
WAITING = "waiting"  # the loader: no answer yet, the limit not reached
CONFIRMED = "confirmed"  # every controlled order's shop answered `success`
UNAVAILABLE = "unavailable"  # a shop answered `shipping_unavailable`
PENDING = "pending"  # no answer in time, a failed delivery or another refusal
# The page waits this much past the limit, so the delivery's own timeout (the same limit,
# counted from a moment after `paid_at`) is recorded before the page gives up.
GRACE_SECONDS = 2.0
# The notification the payment sends (orders.notices, event "paid").
PAID_EVENT = "paid"
UNAVAILABLE_CODE = "shipping_unavailable"


@dataclass(frozen=True)
class Control:
    """The orders of an invoice under shipping control and how long the page waits."""

    order_ids: tuple[str, ...]
    timeout_seconds: int


@dataclass(frozen=True)
class Confirmation:
    """Where an invoice's shipping control stands."""

    state: str
    deadline: datetime
    # The controlled orders whose shops cannot serve them (state UNAVAILABLE).
    unavailable: tuple[str, ...] = ()


async def controlled(
    conn: AsyncConnection, container_id: str, *, paid: bool = False
) -> Control | None:
    """The invoice's orders whose merchant has shipping control on: the payable ones
    (`created`) before the payment, the ones the payment paid (`paid=True`) after it. None when
    there is none: the payment is captured and nothing waits.

    Decision for invoices with several merchants: one card authorisation pays the whole
    invoice, so one controlled order makes the whole payment a hold (every order `hold`,
    each captured by its own shipments); the page waits for the controlled orders only, for
    the longest of their merchants' limits."""
    o = orders
    condition = o.c.paid_at.is_not(None) if paid else o.c.status == "created"
    rows = (
        await conn.execute(
            select(o.c.id, merchants.c.shipping_control_timeout_seconds)
            .join(merchants, merchants.c.id == o.c.merchant_id)
            .where(
                o.c.container_id == container_id,
                o.c.subtype == "order",
                merchants.c.shipping_control.is_(True),
                condition,
            )
            .order_by(o.c.id)
        )
    ).all()
    if not rows:
        return None
    return Control(
        order_ids=tuple(r.id for r in rows),
        timeout_seconds=max(int(r.shipping_control_timeout_seconds) for r in rows),
    )


# --- delivering at once ------------------------------------------------------------------------


_RUNNING: set[asyncio.Task[None]] = set()


def start(db: Database, settings: Settings, container_id: str) -> asyncio.Task[None]:
    """Deliver the controlled orders' notifications now, in the background of this process
    (the page that started it answers at once). The task is kept until it ends; if the process
    stops first, the claims lapse and a dispatcher delivers."""
    task = asyncio.create_task(deliver(db, settings, container_id))
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    return task


def running() -> frozenset[asyncio.Task[None]]:
    """This process's deliveries in flight (`start`)."""
    return frozenset(_RUNNING)


async def deliver(db: Database, settings: Settings, container_id: str) -> None:
    """Claim and send each controlled order's payment notification that is still due and
    unclaimed, with the merchant's limit as the request's timeout, and record the attempt
    (the dispatcher's code: a shop's `shipping_unavailable` marks its order). A row a
    dispatcher claimed first is left to it: one attempt either way."""
    async with db.read() as conn:
        control = await controlled(conn, container_id, paid=True)
        if control is None:
            return
        ids = await _notification_ids(conn, control.order_ids)
    if not ids:
        return
    limited = settings.model_copy(
        update={
            "notification_timeout_seconds": min(
                float(control.timeout_seconds), settings.notification_timeout_seconds
            )
        }
    )
    try:
        async with Dispatcher(limited, db, name=f"page:{default_name()}") as dispatcher:
            await asyncio.gather(*(dispatcher.deliver_now(i, due_only=True) for i in ids))
    except Exception:  # the dispatcher delivers it after the lease; the page shows "pending"
        log.exception("shipping control delivery of invoice %s failed", container_id)


async def _notification_ids(conn: AsyncConnection, order_ids: Sequence[str]) -> list[str]:
    n = notifications
    rows = await conn.execute(
        select(n.c.id).where(
            n.c.order_id.in_(list(order_ids)),
            n.c.event == PAID_EVENT,
            n.c.status == "pending",
            n.c.attempts == 0,
        )
    )
    return [r.id for r in rows]


# --- what the page shows -------------------------------------------------------------------------


async def confirmation(
    conn: AsyncConnection, container_id: str, *, now: datetime
) -> Confirmation | None:
    """The state of the invoice's shipping control, from the database alone (any process
    answers the same). None: nothing is under control (not paid, or no controlled order)."""
    paid_at = (
        await conn.execute(
            select(order_containers.c.paid_at).where(
                order_containers.c.id == container_id, order_containers.c.status == "paid"
            )
        )
    ).scalar_one_or_none()
    if paid_at is None:
        return None
    control = await controlled(conn, container_id, paid=True)
    if control is None:
        return None
    deadline = paid_at + timedelta(seconds=control.timeout_seconds + GRACE_SECONDS)
    o, n = orders, notifications
    rows = (
        await conn.execute(
            select(
                o.c.id,
                o.c.processing_status,
                n.c.status.label("notification_status"),
                n.c.attempts,
                n.c.last_error,
            )
            .select_from(o)
            .outerjoin(n, and_(n.c.order_id == o.c.id, n.c.event == PAID_EVENT))
            .where(o.c.id.in_(control.order_ids))
            .order_by(o.c.id, n.c.created_at)
        )
    ).all()
    states: dict[str, str] = {}
    for row in rows:  # the newest notification of an order last (a resend follows its first)
        states[row.id] = _order_state(
            row.processing_status, row.notification_status, row.attempts, row.last_error
        )
    unavailable = tuple(i for i, s in states.items() if s == UNAVAILABLE)
    if unavailable:
        return Confirmation(UNAVAILABLE, deadline, unavailable)
    if states and all(s == CONFIRMED for s in states.values()):
        return Confirmation(CONFIRMED, deadline)
    if any(s == WAITING for s in states.values()) and now < deadline:
        return Confirmation(WAITING, deadline)
    return Confirmation(PENDING, deadline)


def _order_state(
    processing_status: str, status: str | None, attempts: int | None, last_error: str | None
) -> str:
    if processing_status == UNAVAILABLE_CODE or last_error == f"rejected: {UNAVAILABLE_CODE}":
        return UNAVAILABLE
    if status == "delivered":
        return CONFIRMED
    if status == "pending" and not attempts:
        return WAITING  # not answered yet (maybe being sent right now)
    # A failed attempt (retried as notifications.md §6), another refusal, no URL, no record.
    return PENDING
