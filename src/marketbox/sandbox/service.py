"""Triggers and the reset (docs/sandbox.md). Callers check the mode first (production never
gets here).

A trigger does what a buyer or the deadline would, through the same services:

    pay      a card attempt with the test card 4242 4242 4242 4242 (payments/attempts.py):
             the invoice is paid and captured, receipts, notifications and letters follow
    hold     the same with 4000 0000 0000 0309: a pre-authorisation (orders `hold`)
    decline  the same with 4000 0000 0000 0002: a declined payment is recorded, nothing else
    expire   the order's deadline is set to now and the expiry sweep is run for its invoice
             (orders.service.expire_due): the main order expires the whole invoice

pay, hold and decline act on the order's whole invoice (its container), as the payment page
does; the card attempt counts towards the payment page's throttle like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, ids, money
from marketbox.config import Settings
from marketbox.errors import RateLimited
from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import Merchant
from marketbox.orders import repository as orders_repository
from marketbox.orders import service as orders_service
from marketbox.orders.errors import OrderNotFound
from marketbox.payments import attempts, sandbox, throttle
from marketbox.payments import gateway as gw
from marketbox.payments import repository as payments_repository
from marketbox.sandbox import clock as sandbox_clock
from marketbox.sandbox import repository
from marketbox.sandbox.errors import TriggerRefused
from marketbox.security import signing
from marketbox.storage.db import Database
from marketbox.storage.locks import lock_for_transaction

PAY, HOLD, DECLINE, EXPIRE = "pay", "hold", "decline", "expire"
ACTIONS = (PAY, DECLINE, HOLD, EXPIRE)
# The sandbox gateway's test cards (payments/sandbox.py) each card trigger pays with.
CARDS = {PAY: "4242424242424242", HOLD: "4000000000000309", DECLINE: "4000000000000002"}
TRIGGER_CLIENT = "sandbox-trigger"


@dataclass(frozen=True)
class TriggerResult:
    action: str
    # paid | held | declined | expired | pending (the gateway did not answer in time: the
    # worker's recovery finishes the attempt)
    outcome: str
    order_id: str
    merchant_id: str
    payment_id: str | None = None
    failure_code: str | None = None


async def trigger(
    db: Database,
    gateway: gw.PaymentGateway,
    settings: Settings,
    *,
    action: str,
    order_id: str,
    merchant: Merchant | None,
) -> TriggerResult:
    """Run one trigger on the order; `merchant` None (the operator's CLI) means any order.

    Raises OrderNotFound (404, also another merchant's order) and TriggerRefused (409)."""
    if action == EXPIRE:
        async with db.transaction() as conn:
            owner = await _owner(conn, merchant, order_id)
            order = await orders_service.get_owned_order(
                conn, merchant=owner, order_id=order_id, lock=True
            )
            return await _expire(conn, owner, order)
    if action not in CARDS:
        raise ValueError(f"unknown trigger {action!r}")
    if gateway.name != "sandbox":
        raise TriggerRefused(
            f"card triggers use the sandbox gateway's test cards; the payment gateway is "
            f"{gateway.name!r} (MARKETBOX_PAYMENT_GATEWAY)"
        )
    card = _test_card(action)
    async with db.transaction() as conn:
        owner = await _owner(conn, merchant, order_id)
        order = await orders_service.get_owned_order(
            conn, merchant=owner, order_id=order_id, lock=True
        )
        m = _payable_order(order)
        container = await payments_repository.get_container(conn, m["container_id"])
        currency = container._mapping["currency"]
        total_minor = (await payments_repository.payable(conn, m["container_id"])).total_minor
        begun = await attempts.begin(
            conn,
            settings,
            gateway=gateway.name,
            container_id=m["container_id"],
            client=TRIGGER_CLIENT,
            amount=money.from_minor(total_minor, currency),
            currency=currency,
            card_last4=card.last4,
        )
    if isinstance(begun, throttle.Throttled):
        raise RateLimited(
            "Too many declined attempts on this invoice; try again later",
            headers={"Retry-After": str(begun.retry_after)},
        )
    if isinstance(begun, throttle.Busy):
        raise TriggerRefused("Another payment of this invoice is in progress; try again")
    ended = await attempts.run(db, gateway, settings, begun, card)
    if ended.status in (attempts.VOIDING, attempts.VOIDED):
        raise TriggerRefused(f"The invoice could not take the payment ({ended.release_reason})")
    outcome = {
        attempts.PAID: "held" if action == HOLD else "paid",
        attempts.DECLINED: "declined",
    }.get(ended.status, "pending")
    return TriggerResult(
        action=action,
        outcome=outcome,
        order_id=str(m["id"]),
        merchant_id=owner.id,
        payment_id=ended.payment_id,
        failure_code=ended.failure_code,
    )


async def _owner(conn: AsyncConnection, merchant: Merchant | None, order_id: str) -> Merchant:
    """The merchant on whose behalf the trigger runs: the caller, or the order's own."""
    if merchant is not None:
        return merchant
    if not ids.is_uuid(order_id):
        raise OrderNotFound()
    row = await orders_repository.get_order(conn, ids.normalize_uuid(order_id), merchant_id=None)
    owner = await merchants_service.get_merchant(conn, row._mapping["merchant_id"]) if row else None
    if owner is None:
        raise OrderNotFound()
    return owner


def _payable_order(order: Any) -> Any:
    m = order._mapping
    if m["subtype"] != "order":
        raise TriggerRefused(f"A {m['subtype']} is not paid by the buyer")
    if m["status"] != "created":
        raise TriggerRefused(
            f"The order is {m['status']}: only a created (unpaid) order can take it"
        )
    if not m["processable"]:
        raise TriggerRefused("The order is settled outside the platform (processable: false)")
    return m


async def _expire(conn: AsyncConnection, owner: Merchant, order: Any) -> TriggerResult:
    m = _payable_order(order)
    now = clock.now()
    await orders_repository.update_order(
        conn, m["id"], {"expiration_date": now}, from_statuses=("created",)
    )
    await orders_service.expire_due(conn, container_id=m["container_id"])
    return TriggerResult(action=EXPIRE, outcome="expired", order_id=m["id"], merchant_id=owner.id)


def _test_card(action: str) -> sandbox.Card:
    year = clock.now().year + 3
    card, errors = sandbox.check_card(CARDS[action], f"12/{year}", "123", now=clock.now())
    assert card is not None, errors
    return card


@dataclass(frozen=True)
class ResetResult:
    deleted: dict[str, int]  # rows per table


async def reset(conn: AsyncConnection) -> ResetResult:
    """Empty every sandbox table (repository.EMPTIED), move the clock back to the real time,
    and bring the demo shop back as a fresh start has it: created if it is missing, its
    documented token, signing key and algorithm restored. Never commits."""
    # The seed's lock first, as a process seeding at its start takes it (bootstrap.py): taken
    # only after the deletes, it could wait on a seeder that waits on those deletes.
    await lock_for_transaction(conn, merchants_service.SEED_LOCK)
    deleted = await repository.empty_sandbox_tables(conn)
    await sandbox_clock.reset(conn)
    created = await merchants_service.seed_demo_merchant(conn)
    if not created:
        await repository.restore_merchant_credentials(
            conn,
            merchants_service.DEMO_MERCHANT_ID,
            token_hash=signing.hash_token(merchants_service.DEMO_TOKEN),
            signing_key=merchants_service.DEMO_SIGNING_KEY,
            algorithm=signing.DEFAULT_ALGORITHM,
        )
    return ResetResult(deleted=deleted)


@dataclass(frozen=True)
class ClockState:
    offset_seconds: int
    expired: int = 0  # orders the move expired at once


async def advance_clock(conn: AsyncConnection, delta: timedelta) -> ClockState:
    """Move the clock forward, then run the expiry sweep at the new time, so orders whose
    deadline the move passed are expired (and their shops notified) now rather than at the
    worker's next sweep. Retries that came due are sent by the dispatcher within a second."""
    offset = await sandbox_clock.advance(conn, delta)
    expired = await orders_service.expire_due(conn)
    return ClockState(int(offset.total_seconds()), expired)
