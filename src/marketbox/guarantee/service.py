"""Guarantee actions (api.md §11): a shop confirms an order's payment with a code the payer
received, without sending the payer to the payment page.

    validate   can this payer pay this order with this instrument?  notRegistered |
               notEnoughMoney | available
    send-code  a code goes to the payer                             success | codeAlreadySent |
                                                                    error
    pay        the payer's code pays the order's invoice            success | wrongCode |
                                                                    limitReached |
                                                                    notEnoughMoney |
                                                                    alreadyPaid | error

One code row per (order, payment method), in the database so that every API process sees the
same counters:

    (none) --send--> active: sends_left - 1, attempts_left = max, expires_at = now + ttl
    active --send, resend window over, sends left--> active with a new code and publicCode
    active --pay, wrong code--> attempts_left - 1 (none left: the code is dead)
    active --pay, right code--> used (the invoice is paid)

send-code and pay lock the order's container first (the lock every change of an invoice
takes, docs/security.md), so two processes never hand out two codes at once or pay twice;
a try is also taken by a conditional UPDATE before the code is compared. The payment itself
goes through `payments.service.pay_container`, the payment page's race-safe path: every
unpaid order of the invoice becomes `completed` and each shop gets its notification.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, ids, money, requisites
from marketbox.errors import FieldError, ValidationFailed
from marketbox.guarantee import repository, sandbox, texts
from marketbox.guarantee.schemas import ActionRequest, PayRequest
from marketbox.merchants.service import Merchant
from marketbox.orders import service as orders_service
from marketbox.orders import validation
from marketbox.orders.errors import WrongOrderStatus
from marketbox.payments import repository as payments_repository
from marketbox.payments import service as payments_service
from marketbox.payments.errors import AlreadyPaid, ContainerNotPayable

PAID_STATUSES = ("completed", "hold")
_REDIRECT_NONE = {"url": "", "method": "POST", "arguments": []}


@dataclass(frozen=True)
class CodeRules:
    """How long a code lives and how often it may be sent and tried (MARKETBOX_GUARANTEE_*)."""

    ttl_seconds: int = 600
    resend_seconds: int = 60
    sends: int = 3
    attempts: int = 3


@dataclass(frozen=True)
class _Order:
    row: Any
    paid: bool  # completed or hold: validate/send-code refuse, pay answers alreadyPaid
    language: str

    @property
    def id(self) -> str:
        return str(self.row._mapping["id"])

    @property
    def container_id(self) -> str:
        return str(self.row._mapping["container_id"])

    @property
    def currency(self) -> str:
        return str(self.row._mapping["currency"])


# --- the three actions -----------------------------------------------------------------------


async def validate(
    conn: AsyncConnection,
    *,
    merchant: Merchant,
    order_id: str,
    request: ActionRequest,
    mode: str,
) -> dict[str, Any]:
    order = await _order(conn, merchant, order_id, request, lock=False)
    if order.paid:
        raise WrongOrderStatus("The order is already paid")
    _method(request)
    payer = sandbox.find_payer(_payer_inn(request), mode=mode)
    if payer is None:
        return _validated("notRegistered", texts.note(order.language, "notRegistered"))
    if not _affords(payer, await _total(conn, order)):
        return _validated("notEnoughMoney", texts.note(order.language, "notEnoughMoney"))
    return _validated("available", None)


async def send_code(
    conn: AsyncConnection,
    *,
    merchant: Merchant,
    order_id: str,
    request: ActionRequest,
    mode: str,
    rules: CodeRules,
) -> dict[str, Any]:
    order = await _order(conn, merchant, order_id, request, lock=True)
    if order.paid:
        raise WrongOrderStatus("The order is already paid")
    method_id = _method(request)
    payer = sandbox.find_payer(_payer_inn(request), mode=mode)
    now = clock.now()
    row = await repository.get_code(conn, order.id, method_id)
    current = row._mapping if row is not None else None
    sends_left = current["sends_left"] if current is not None else rules.sends
    language = order.language
    if payer is None:
        return _code_answer("error", texts.note(language, "notRegistered"), None, sends_left)
    if (
        current is not None
        and current["status"] == "active"
        and current["expires_at"] > now
        and current["attempts_left"] > 0  # a dead code may be replaced at once
        and now < current["sent_at"] + timedelta(seconds=rules.resend_seconds)
    ):
        return _code_answer(
            "codeAlreadySent",
            texts.note(language, "codeAlreadySent"),
            current["public_code"],
            sends_left,
        )
    if sends_left <= 0:
        return _code_answer("error", texts.note(language, "noSendsLeft"), None, 0)
    if not payer.delivers_code:
        return _code_answer("error", texts.note(language, "notDelivered"), None, sends_left)
    public_code = ids.new_id()
    values = {
        "payer_vat_number": payer.vat_number,
        "public_code": public_code,
        "code_hash": _code_hash(public_code, sandbox.new_code(payer)),
        "sends_left": sends_left - 1,
        "attempts_left": rules.attempts,
        "sent_at": now,
        "expires_at": now + timedelta(seconds=rules.ttl_seconds),
        "status": "active",
        "updated_at": now,
    }
    if current is None:
        await repository.insert_code(
            conn,
            {
                **values,
                "id": ids.new_id(),
                "order_id": order.id,
                "payment_method_id": method_id,
                "created_at": now,
            },
        )
    else:
        await repository.update_code(conn, current["id"], values)
    return _code_answer("success", None, public_code, sends_left - 1)


async def pay(
    conn: AsyncConnection,
    *,
    merchant: Merchant,
    order_id: str,
    request: PayRequest,
    mode: str,
) -> dict[str, Any]:
    order = await _order(conn, merchant, order_id, request, lock=True)
    language = order.language
    if order.paid:
        return _paid_answer(language, "alreadyPaid")
    method_id = _method(request)
    payer_inn = _payer_inn(request)
    given = request.customerPaymentData
    now = clock.now()
    row = await repository.get_code(conn, order.id, method_id)
    current = row._mapping if row is not None else None
    if (
        current is None
        or current["status"] != "active"
        or current["public_code"] != given.publicCode.lower()
        or current["expires_at"] <= now
    ):
        return _paid_answer(language, "error", text="codeExpired")
    if current["payer_vat_number"] != payer_inn:
        return _paid_answer(language, "error", text="otherPayer")
    left = await repository.spend_attempt(conn, current["id"], now)
    if left is None:
        return _paid_answer(language, "limitReached")
    if not hmac.compare_digest(
        current["code_hash"], _code_hash(current["public_code"], given.code)
    ):
        if left == 0:
            return _paid_answer(language, "limitReached")
        return _paid_answer(language, "wrongCode", left=left)
    payer = sandbox.find_payer(current["payer_vat_number"], mode=mode)
    if payer is None:  # the platform left the sandbox since the code was sent
        return _paid_answer(language, "error", text="codeExpired")
    if not _affords(payer, await _total(conn, order)):
        return _paid_answer(language, "notEnoughMoney")
    try:
        await payments_service.pay_container(
            conn,
            container_id=order.container_id,
            method=sandbox.PAYMENT_METHODS[method_id],
            details={
                "paymentMethodId": method_id,
                "publicCode": current["public_code"],
                "payerVatNumber": payer.vat_number,
            },
        )
    except AlreadyPaid:  # paid between our read and the claim (the lock makes this rare)
        return _paid_answer(language, "alreadyPaid")
    except ContainerNotPayable as exc:
        raise WrongOrderStatus(f"The invoice is {exc.container_status}") from exc
    await repository.update_code(conn, current["id"], {"status": "used", "updated_at": now})
    return {"type": "none", "result": "success", "resultData": {}}


# --- shared checks ---------------------------------------------------------------------------


async def _order(
    conn: AsyncConnection,
    merchant: Merchant,
    order_id: str,
    request: ActionRequest,
    *,
    lock: bool,
) -> _Order:
    """The merchant's order, payable through this flow or already paid; 404 / 422 otherwise."""
    validation.check_language(request.languageId)
    row = await orders_service.get_owned_order(
        conn, merchant=merchant, order_id=order_id, lock=lock
    )
    m = row._mapping
    language = request.languageId or m["language_id"] or "ru"
    if m["status"] in PAID_STATUSES:
        return _Order(row, True, language)
    if m["status"] != "created":
        raise WrongOrderStatus(f"An order in status {m['status']} cannot be paid")
    if not m["processable"]:
        raise WrongOrderStatus("The order is settled outside the platform (processable: false)")
    if m["joined_as"] == "addon":
        raise WrongOrderStatus("An add-on order is paid with its invoice on the payment page")
    if lock:  # a change: a passed deadline is recorded first
        status = await payments_service.current_status(conn, m["container_id"])
    else:  # a check: writes nothing
        status = await payments_service.effective_status(conn, m["container_id"])
    if status != "pending":
        raise WrongOrderStatus(f"The invoice is {status}")
    return _Order(row, False, language)


def _method(request: ActionRequest) -> str:
    if request.paymentMethodId not in sandbox.PAYMENT_METHODS:
        raise ValidationFailed(
            "Unknown payment method",
            fields=[FieldError("paymentMethodId", "wrong_value", "not a guarantee instrument")],
        )
    return request.paymentMethodId


def _payer_inn(request: ActionRequest) -> str | None:
    """The payer's INN from `customer.vatNumber`: None when absent, 422 when not an INN."""
    vat_number = request.customer.vatNumber
    if vat_number is None or vat_number == "":
        return None
    problem = requisites.inn_problem(vat_number)
    if problem is not None:
        raise ValidationFailed(
            "customer.vatNumber is not a valid INN",
            fields=[FieldError("customer.vatNumber", "wrong_value", problem)],
        )
    return vat_number


async def _total(conn: AsyncConnection, order: _Order) -> Decimal:
    """What paying the invoice now would take: every unpaid order in it."""
    payable = await payments_repository.payable(conn, order.container_id)
    return money.from_minor(payable.total_minor, order.currency)


def _affords(payer: sandbox.Payer, total: Decimal) -> bool:
    return payer.available is None or total <= payer.available


def _code_hash(public_code: str, code: str) -> str:
    return hashlib.sha256(f"{public_code}:{code}".encode()).hexdigest()


# --- answers ---------------------------------------------------------------------------------


def _validated(result: str, note: str | None) -> dict[str, Any]:
    return {
        "type": "none",
        "result": result,
        "resultNote": note,
        "resultData": dict(_REDIRECT_NONE, arguments=[]),
    }


def _code_answer(
    result: str, note: str | None, public_code: str | None, left: int
) -> dict[str, Any]:
    return {
        "type": "none",
        "result": result,
        "resultNote": note,
        "resultData": {"publicCode": public_code, "leftAttempt": left},
    }


def _paid_answer(
    language: str, result: str, *, text: str | None = None, left: int = 0
) -> dict[str, Any]:
    return {
        "type": "message",
        "result": result,
        "resultData": {"message": texts.message(language, text or result, left=left)},
    }
