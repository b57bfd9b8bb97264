"""The sandbox gateway: a simulated bank behind the PaymentGateway interface (payments/gateway.py).

It answers by the documented test cards (payments/sandbox.py) and keeps its books in the
database (`sandbox_authorizations`, `sandbox_operations`), in transactions of its own, as a
real bank keeps them on its side: "what happened to authorization X" is answered from there
after any restart, and capture / void / refund are applied once.

    authorize  4242… -> captured at once (a sale; `capture=False` holds it instead)
               0309  -> authorized (a hold / pre-authorisation), whatever `capture` says
               0002, 9995, 0069 -> declined with the card's failure code
    capture    authorized -> captured (at most the authorized amount, once); with a `key`,
               one part of several (a shipment each): authorized while parts are left,
               captured when they reach the authorized amount
    void       authorized -> voided; partly captured -> captured (the rest released);
               a sale with nothing refunded -> voided (the sandbox never settles, so a
               sale can be voided like a hold); a captured hold -> `already_captured`
    refund     whatever was captured -> refunded_amount grows | refunded (all of it)

Repeats: authorize by its idempotency key; capture by the reference (and its `key` when
given); void by the reference; refund by the reference and its `key` (default: one refund per
reference). A repeat of a state-changing call
answers `replayed=True`; a call that cannot be applied answers `succeeded=False` with a code
(`unknown_reference`, `declined`, `voided`, `not_captured`, `already_captured`,
`already_refunded`, `amount_exceeds_authorized`, `amount_exceeds_captured`, `invalid_amount`,
`key_reused`) and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, ids, money
from marketbox.payments import gateway as gw
from marketbox.payments import sandbox
from marketbox.storage.db import Database
from marketbox.storage.tables import sandbox_authorizations as auths
from marketbox.storage.tables import sandbox_operations as ops

REFERENCE_PREFIX = "sbx_"


class SandboxGateway:
    name = "sandbox"

    def __init__(self, db: Database) -> None:
        self.db = db

    async def authorize(self, request: gw.AuthorizeRequest) -> gw.Authorization:
        outcome = sandbox.card_outcome(request.card.number)
        minor = money.to_minor(request.amount, request.currency)
        captured = 0
        failure_code = None
        if outcome == "capture" and request.capture:
            state, captured = gw.CAPTURED, minor
        elif outcome in ("capture", "hold"):
            state = gw.AUTHORIZED
        else:
            state, failure_code = gw.DECLINED, outcome
        now = clock.now()
        values = {
            "reference": REFERENCE_PREFIX + ids.new_id(),
            "idempotency_key": request.idempotency_key,
            "state": state,
            "failure_code": failure_code,
            "amount_minor": minor,
            "currency": request.currency,
            "captured_minor": captured,
            "refunded_minor": 0,
            "card_last4": request.card.last4,
            "card_brand": request.card.brand,
            "created_at": now,
            "updated_at": now,
        }
        try:
            async with self.db.transaction() as conn:
                existing = await _by_key(conn, request.idempotency_key)
                if existing is None:
                    await conn.execute(insert(auths).values(**values))
                    return _authorization(values)
        except IntegrityError:
            # The same key authorized concurrently: the first one stands.
            async with self.db.transaction() as conn:
                existing = await _by_key(conn, request.idempotency_key)
        if existing is None:  # pragma: no cover - the unique key was violated by this key
            raise gw.GatewayError("authorization vanished")
        if (existing["amount_minor"], existing["currency"]) != (minor, request.currency):
            raise gw.GatewayError("idempotency key reused for a different amount")
        return _authorization(existing)

    async def find(self, idempotency_key: str) -> gw.Authorization | None:
        async with self.db.transaction() as conn:
            row = await _by_key(conn, idempotency_key)
        return _authorization(row) if row is not None else None

    async def get(self, reference: str) -> gw.Authorization | None:
        async with self.db.transaction() as conn:
            row = await _by_reference(conn, reference, lock=False)
        return _authorization(row) if row is not None else None

    async def capture(
        self, reference: str, amount: Decimal, *, key: str | None = None
    ) -> gw.Operation:
        refused = _refusal(gw.CAPTURE, reference, amount)
        async with self.db.transaction() as conn:
            row = await _by_reference(conn, reference, lock=True)
            if row is None:
                return refused("unknown_reference")
            minor = _minor(amount, row["currency"])
            if minor is None:
                return refused("invalid_amount")
            if key is not None:
                return await _capture_part(conn, row, key, minor, amount, refused)
            if row["state"] in (gw.CAPTURED, gw.REFUNDED):
                if row["captured_minor"] == minor:
                    return gw.Operation(gw.CAPTURE, reference, True, amount, replayed=True)
                return refused("already_captured")
            if row["state"] != gw.AUTHORIZED:
                return refused(row["state"])  # declined | voided
            if row["captured_minor"] > 0:
                return refused("already_captured")  # partly captured by keyed captures
            if minor > row["amount_minor"]:
                return refused("amount_exceeds_authorized")
            await _change(conn, reference, state=gw.CAPTURED, captured_minor=minor)
            await _record(conn, reference, gw.CAPTURE, "", minor)
        return gw.Operation(gw.CAPTURE, reference, True, amount)

    async def void(self, reference: str) -> gw.Operation:
        refused = _refusal(gw.VOID, reference, None)
        async with self.db.transaction() as conn:
            row = await _by_reference(conn, reference, lock=True)
            if row is None:
                return refused("unknown_reference")
            earlier = await _operation(conn, reference, gw.VOID, "")
            if row["state"] == gw.VOIDED or earlier is not None:
                released = earlier[0] if earlier is not None else None
                amount = _amount(released, row["currency"])
                return gw.Operation(gw.VOID, reference, True, amount, replayed=True)
            if row["state"] == gw.DECLINED:
                return refused("declined")
            if row["refunded_minor"] > 0 and row["state"] != gw.AUTHORIZED:
                return refused("already_refunded")
            captures = await conn.execute(
                select(ops.c.id).where(ops.c.reference == reference, ops.c.kind == gw.CAPTURE)
            )
            if row["state"] == gw.CAPTURED and captures.first() is not None:
                return refused("already_captured")  # a hold captured: nothing left to release
            if row["state"] == gw.AUTHORIZED and row["captured_minor"] > 0:
                # Partly captured (keyed captures): release what was not captured.
                released = row["amount_minor"] - row["captured_minor"]
                await _change(conn, reference, state=gw.CAPTURED)
                await _record(conn, reference, gw.VOID, "", released)
                return gw.Operation(gw.VOID, reference, True, _amount(released, row["currency"]))
            await _change(conn, reference, state=gw.VOIDED)
            await _record(conn, reference, gw.VOID, "", None)
        return gw.Operation(gw.VOID, reference, True)

    async def refund(
        self, reference: str, amount: Decimal, *, key: str | None = None
    ) -> gw.Operation:
        refused = _refusal(gw.REFUND, reference, amount)
        op_key = key or ""
        async with self.db.transaction() as conn:
            row = await _by_reference(conn, reference, lock=True)
            if row is None:
                return refused("unknown_reference")
            minor = _minor(amount, row["currency"])
            if minor is None or minor <= 0:
                return refused("invalid_amount")
            done = await _operation(conn, reference, gw.REFUND, op_key)
            if done is not None:
                if done[0] == minor:
                    return gw.Operation(gw.REFUND, reference, True, amount, replayed=True)
                return refused("key_reused")
            if row["state"] in (gw.DECLINED, gw.VOIDED):
                return refused(row["state"])
            if row["captured_minor"] == 0:
                return refused("not_captured")
            refunded = row["refunded_minor"] + minor
            if refunded > row["captured_minor"]:
                return refused("amount_exceeds_captured")
            state = row["state"]
            if state == gw.CAPTURED and refunded == row["captured_minor"]:
                state = gw.REFUNDED
            await _change(conn, reference, state=state, refunded_minor=refunded)
            await _record(conn, reference, gw.REFUND, op_key, minor)
        return gw.Operation(gw.REFUND, reference, True, amount)

    async def close(self) -> None:
        return None


def _refusal(kind: str, reference: str, amount: Decimal | None) -> Callable[[str], gw.Operation]:
    def refused(code: str) -> gw.Operation:
        return gw.Operation(kind, reference, False, amount, code)

    return refused


def _minor(amount: Decimal, currency: str) -> int | None:
    try:
        minor = money.to_minor(amount, currency)
    except (ValueError, ArithmeticError):
        return None
    return minor if minor > 0 else None


async def _capture_part(
    conn: AsyncConnection,
    row: Any,
    key: str,
    minor: int,
    amount: Decimal,
    refused: Callable[[str], gw.Operation],
) -> gw.Operation:
    """A keyed (partial) capture: several per authorization, together at most its amount."""
    reference = row["reference"]
    done = await _operation(conn, reference, gw.CAPTURE, key)
    if done is not None:
        if done[0] == minor:
            return gw.Operation(gw.CAPTURE, reference, True, amount, replayed=True)
        return refused("key_reused")
    if row["state"] != gw.AUTHORIZED:
        # captured: a sale, a closed capture or the rest released; declined | voided
        return refused("already_captured" if row["state"] == gw.CAPTURED else row["state"])
    captured = row["captured_minor"] + minor
    if captured > row["amount_minor"]:
        return refused("amount_exceeds_authorized")
    state = gw.CAPTURED if captured == row["amount_minor"] else gw.AUTHORIZED
    await _change(conn, reference, state=state, captured_minor=captured)
    await _record(conn, reference, gw.CAPTURE, key, minor)
    return gw.Operation(gw.CAPTURE, reference, True, amount)


async def _operation(conn: AsyncConnection, reference: str, kind: str, op_key: str) -> Any:
    """(amount_minor,) of the applied operation of this kind and key, or None."""
    return (
        await conn.execute(
            select(ops.c.amount_minor).where(
                ops.c.reference == reference, ops.c.kind == kind, ops.c.op_key == op_key
            )
        )
    ).first()


def _amount(minor: int | None, currency: str) -> Decimal | None:
    return money.from_minor(minor, currency) if minor is not None else None


async def _by_key(conn: AsyncConnection, key: str) -> Any:
    row = (await conn.execute(select(auths).where(auths.c.idempotency_key == key))).first()
    return row._mapping if row is not None else None


async def _by_reference(conn: AsyncConnection, reference: str, *, lock: bool) -> Any:
    query = select(auths).where(auths.c.reference == reference)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return row._mapping if row is not None else None


async def _change(conn: AsyncConnection, reference: str, **values: Any) -> None:
    await conn.execute(
        update(auths).where(auths.c.reference == reference).values(updated_at=clock.now(), **values)
    )


async def _record(
    conn: AsyncConnection, reference: str, kind: str, op_key: str, minor: int | None
) -> None:
    await conn.execute(
        insert(ops).values(
            reference=reference,
            kind=kind,
            op_key=op_key,
            amount_minor=minor,
            created_at=clock.now(),
        )
    )


def _authorization(row: Any) -> gw.Authorization:
    currency = row["currency"]
    return gw.Authorization(
        reference=row["reference"],
        idempotency_key=row["idempotency_key"],
        state=row["state"],
        amount=money.from_minor(row["amount_minor"], currency),
        currency=currency,
        failure_code=row["failure_code"],
        captured_amount=money.from_minor(row["captured_minor"], currency),
        refunded_amount=money.from_minor(row["refunded_minor"], currency),
        card_last4=row["card_last4"],
        card_brand=row["card_brand"],
    )
