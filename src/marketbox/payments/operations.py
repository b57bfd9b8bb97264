"""Money moved after the payment: captures, releases and refunds through the gateway.

A change that moves money - a shipment of a held order, the last held order of an invoice
settled, a refund's payout - records the gateway call it needs as a row of
`gateway_operations`, in its own transaction, under the container's row lock (the first
lock, docs/security.md). The worker's pass (`run_due`) then does what payments/attempts.py
does for card attempts, one operation at a time:

    1 record   caller's tx   pending: kind, gateway, reference, key, amount
    2 ask      no tx         gateway.capture(reference, amount, key) | void(reference)
                             | refund(reference, amount, key)
    3 record   own tx        pending -> succeeded (+ the source's effect: a refund completes)
                                     | failed (the gateway refused; nothing moved)

Every gateway call is idempotent by (reference, kind, key), and step 3 is a conditional
UPDATE taken under the container's lock: a crash between any two steps, a lost answer or two
workers on the same operation end with the money moved once and the effect applied once. A
gateway that does not answer is asked again later, with backoff. A release (void) waits until
the captures recorded before it are answered: it releases what they left.

Only payments a gateway took have operations: a payment confirmed by a payment instrument
(a bank transfer, a guarantee) is settled outside the platform.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, money
from marketbox.config import Settings
from marketbox.orders import repository as orders_repository
from marketbox.payments import gateway as gw
from marketbox.payments.sandbox import METHOD_CARD_HOLD
from marketbox.storage.db import Database
from marketbox.storage.query import mapping_of
from marketbox.storage.tables import gateway_operations as ops
from marketbox.storage.tables import payments

log = logging.getLogger("marketbox.payments")

PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"

# What called for an operation (`source`).
SHIPMENT = "shipment"
RELEASE = "release"
REFUND = "refund"

# A gateway that does not answer is asked again after 30 s, doubling up to an hour.
FIRST_RETRY = timedelta(seconds=30)
LAST_RETRY = timedelta(hours=1)


@dataclass(frozen=True)
class Operation:
    id: int
    container_id: str
    payment_id: str
    kind: str
    source: str
    source_id: str
    op_key: str
    gateway: str
    reference: str
    amount: Decimal | None
    currency: str
    status: str
    failure_code: str | None
    released: Decimal | None
    tries: int

    @classmethod
    def from_row(cls, row: Any) -> Operation:
        m = mapping_of(row)
        currency = m["currency"]

        def amount(minor: int | None) -> Decimal | None:
            return money.from_minor(minor, currency) if minor is not None else None

        return cls(
            id=int(m["id"]),
            container_id=m["container_id"],
            payment_id=m["payment_id"],
            kind=m["kind"],
            source=m["source"],
            source_id=m["source_id"],
            op_key=m["op_key"],
            gateway=m["gateway"],
            reference=m["reference"],
            amount=amount(m["amount_minor"]),
            currency=currency,
            status=m["status"],
            failure_code=m["failure_code"],
            released=amount(m["result_minor"]),
            tries=int(m["tries"]),
        )


# An effect applied in step 3's transaction when an operation succeeded, by its source.
Effect = Callable[[AsyncConnection, Operation], Awaitable[None]]


# --- step 1: in the caller's transaction (the container's row locked) --------------------------


_PAYMENT = select(payments).where(payments.c.id == bindparam("pid"))


async def payment_of(conn: AsyncConnection, payment_id: str | None) -> Any:
    """The succeeded payment row, or None."""
    if payment_id is None:
        return None
    row = (await conn.execute(_PAYMENT, {"pid": payment_id})).first()
    return row._mapping if row is not None else None


def through_gateway(payment: Any) -> bool:
    """A payment a gateway took, so money moves back through it."""
    return payment is not None and bool(payment["gateway"]) and bool(payment["gateway_reference"])


def is_held(payment: Any) -> bool:
    """A pre-authorisation taken by a gateway: captured by shipments, released by a void."""
    return through_gateway(payment) and payment["method"] == METHOD_CARD_HOLD


_RECORDED = select(ops.c.id).where(
    ops.c.payment_id == bindparam("pid"),
    ops.c.kind == bindparam("b_kind"),
    ops.c.op_key == bindparam("b_op_key"),
)
_INSERT_OPERATION = insert(ops)


async def record(
    conn: AsyncConnection,
    *,
    payment: Any,
    kind: str,
    source: str,
    source_id: str,
    op_key: str,
    amount_minor: int | None,
) -> bool:
    """Record an operation on `payment` (step 1). False when it was recorded before."""
    params = {"pid": payment["id"], "b_kind": kind, "b_op_key": op_key}
    if (await conn.execute(_RECORDED, params)).first() is not None:
        return False
    now = clock.now()
    await conn.execute(
        _INSERT_OPERATION,
        {
            "container_id": payment["container_id"],
            "payment_id": payment["id"],
            "kind": kind,
            "source": source,
            "source_id": source_id,
            "op_key": op_key,
            "gateway": payment["gateway"],
            "reference": payment["gateway_reference"],
            "amount_minor": amount_minor,
            "currency": payment["currency"],
            "status": PENDING,
            "tries": 0,
            "next_try_at": now,
            "created_at": now,
            "updated_at": now,
        },
    )
    return True


async def of_source(conn: AsyncConnection, source: str, source_id: str) -> list[Operation]:
    query = select(ops).where(ops.c.source == source, ops.c.source_id == source_id)
    return [Operation.from_row(r) for r in (await conn.execute(query.order_by(ops.c.id))).all()]


_CAPTURED = select(func.coalesce(func.sum(ops.c.amount_minor), 0)).where(
    ops.c.payment_id == bindparam("pid"), ops.c.kind == gw.CAPTURE, ops.c.status != FAILED
)


async def captured_minor(conn: AsyncConnection, payment_id: str) -> int:
    """What the payment's captures (recorded, answered or not) take of a hold."""
    return int((await conn.execute(_CAPTURED, {"pid": payment_id})).scalar_one())


# --- steps 2-3: the worker's pass ------------------------------------------------------------


@dataclass(frozen=True)
class Pass:
    """What one pass did: operations by the status they ended in (`pending`: asked again
    later - no answer, or a release waiting for its captures)."""

    by_status: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


async def run_due(
    db: Database,
    gateway: gw.PaymentGateway,
    settings: Settings,
    *,
    effects: Mapping[str, Effect],
    limit: int = 100,
) -> Pass:
    """Ask the gateway for this gateway's due operations and record the answers. Safe beside
    live requests and other workers (see the module docstring)."""
    now = clock.now()
    async with db.transaction() as conn:
        rows = (
            await conn.execute(
                select(ops)
                .where(
                    ops.c.status == PENDING,
                    ops.c.gateway == gateway.name,
                    ops.c.next_try_at <= now,
                )
                .order_by(ops.c.id)
                .limit(limit)
            )
        ).all()
    counts: dict[str, int] = {}
    for row in rows:
        operation = Operation.from_row(row)
        try:
            status = await _run_one(db, gateway, settings, operation, effects)
        except Exception:  # one broken operation must not stop the others; retried next pass
            log.exception("gateway operation %s failed", operation.id)
            continue
        counts[status] = counts.get(status, 0) + 1
    return Pass(counts)


async def _run_one(
    db: Database,
    gateway: gw.PaymentGateway,
    settings: Settings,
    operation: Operation,
    effects: Mapping[str, Effect],
) -> str:
    if operation.kind == gw.VOID and await _waits_for_captures(db, operation):
        return PENDING
    try:
        answer = await gw.bounded(
            _ask(gateway, operation), settings.payment_gateway_timeout_seconds
        )
    except gw.GatewayUnavailable:
        log.warning("gateway %s did not answer operation %s", gateway.name, operation.id)
        await _retry_later(db, operation)
        return PENDING
    succeeded = answer.succeeded or (
        # A hold already captured in full has nothing left to release.
        operation.kind == gw.VOID and answer.failure_code == "already_captured"
    )
    async with db.transaction() as conn:
        await orders_repository.lock_container(conn, operation.container_id)
        values: dict[str, Any] = {
            "status": SUCCEEDED if succeeded else FAILED,
            "failure_code": None if succeeded else answer.failure_code,
            "tries": operation.tries + 1,
            "updated_at": clock.now(),
        }
        if operation.kind == gw.VOID and succeeded:
            released = answer.amount if answer.succeeded else Decimal(0)
            if released is not None:
                values["result_minor"] = money.to_minor(released, operation.currency)
        moved = await conn.execute(
            update(ops)
            .where(ops.c.id == operation.id, ops.c.status == PENDING)
            .values(**values)
            .returning(*ops.c)
        )
        row = moved.first()
        if row is None:
            return str(await _status(conn, operation.id))  # another worker recorded it
        done = Operation.from_row(row)
        if not succeeded:
            log.error(
                "gateway %s refused %s of %s (operation %s, %s %s): %s",
                gateway.name,
                operation.kind,
                operation.reference,
                operation.id,
                operation.source,
                operation.source_id,
                answer.failure_code,
            )
            return FAILED
        effect = effects.get(operation.source)
        if effect is not None:
            await effect(conn, done)
        return SUCCEEDED


def _ask(gateway: gw.PaymentGateway, operation: Operation) -> Awaitable[gw.Operation]:
    if operation.kind == gw.CAPTURE:
        assert operation.amount is not None
        return gateway.capture(operation.reference, operation.amount, key=operation.op_key)
    if operation.kind == gw.REFUND:
        assert operation.amount is not None
        return gateway.refund(operation.reference, operation.amount, key=operation.op_key)
    return gateway.void(operation.reference)


async def _waits_for_captures(db: Database, operation: Operation) -> bool:
    async with db.transaction() as conn:
        earlier = await conn.execute(
            select(ops.c.id).where(
                ops.c.payment_id == operation.payment_id,
                ops.c.kind == gw.CAPTURE,
                ops.c.status == PENDING,
                ops.c.id < operation.id,
            )
        )
        return earlier.first() is not None


async def _retry_later(db: Database, operation: Operation) -> None:
    delay = min(FIRST_RETRY * (2**operation.tries), LAST_RETRY)
    now = clock.now()
    async with db.transaction() as conn:
        await conn.execute(
            update(ops)
            .where(ops.c.id == operation.id, ops.c.status == PENDING)
            .values(tries=operation.tries + 1, next_try_at=now + delay, updated_at=now)
        )


async def _status(conn: AsyncConnection, operation_id: int) -> str:
    return str(
        (await conn.execute(select(ops.c.status).where(ops.c.id == operation_id))).scalar_one()
    )
