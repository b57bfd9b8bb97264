"""Queries of the payments domain.

Statements are built once and bound per call: building one per call costs more CPU than
running it (bench/: SQLAlchemy re-derives the cache key of every freshly built statement).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Text,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.orders import repository as orders_repository
from marketbox.storage.driver import DriverRow, DriverStatement
from marketbox.storage.tables import (
    ORDERS_ARE,
    ORDERS_VERSION,
    merchants,
    order_containers,
    orders,
    payment_attempts,
    payments,
)
from marketbox.storage.together import Guard

_GET_CONTAINER = select(order_containers).where(order_containers.c.id == bindparam("cid"))
_CLAIM_CONTAINER = (
    update(order_containers)
    .where(order_containers.c.id == bindparam("cid"), order_containers.c.status == "pending")
    .values(status="paid", paid_at=bindparam("b_now"), payment_id=bindparam("b_payment"))
    .returning(
        order_containers.c.currency,
        order_containers.c.main_order_id,
        order_containers.c.payer,
        order_containers.c.number,
    )
)
_PAYABLE = select(
    func.coalesce(func.sum(orders.c.amount_minor), 0),
    func.min(orders.c.expiration_date),
    func.coalesce(func.sum(case((orders.c.processable.is_(False), 1), else_=0)), 0),
).where(orders.c.container_id == bindparam("cid"), orders.c.status == "created")
# What the rest of the payment needs of each order's merchant rides along with the paid
# orders, read in the paying transaction (so a key rotated and committed by another process
# is seen as it is now): the notice address (mail/service.py), the supplier printed on the
# receipt (receipts/service.py) and the signing key and default URL of the shop's
# notification (notifications/outbox.py). No second query on the payment path.
_PAID_COLUMNS = (
    *orders.c,
    *(
        select(column)
        .where(merchants.c.id == orders.c.merchant_id)
        .scalar_subquery()
        .label(f"merchant_{column.name}")
        for column in (
            merchants.c.notification_email,
            merchants.c.name,
            merchants.c.legal_name,
            merchants.c.vat_number,
            merchants.c.signing_key,
            merchants.c.sign_algorithm,
            merchants.c.notification_url,
        )
    ),
)
# An order past its own deadline is not paid (it expires alone, orders/repository.expire_due);
# the payment then no longer matches the total the payer saw and is refused (AmountChanged).
_PAYING = (
    orders.c.status == "created",
    orders.c.expiration_date > bindparam("b_now"),
)
_PAID_VALUES: dict[str, Any] = {
    "status": bindparam("b_status"),
    "paid_at": bindparam("b_now"),
    "updated_at": bindparam("b_now"),
}
_MARK_PAID = (
    update(orders)
    .where(orders.c.container_id == bindparam("cid"), *_PAYING)
    .values(_PAID_VALUES)
    .returning(*_PAID_COLUMNS)
)
# PostgreSQL: the claim and the orders' move in one statement. The orders' UPDATE joins the
# claim's CTE, so an order row is locked only after the container's row (the lock order of
# docs/security.md), and nothing moves when the claim matched nothing.
# Run on the driver (storage/driver.py): SQLAlchemy's execution and result rows for its ~45
# columns cost more CPU than the statement's round trip.
_CLAIMED = _CLAIM_CONTAINER.returning(order_containers.c.id).cte("claimed")
_CLAIM_AND_MARK_PAID = DriverStatement(
    update(orders)
    .where(orders.c.container_id == _CLAIMED.c.id, *_PAYING)
    .values(_PAID_VALUES)
    .returning(
        *_PAID_COLUMNS,
        _CLAIMED.c.currency.label("claim_currency"),
        _CLAIMED.c.main_order_id.label("claim_main_order_id"),
        _CLAIMED.c.payer.label("claim_payer"),
        _CLAIMED.c.number.label("claim_number"),
    )
)
# Orders of the container that a payment would pay and did not: one that joined while the
# claim waited for the container's lock. The claim's statement reads the orders as they were
# when it began (PostgreSQL, READ COMMITTED), so an order committed while it waited is not
# moved; the payment's next statement (the writes, storage/together.py) reads anew and asks
# this in the same round trip, and the payment is refused (docs/security.md "Lock order").
LEFT_UNPAID = (
    select(orders.c.id).where(orders.c.container_id == bindparam("cid"), *_PAYING).exists()
)

# PostgreSQL, a payment that reads before it writes (service.pay_container_at_once): the
# container (with its row version, `xmin`) and the orders a payment at `b_now` would pay, as
# `_CLAIM_AND_MARK_PAID` returns them, plus the version of all the container's orders
# (storage/tables.ORDERS_VERSION), in one snapshot. An outer join: the container's row comes
# back (orders' columns NULL) when no order is payable.
_ROW_VERSION = literal_column("CAST(order_containers.xmin AS text)", Text)
_READ_FOR_PAYMENT = DriverStatement(
    select(
        *_PAID_COLUMNS,
        order_containers.c.status.label("claim_status"),
        order_containers.c.currency.label("claim_currency"),
        order_containers.c.main_order_id.label("claim_main_order_id"),
        order_containers.c.payer.label("claim_payer"),
        order_containers.c.number.label("claim_number"),
        _ROW_VERSION.label("claim_version"),
        getattr(func, ORDERS_VERSION)(order_containers.c.id, type_=Text).label("claim_orders"),
    )
    .select_from(
        order_containers.outerjoin(
            orders, and_(orders.c.container_id == order_containers.c.id, *_PAYING)
        )
    )
    .where(order_containers.c.id == bindparam("cid"))
)
# Its write's guard (storage/together.Guard): the claim matches only the container's row as
# read (`b_version`: any change of the row, e.g. the payer's details saved, makes a new
# version, and a claim that waited for a change re-checks its WHERE on the new version), then,
# holding that row's lock, the container's orders must still be the ones read (`b_orders`,
# ORDERS_ARE: a fresh snapshot, which sees an order that joined while the claim waited; it
# raises serialization_failure otherwise). Only then do the orders move and the rows go in.
# Every path that changes an order locks its container first (docs/security.md "Lock order"),
# so once the claim holds that lock, nothing changes the orders until the payment commits.
_CLAIMED_AS_READ = (
    update(order_containers)
    .where(
        order_containers.c.id == bindparam("cid"),
        order_containers.c.status == "pending",
        _ROW_VERSION == bindparam("b_version", type_=Text),
    )
    .values(status="paid", paid_at=bindparam("b_now"), payment_id=bindparam("b_payment"))
    .returning(order_containers.c.id)
    .cte("claimed")
)
_ORDERS_AS_READ = (
    select(_CLAIMED_AS_READ.c.id)
    .where(getattr(func, ORDERS_ARE)(_CLAIMED_AS_READ.c.id, bindparam("b_orders", type_=Text)))
    .cte("orders_as_read")
)
PAYING_AS_READ = Guard(
    gate=_ORDERS_AS_READ,
    effects=(
        update(orders)
        .where(orders.c.container_id == _ORDERS_AS_READ.c.id, *_PAYING)
        .values(_PAID_VALUES)
        .returning(orders.c.id)
        .cte("paid_orders"),
    ),
)
_INSERT_PAYMENT = insert(payments)
_FIND_INSTRUMENT_PAYMENT = select(payments).where(
    payments.c.instrument_id == bindparam("instrument"),
    payments.c.operation_id == bindparam("operation"),
)


async def get_container(
    conn: AsyncConnection, container_id: str, *, now: datetime | None = None
) -> Any:
    """The container row; with `now`, its status as a reader sees it then (a main order past
    its deadline reads `expired`: orders/repository.py "Expiry as a reader sees it")."""
    if now is None:
        return (await conn.execute(_GET_CONTAINER, {"cid": container_id})).first()
    query = select(*orders_repository.effective_container_columns(now)).where(
        order_containers.c.id == container_id
    )
    return (await conn.execute(query)).first()


@dataclass(frozen=True)
class Claim:
    """What the winner of a container's payment needs of the container's row."""

    currency: str
    main_order_id: str
    payer: dict[str, Any]  # what the payer entered on the payment page ({} when nothing)
    number: str  # the invoice number the buyer sees


async def claim_container(
    conn: AsyncConnection, container_id: str, *, payment_id: str, now: datetime
) -> Claim | None:
    """pending -> paid, for exactly one caller. This UPDATE takes the container's row lock
    first (docs/security.md)."""
    params = {"cid": container_id, "b_now": now, "b_payment": payment_id}
    row = (await conn.execute(_CLAIM_CONTAINER, params)).first()
    return Claim(row[0], row[1], row[2] or {}, row[3]) if row is not None else None


async def claim_and_mark_paid(
    conn: AsyncConnection, container_id: str, *, payment_id: str, status: str, now: datetime
) -> tuple[Claim | None, list[Any]]:
    """`claim_container`, then `mark_orders_paid` if the claim matched: one statement on
    PostgreSQL. (None, []) when the container was not claimed."""
    params = {"cid": container_id, "b_now": now, "b_payment": payment_id, "b_status": status}
    if conn.dialect.name != "postgresql":
        claim = await claim_container(conn, container_id, payment_id=payment_id, now=now)
        if claim is None:
            return None, []
        return claim, list((await conn.execute(_MARK_PAID, params)).all())
    paid = await _CLAIM_AND_MARK_PAID.rows(conn, params)
    if paid:
        m = paid[0]._mapping
        claim = Claim(
            m["claim_currency"], m["claim_main_order_id"], m["claim_payer"] or {}, m["claim_number"]
        )
        return claim, paid
    # No order moved: the claim matched nothing, or every order was past its deadline.
    container = (await conn.execute(_GET_CONTAINER, {"cid": container_id})).first()
    if container is None or container._mapping["payment_id"] != payment_id:
        return None, []
    c = container._mapping
    return Claim(c["currency"], c["main_order_id"], c["payer"] or {}, c["number"]), []


@dataclass(frozen=True)
class ReadForPayment:
    """What `read_for_payment` found: the container's status and what a claim would return,
    the versions its guarded write compares, and the orders as they will be once paid."""

    status: str
    claim: Claim
    version: str
    orders_version: str | None
    paid: list[Any]


async def read_for_payment(
    conn: AsyncConnection, container_id: str, *, now: datetime, status: str
) -> ReadForPayment | None:
    """The container and the orders a payment at `now` would pay, in one snapshot, each order
    as `_CLAIM_AND_MARK_PAID` would return it (`status`, `paid_at` and `updated_at` as the
    payment sets them); None when there is no such container. PostgreSQL."""
    rows = await _READ_FOR_PAYMENT.rows(conn, {"cid": container_id, "b_now": now})
    if not rows:
        return None
    m = rows[0]._mapping
    paid = [
        DriverRow({**row._mapping, "status": status, "paid_at": now, "updated_at": now})
        for row in rows
        if row._mapping["id"] is not None
    ]
    return ReadForPayment(
        m["claim_status"],
        Claim(
            m["claim_currency"], m["claim_main_order_id"], m["claim_payer"] or {}, m["claim_number"]
        ),
        m["claim_version"],
        m["claim_orders"],
        paid,
    )


@dataclass(frozen=True)
class Payable:
    """What the unpaid orders of a container add up to, in one query."""

    total_minor: int
    earliest_deadline: datetime | None
    non_processable: int


async def payable(
    conn: AsyncConnection, container_id: str, *, now: datetime | None = None
) -> Payable:
    """What a payment of the container would pay; with `now`, leaving out the orders past
    their deadline then (recorded or not)."""
    params: dict[str, Any] = {"cid": container_id}
    if now is None:
        row = (await conn.execute(_PAYABLE, params)).one()
    else:
        query = _PAYABLE.where(
            or_(
                orders.c.subtype != "order",
                orders.c.processable.is_(False),
                orders.c.expiration_date > bindparam("b_now"),
            )
        )
        row = (await conn.execute(query, {**params, "b_now": now})).one()
    return Payable(int(row[0]), row[1], int(row[2]))


async def insert_payment(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(_INSERT_PAYMENT, values)


async def find_instrument_payment(
    conn: AsyncConnection, instrument_id: str, operation_id: str
) -> Any:
    params = {"instrument": instrument_id, "operation": operation_id}
    return (await conn.execute(_FIND_INSTRUMENT_PAYMENT, params)).first()


# --- card attempts (payment intents, payments/attempts.py) ------------------------------------

_GET_ATTEMPT = select(payment_attempts).where(payment_attempts.c.id == bindparam("aid"))


async def insert_attempt(conn: AsyncConnection, values: dict[str, Any]) -> int:
    statement = insert(payment_attempts).values(values).returning(payment_attempts.c.id)
    return int((await conn.execute(statement)).scalar_one())


async def get_attempt(conn: AsyncConnection, attempt_id: int) -> Any:
    row = (await conn.execute(_GET_ATTEMPT, {"aid": attempt_id})).first()
    return row._mapping if row is not None else None


async def move_attempt(
    conn: AsyncConnection, attempt_id: int, *, from_statuses: tuple[str, ...], **values: Any
) -> bool:
    """Change the attempt only if it is still in one of `from_statuses`; True if it was.
    Racing drivers of one attempt (the page, recovery passes) change it exactly once."""
    statement = (
        update(payment_attempts)
        .where(payment_attempts.c.id == attempt_id, payment_attempts.c.status.in_(from_statuses))
        .values(**values)
    )
    return (await conn.execute(statement)).rowcount == 1


async def stale_attempts(
    conn: AsyncConnection,
    *,
    statuses: tuple[str, ...],
    gateway: str,
    updated_before: datetime,
    limit: int,
) -> list[int]:
    """Ids of this gateway's attempts left in `statuses` since before `updated_before`."""
    query = (
        select(payment_attempts.c.id)
        .where(
            payment_attempts.c.status.in_(statuses),
            payment_attempts.c.gateway == gateway,
            payment_attempts.c.updated_at <= updated_before,
        )
        .order_by(payment_attempts.c.id)
        .limit(limit)
    )
    return [int(r[0]) for r in (await conn.execute(query)).all()]
