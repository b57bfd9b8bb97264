"""Card attempts as payment intents: the gateway is never called inside a database transaction.

A card payment on the payment page is a row of `payment_attempts` that moves through its
`status` in short transactions, with the gateway (payments/gateway.py) asked between them:

    1 begin    caller's tx   throttle (payments/throttle.py), then record the intent:
                             `authorizing`, the amount, the gateway, a new idempotency key
    2 ask      no tx         gateway.authorize(idempotency key, amount, card)
    3 record   own tx        authorizing -> declined (+ a declined `payments` row)
                                          | authorized (the gateway's reference; captured or held)
    4 settle   own tx        authorized -> paid (payments.service.pay_container: the `payments`
                             row names the gateway and the reference)
                                        | voiding (the invoice cannot take it now: paid by
                                          someone else, an add-on joined, canceled, expired)
    5 release  no tx         gateway.void(reference) (a refund of the whole amount when the
                             gateway cannot void a captured payment)
    6          own tx        voiding -> voided

Every change is a conditional UPDATE on the current status taken under the container's row lock
(docs/security.md "Lock order"), so the page and any number of recovery passes may drive the
same attempt: each step happens once. Final statuses: paid, declined, voided, abandoned and
throttled.

`recover` (the worker's periodic pass) finishes attempts left unfinished by a crash or a lost
answer for longer than `payment_recovery_after_seconds`: `authorizing` is resolved by asking the
gateway what happened to its idempotency key (`find`) - unknown for longer than
`payment_abandon_after_seconds` becomes `abandoned`; `authorized` is settled (paid, or voided
when the invoice cannot take it); `voiding` is released. The invoice ends paid exactly once or
not at all, and an authorization that cannot be used is voided.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, ids, money
from marketbox.config import Settings
from marketbox.orders import repository as orders_repository
from marketbox.payments import gateway as gw
from marketbox.payments import repository, throttle
from marketbox.payments import service as payments_service
from marketbox.payments.errors import (
    AlreadyPaid,
    AmountChanged,
    ContainerNotFound,
    ContainerNotPayable,
    NotPayableHere,
    WrongCurrency,
)
from marketbox.payments.sandbox import METHOD_CARD, METHOD_CARD_HOLD, Card
from marketbox.storage.db import Database

log = logging.getLogger("marketbox.payments")

AUTHORIZING = "authorizing"
AUTHORIZED = "authorized"
DECLINED = "declined"
PAID = "paid"
VOIDING = "voiding"
VOIDED = "voided"
ABANDONED = "abandoned"
THROTTLED = "throttled"
FINAL = (PAID, DECLINED, VOIDED, ABANDONED, THROTTLED)

# Why an approved authorization could not pay its invoice (`release_reason`).
AMOUNT_CHANGED = "amount_changed"


@dataclass(frozen=True)
class Attempt:
    """One card attempt (payment intent) as recorded."""

    id: int
    container_id: str
    status: str
    outcome: str
    amount: Decimal
    currency: str
    idempotency_key: str | None
    gateway: str | None
    gateway_reference: str | None
    method: str | None
    captured: bool | None
    card_last4: str | None
    failure_code: str | None
    payment_id: str | None
    release_reason: str | None
    release: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Attempt:
        return cls(
            id=int(row["id"]),
            container_id=row["container_id"],
            status=row["status"],
            outcome=row["outcome"],
            amount=money.from_minor(row["amount_minor"], row["currency"]),
            currency=row["currency"],
            idempotency_key=row["idempotency_key"],
            gateway=row["gateway"],
            gateway_reference=row["gateway_reference"],
            method=row["method"],
            captured=row["captured"],
            card_last4=row["card_last4"],
            failure_code=row["failure_code"],
            payment_id=row["payment_id"],
            release_reason=row["release_reason"],
            release=row["release"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    @property
    def finished(self) -> bool:
        return self.status in FINAL


# --- step 1: in the caller's transaction ------------------------------------------------------


async def begin(
    conn: AsyncConnection,
    settings: Settings,
    *,
    gateway: str,
    container_id: str,
    client: str,
    amount: Decimal,
    currency: str,
    card_last4: str | None,
) -> Attempt | throttle.Throttled | throttle.Busy:
    """Throttle the attempt; if admitted, record it `authorizing` with a new idempotency key.

    Raises ContainerNotPayable / AmountChanged when the invoice changed since the caller read
    it (checked again under its lock). Never commits: the caller commits before asking the
    gateway (`run`). Busy: nothing was recorded; the caller waits and tries again."""
    now = clock.now()
    amount_minor = money.to_minor(amount, currency)
    # Under the container's lock (the first lock, docs/security.md): what the caller read
    # before it may have changed since (another attempt paid, an add-on joined).
    container = await orders_repository.lock_container(conn, container_id)
    if container is None:
        raise ContainerNotFound()
    if container._mapping["status"] != "pending":
        if container._mapping["status"] == "paid":
            raise AlreadyPaid()
        raise ContainerNotPayable(container._mapping["status"])
    if (await repository.payable(conn, container_id)).total_minor != amount_minor:
        raise AmountChanged()
    verdict = await throttle.admit(
        conn,
        settings,
        container_id=container_id,
        client=client,
        amount_minor=amount_minor,
        currency=currency,
        now=now,
    )
    if verdict is not None:
        return verdict
    values = {
        "container_id": container_id,
        "client": client[:64],
        "outcome": throttle.PENDING,
        "status": AUTHORIZING,
        "idempotency_key": ids.new_id(),
        "gateway": gateway,
        "amount_minor": amount_minor,
        "currency": currency,
        "card_last4": card_last4,
        "created_at": now,
        "updated_at": now,
    }
    attempt_id = await repository.insert_attempt(conn, values)
    return Attempt.from_row({**_EMPTY, **values, "id": attempt_id})


_EMPTY: dict[str, Any] = {
    "gateway_reference": None,
    "method": None,
    "captured": None,
    "failure_code": None,
    "payment_id": None,
    "release_reason": None,
    "release": None,
}


# --- steps 2-6: each its own transaction, the gateway between them ----------------------------


async def run(
    db: Database,
    gateway: gw.PaymentGateway,
    settings: Settings,
    attempt: Attempt,
    card: Card,
    *,
    capture: bool = True,
) -> Attempt:
    """Ask the gateway, record the answer, pay the invoice or release the authorization.

    `capture=False` asks for a pre-authorisation (hold) instead of a sale: the invoice is then
    paid `hold` (shipping control, docs/miniapps.md "Shipping control").

    Returns the attempt as it ended: paid, declined or voided - or still `authorizing` when
    the gateway did not answer in time (the worker's recovery resolves it)."""
    authorization = await ask(gateway, attempt, card, timeout=_timeout(settings), capture=capture)
    if authorization is None:
        return attempt
    recorded = await record(db, attempt.id, authorization)
    return await settle(db, gateway, recorded.id, timeout=_timeout(settings))


async def ask(
    gateway: gw.PaymentGateway,
    attempt: Attempt,
    card: Card,
    *,
    timeout: float,
    capture: bool = True,
) -> gw.Authorization | None:
    """Step 2, outside any transaction. None: no answer in time (the outcome is unknown)."""
    assert attempt.idempotency_key is not None
    request = gw.AuthorizeRequest(
        idempotency_key=attempt.idempotency_key,
        amount=attempt.amount,
        currency=attempt.currency,
        card=card,
        capture=capture,
        description=f"invoice {attempt.container_id}",
    )
    try:
        return await gw.bounded(gateway.authorize(request), timeout)
    except gw.GatewayUnavailable:
        log.warning("gateway %s did not answer attempt %s", gateway.name, attempt.id)
        return None


async def record(db: Database, attempt_id: int, authorization: gw.Authorization) -> Attempt:
    """Step 3: the gateway's answer. An attempt that was already recorded (by a racing driver)
    is returned as it is; a late answer to an abandoned attempt is still recorded."""
    async with db.transaction() as conn:
        attempt = await _locked(conn, attempt_id)
        if attempt.status not in (AUTHORIZING, ABANDONED):
            return attempt
        now = clock.now()
        reference = authorization.reference or None
        if not authorization.approved:
            code = authorization.failure_code or "card_declined"
            payment_id = await payments_service.record_declined(
                conn,
                container_id=attempt.container_id,
                method=METHOD_CARD,
                failure_code=code,
                amount=attempt.amount,
                currency=attempt.currency,
                card_last4=attempt.card_last4,
                gateway=attempt.gateway,
                gateway_reference=reference,
            )
            changes: dict[str, Any] = {
                "status": DECLINED,
                "outcome": throttle.DECLINED,
                "failure_code": code,
                "payment_id": payment_id,
            }
        else:
            captured = authorization.captured
            changes = {
                "status": AUTHORIZED,
                "outcome": throttle.APPROVED,
                "method": METHOD_CARD if captured else METHOD_CARD_HOLD,
                "captured": captured,
            }
        changes.update(gateway_reference=reference, updated_at=now)
        await repository.move_attempt(
            conn, attempt_id, from_statuses=(AUTHORIZING, ABANDONED), **changes
        )
        return await _read(conn, attempt_id)


async def settle(
    db: Database,
    gateway: gw.PaymentGateway,
    attempt_id: int,
    *,
    timeout: float,
) -> Attempt:
    """Steps 4-6 for an approved authorization: pay the invoice, or void the authorization
    when the invoice cannot take it. Other statuses are returned as they are."""
    async with db.transaction() as conn:
        attempt = await _read(conn, attempt_id)
    if attempt.status == AUTHORIZED:
        attempt = await _pay(db, attempt)
    if attempt.status == VOIDING:
        attempt = await _release(db, gateway, attempt, timeout=timeout)
    return attempt


async def _pay(db: Database, attempt: Attempt) -> Attempt:
    try:
        async with db.transaction() as conn:
            current = await _locked(conn, attempt.id)
            if current.status != AUTHORIZED:
                return current
            paid = await payments_service.pay_container(
                conn,
                container_id=attempt.container_id,
                method=attempt.method or METHOD_CARD,
                expected_amount=attempt.amount,
                expected_currency=attempt.currency,
                hold=not attempt.captured,
                card_last4=attempt.card_last4,
                gateway=attempt.gateway,
                gateway_reference=attempt.gateway_reference,
                details={"attempt": attempt.id},
            )
            await repository.move_attempt(
                conn,
                attempt.id,
                from_statuses=(AUTHORIZED,),
                status=PAID,
                payment_id=paid.payment_id,
                updated_at=clock.now(),
            )
            return await _read(conn, attempt.id)
    except (AmountChanged, ContainerNotPayable, ContainerNotFound, WrongCurrency) as exc:
        # pay_container's changes rolled back with its transaction; the authorization must go.
        reason = _release_reason(exc)
    async with db.transaction() as conn:
        await _locked(conn, attempt.id)
        await repository.move_attempt(
            conn,
            attempt.id,
            from_statuses=(AUTHORIZED,),
            status=VOIDING,
            release_reason=reason,
            updated_at=clock.now(),
        )
        return await _read(conn, attempt.id)


async def _release(
    db: Database, gateway: gw.PaymentGateway, attempt: Attempt, *, timeout: float
) -> Attempt:
    reference = attempt.gateway_reference or ""
    try:
        operation = await gw.bounded(gateway.void(reference), timeout)
        if not operation.succeeded and attempt.captured:
            # A captured payment the gateway cannot void (settled): give it all back instead.
            operation = await gw.bounded(gateway.refund(reference, attempt.amount), timeout)
    except gw.GatewayUnavailable:
        log.warning("gateway %s did not answer the release of %s", gateway.name, reference)
        return attempt
    if not operation.succeeded:
        log.error(
            "gateway %s refused to release %s (attempt %s): %s",
            gateway.name,
            reference,
            attempt.id,
            operation.failure_code,
        )
        return attempt
    async with db.transaction() as conn:
        await _locked(conn, attempt.id)
        await repository.move_attempt(
            conn,
            attempt.id,
            from_statuses=(VOIDING,),
            status=VOIDED,
            release=operation.kind,
            updated_at=clock.now(),
        )
        return await _read(conn, attempt.id)


# --- recovery (the worker's periodic pass) ------------------------------------------------------


@dataclass(frozen=True)
class Recovered:
    """What one recovery pass did, by the status each attempt ended in."""

    by_status: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


async def recover(
    db: Database,
    gateway: gw.PaymentGateway,
    settings: Settings,
    *,
    limit: int = 100,
) -> Recovered:
    """Finish this gateway's attempts left unfinished for longer than
    `payment_recovery_after_seconds` (see the module docstring). Safe to run in several
    workers at once and beside live requests."""
    now = clock.now()
    async with db.transaction() as conn:
        due = await repository.stale_attempts(
            conn,
            statuses=(AUTHORIZING, AUTHORIZED, VOIDING),
            gateway=gateway.name,
            updated_before=now - timedelta(seconds=settings.payment_recovery_after_seconds),
            limit=limit,
        )
    counts: dict[str, int] = {}
    for attempt_id in due:
        try:
            attempt = await _recover_one(db, gateway, settings, attempt_id, now)
        except Exception:  # one broken attempt must not stop the others; retried next pass
            log.exception("recovering payment attempt %s failed", attempt_id)
            continue
        counts[attempt.status] = counts.get(attempt.status, 0) + 1
    return Recovered(counts)


async def _recover_one(
    db: Database,
    gateway: gw.PaymentGateway,
    settings: Settings,
    attempt_id: int,
    now: datetime,
) -> Attempt:
    timeout = _timeout(settings)
    async with db.transaction() as conn:
        attempt = await _read(conn, attempt_id)
    if attempt.status == AUTHORIZING:
        assert attempt.idempotency_key is not None
        try:
            authorization = await gw.bounded(gateway.find(attempt.idempotency_key), timeout)
        except gw.GatewayUnavailable:
            return attempt
        if authorization is None:
            abandon_before = now - timedelta(seconds=settings.payment_abandon_after_seconds)
            if attempt.created_at > abandon_before:
                return attempt  # maybe still on its way to the gateway: ask again next pass
            async with db.transaction() as conn:
                await _locked(conn, attempt_id)
                await repository.move_attempt(
                    conn,
                    attempt_id,
                    from_statuses=(AUTHORIZING,),
                    status=ABANDONED,
                    outcome=throttle.NONE,
                    updated_at=clock.now(),
                )
                return await _read(conn, attempt_id)
        attempt = await record(db, attempt_id, authorization)
    return await settle(db, gateway, attempt_id, timeout=timeout)


# --- helpers ---------------------------------------------------------------------------------


def _timeout(settings: Settings) -> float:
    return settings.payment_gateway_timeout_seconds


async def _read(conn: AsyncConnection, attempt_id: int) -> Attempt:
    row = await repository.get_attempt(conn, attempt_id)
    if row is None:
        raise LookupError(f"payment attempt {attempt_id} not found")
    return Attempt.from_row(row)


async def _locked(conn: AsyncConnection, attempt_id: int) -> Attempt:
    """The attempt, read after its container's row lock (docs/security.md "Lock order")."""
    attempt = await _read(conn, attempt_id)
    await orders_repository.lock_container(conn, attempt.container_id)
    return await _read(conn, attempt_id)


def _release_reason(exc: Exception) -> str:
    if isinstance(exc, AmountChanged):
        return AMOUNT_CHANGED
    if isinstance(exc, AlreadyPaid):
        return "already_paid"
    if isinstance(exc, NotPayableHere):
        return "not_payable_here"
    if isinstance(exc, ContainerNotPayable):
        return exc.container_status[:30]
    if isinstance(exc, ContainerNotFound):
        return "not_found"
    return "wrong_currency"
