"""Paying an order container: one payment pays every order in it.

    container pending --pay--> paid        orders created -> completed (or hold), paidAt set
    container pending --decline--> pending a declined payment is recorded, nothing changes

Exactly one of any number of racing payments wins: the container moves pending -> paid in
one conditional UPDATE, and only the caller whose UPDATE matched the row goes on. The orders'
status change, the payment record, one outbox notification per order and the buyer's letter
(mail/service.py) commit together.

Two ways to get there: `pay_container` claims the container first, in the caller's
transaction (every payment path); `pay_container_at_once`, for a bank's confirmation on
PostgreSQL, reads first and then claims and writes in one statement guarded by what it read,
and takes the first way when the invoice changed in between (docs/payments.md "Paying
without a transaction").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, ids, money
from marketbox.mail import service as mail_service
from marketbox.mail.tables import mail_messages
from marketbox.notifications import outbox
from marketbox.orders import notices
from marketbox.orders import service as orders_service
from marketbox.payments import repository
from marketbox.payments.errors import (
    AlreadyPaid,
    AmountChanged,
    ContainerNotFound,
    ContainerNotPayable,
    NotPayableHere,
    WrongCurrency,
)
from marketbox.receipts import service as receipts_service
from marketbox.receipts.tables import receipts as receipts_table
from marketbox.storage import together
from marketbox.storage.db import staged_hooks, transaction_on
from marketbox.storage.tables import notifications as notifications_table
from marketbox.storage.tables import payments


@dataclass(frozen=True)
class PaymentResult:
    payment_id: str
    container_id: str
    amount: Decimal
    currency: str
    paid_orders: list[Any]


async def current_status(conn: AsyncConnection, container_id: str) -> str:
    """The container's status with passed deadlines applied (and recorded) first: for a
    change under the container's lock. A read uses `effective_status`.

    An expired add-on leaves the invoice pending; the main order's deadline expires it all.
    """
    container = await repository.get_container(conn, container_id)
    if container is None:
        raise ContainerNotFound()
    if container._mapping["status"] != "pending":
        return str(container._mapping["status"])
    if await orders_service.expire_due(conn, container_id=container_id):
        container = await repository.get_container(conn, container_id)
    if container._mapping["status"] == "pending":
        if (await repository.payable(conn, container_id)).total_minor == 0:
            # Under READ COMMITTED the container may have been read just before a racing
            # payment committed and the orders just after: read the container again.
            again = await repository.get_container(conn, container_id)
            status = str(again._mapping["status"])
            return "canceled" if status == "pending" else status
    return str(container._mapping["status"])


async def effective_status(conn: AsyncConnection, container_id: str) -> str:
    """The container's status as it reads now, writing nothing: a main order past its
    deadline reads `expired` (the worker's sweep records it), and a pending invoice with
    nothing left to pay (every order canceled or past its own deadline) reads `canceled`."""
    now = clock.now()
    container = await repository.get_container(conn, container_id, now=now)
    if container is None:
        raise ContainerNotFound()
    status = str(container._mapping["status"])
    if (
        status == "pending"
        and (await repository.payable(conn, container_id, now=now)).total_minor == 0
    ):
        # As in current_status: a payment may have committed between the two reads.
        again = await repository.get_container(conn, container_id, now=now)
        status = str(again._mapping["status"])
        return "canceled" if status == "pending" else status
    return status


class ChangedMeanwhile(Exception):
    """The container or its orders changed between a payment's read and its write."""


# What PostgreSQL answers when the write's fresh check finds the orders changed
# (storage/tables.ORDERS_ARE).
SERIALIZATION_FAILURE = "40001"


@dataclass(frozen=True)
class _Request:
    """What the caller of `pay_container` asks for (its keyword arguments)."""

    container_id: str
    method: str
    expected_amount: Decimal | None = None
    expected_currency: str | None = None
    hold: bool = False
    card_last4: str | None = None
    instrument_id: str | None = None
    operation_id: str | None = None
    details: dict[str, Any] | None = None
    gateway: str | None = None
    gateway_reference: str | None = None

    @property
    def order_status(self) -> str:
        """What the paid orders become: `hold` for a held authorization, else `completed`."""
        return "hold" if self.hold else "completed"


@dataclass(frozen=True)
class _Payment:
    """A payment worked out from the orders it pays: its rows, written together."""

    result: PaymentResult
    inserts: list[tuple[Any, list[dict[str, Any]]]]
    notifications: list[dict[str, Any]]


async def pay_container(
    conn: AsyncConnection,
    *,
    container_id: str,
    method: str,
    expected_amount: Decimal | None = None,
    expected_currency: str | None = None,
    hold: bool = False,
    card_last4: str | None = None,
    instrument_id: str | None = None,
    operation_id: str | None = None,
    details: dict[str, Any] | None = None,
    gateway: str | None = None,
    gateway_reference: str | None = None,
) -> PaymentResult:
    """Pay the whole container or raise; never pays twice. In the caller's transaction.

    `expected_amount` is the total the payer saw: if an add-on joined since, the payment is
    refused with AmountChanged so the payer can review the new total. A card payment names
    the gateway and its reference of the authorization that paid (docs/payments.md).
    """
    request = _Request(
        container_id=container_id,
        method=method,
        expected_amount=expected_amount,
        expected_currency=expected_currency,
        hold=hold,
        card_last4=card_last4,
        instrument_id=instrument_id,
        operation_id=operation_id,
        details=details,
        gateway=gateway,
        gateway_reference=gateway_reference,
    )
    return await _pay_locked(conn, request)


async def pay_container_at_once(
    conn: AsyncConnection,
    *,
    container_id: str,
    method: str,
    expected_amount: Decimal | None = None,
    expected_currency: str | None = None,
    instrument_id: str | None = None,
    operation_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> PaymentResult:
    """`pay_container` for a caller in `Database.statement()`: on PostgreSQL (autocommit) the
    container and its orders are read, the payment worked out, and everything written in one
    statement that first claims the container only if neither it nor any of its orders
    changed since the read (`repository.PAYING_AS_READ`); two round trips and no
    transaction block, the same outcome as `pay_container`'s (docs/payments.md "Paying
    without a transaction"). When something did change, the payment is made again the
    locked way, in a transaction on the same connection. Elsewhere (SQLite's statement() is
    a transaction already) it is `pay_container`."""
    request = _Request(
        container_id=container_id,
        method=method,
        expected_amount=expected_amount,
        expected_currency=expected_currency,
        instrument_id=instrument_id,
        operation_id=operation_id,
        details=details,
    )
    if conn.dialect.name != "postgresql":
        return await _pay_locked(conn, request)
    try:
        # The attempt's after-commit hooks (live events) are kept only if it wrote.
        with staged_hooks(conn):
            return await _pay_as_read(conn, request)
    except ChangedMeanwhile:
        pass
    async with transaction_on(conn) as locked:
        return await _pay_locked(locked, request)


async def _pay_locked(conn: AsyncConnection, request: _Request) -> PaymentResult:
    now = clock.now()
    payment_id = ids.new_id()
    # The claim takes the container's row lock first; the orders are moved in the same
    # statement on PostgreSQL and checked from what the UPDATE returns: no window in which an
    # order could change between adding up the total and paying it. From here on, raising
    # rolls the claim back with the rest of the transaction.
    claimed, paid = await repository.claim_and_mark_paid(
        conn,
        request.container_id,
        payment_id=payment_id,
        status=request.order_status,
        now=now,
    )
    if claimed is None:
        container = await repository.get_container(conn, request.container_id)
        raise _refusal(None if container is None else container._mapping["status"])
    payment = await _work_out(conn, request, claimed, paid, payment_id=payment_id, now=now)
    # The payment, its receipts, the shops' notifications (and their live events) and the
    # letters: one round trip on PostgreSQL. A reused operation id fails it (IntegrityError).
    # In the same statement: did an order join while the claim waited (repository.LEFT_UNPAID)?
    left_unpaid = await together.insert_together(
        conn,
        payment.inserts,
        notify=outbox.announcements(conn, payment.notifications),
        check=repository.LEFT_UNPAID,
        check_params={"cid": request.container_id, "b_now": now},
    )
    if left_unpaid:
        # Raising rolls the claim and the writes back: the payer is shown the new total.
        raise AmountChanged("An order joined the invoice while it was being paid")
    return payment.result


async def _pay_as_read(conn: AsyncConnection, request: _Request) -> PaymentResult:
    """One attempt of `pay_container_at_once` on PostgreSQL in autocommit; raises
    ChangedMeanwhile when its write found the invoice changed (it then wrote nothing).

    A refusal is decided on the read alone: nothing is written, so the answer is the one a
    request at the moment of the read gets (the locked way decides it at its claim)."""
    now = clock.now()
    payment_id = ids.new_id()
    status = request.order_status
    read = await repository.read_for_payment(conn, request.container_id, now=now, status=status)
    if read is None or read.status != "pending":
        raise _refusal(None if read is None else read.status)
    payment = await _work_out(conn, request, read.claim, read.paid, payment_id=payment_id, now=now)
    try:
        written = await together.insert_together(
            conn,
            payment.inserts,
            notify=outbox.announcements(conn, payment.notifications),
            guard=repository.PAYING_AS_READ,
            check_params={
                "cid": request.container_id,
                "b_now": now,
                "b_payment": payment_id,
                "b_status": status,
                "b_version": read.version,
                "b_orders": read.orders_version,
            },
        )
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == SERIALIZATION_FAILURE:
            raise ChangedMeanwhile() from exc  # an order changed (repository.PAYING_AS_READ)
        raise
    if not written:
        # Another payment claimed it (the usual case: racing confirmations), it was withdrawn,
        # or its row changed: read once more, and refuse from that read if it is no longer
        # pending; otherwise pay it the locked way.
        again = await repository.get_container(conn, request.container_id)
        if again is None or again._mapping["status"] != "pending":
            raise _refusal(None if again is None else str(again._mapping["status"]))
        raise ChangedMeanwhile()
    return payment.result


def _refusal(status: str | None) -> Exception:
    """Why a container that was not claimed cannot be paid (its status then; None: none)."""
    if status is None:
        return ContainerNotFound()
    if status == "paid":
        return AlreadyPaid()
    return ContainerNotPayable(status)


async def _work_out(
    conn: AsyncConnection,
    request: _Request,
    claimed: repository.Claim,
    paid: list[Any],
    *,
    payment_id: str,
    now: datetime,
) -> _Payment:
    """The payment of `paid` (the orders as they are once paid), or the refusal to raise:
    its row, receipts, notifications and letters."""
    container_id = request.container_id
    currency, main_order_id = claimed.currency, claimed.main_order_id
    if request.expected_currency is not None and request.expected_currency != currency:
        raise WrongCurrency(f"The invoice is in {currency}")
    if not any(row._mapping["id"] == main_order_id for row in paid):
        # The main order's deadline is the invoice's (the sweeper records the expiry).
        raise ContainerNotPayable("expired")
    if not all(row._mapping["processable"] for row in paid):
        # The merchant settles such orders outside the platform (api.md, newer revision).
        raise NotPayableHere()
    total_minor = sum(row._mapping["amount_minor"] for row in paid)
    total = money.from_minor(total_minor, currency)
    if request.expected_amount is not None and money.round2(request.expected_amount) != total:
        raise AmountChanged(f"The invoice total is now {total}")
    payment = {
        "id": payment_id,
        "container_id": container_id,
        "method": request.method,
        "status": "succeeded",
        "failure_code": None,
        "amount_minor": total_minor,
        "currency": currency,
        "card_last4": request.card_last4,
        "instrument_id": request.instrument_id,
        "operation_id": request.operation_id,
        "details": request.details,
        "gateway": request.gateway,
        "gateway_reference": request.gateway_reference,
        "created_at": now,
    }
    # The merchants' rows came back with the orders (repository._PAID_COLUMNS).
    merchants = {row._mapping["merchant_id"]: row._mapping for row in paid}
    receipts = await receipts_service.payment_records(
        conn,
        paid,
        payment_id=payment_id,
        held=request.hold,
        payer=claimed.payer,
        suppliers={
            merchant_id: (m["merchant_legal_name"] or m["merchant_name"], m["merchant_vat_number"])
            for merchant_id, m in merchants.items()
        },
    )
    notifications = await notices.records_for_orders(
        conn,
        paid,
        event="paid",
        keys={
            merchant_id: outbox.MerchantKey(
                m["merchant_signing_key"],
                m["merchant_sign_algorithm"],
                m["merchant_notification_url"],
            )
            for merchant_id, m in merchants.items()
        },
    )
    letters = mail_service.payment_letters(
        paid,
        container_id=container_id,
        number=claimed.number,
        main_order_id=main_order_id,
        payer=claimed.payer,
        held=request.hold,
        now=now,
    )
    return _Payment(
        PaymentResult(payment_id, container_id, total, currency, paid),
        [
            (payments, [payment]),
            (receipts_table, receipts),
            (notifications_table, notifications),
            (mail_messages, mail_service.records(letters, now=now)),
        ],
        notifications,
    )


async def record_declined(
    conn: AsyncConnection,
    *,
    container_id: str,
    method: str,
    failure_code: str,
    amount: Decimal,
    currency: str,
    card_last4: str | None = None,
    gateway: str | None = None,
    gateway_reference: str | None = None,
) -> str:
    """Keep a declined attempt on record; the container stays payable."""
    payment_id = ids.new_id()
    await repository.insert_payment(
        conn,
        {
            "id": payment_id,
            "container_id": container_id,
            "method": method,
            "status": "declined",
            "failure_code": failure_code,
            "amount_minor": money.to_minor(amount, currency),
            "currency": currency,
            "card_last4": card_last4,
            "instrument_id": None,
            "operation_id": None,
            "details": None,
            "gateway": gateway,
            "gateway_reference": gateway_reference or None,
            "created_at": clock.now(),
        },
    )
    return payment_id
