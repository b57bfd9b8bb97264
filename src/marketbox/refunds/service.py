"""Refund rules (spec/api.md §9, payments.md §5): give back what a paid order's buyer paid.

A refund is an order of subtype `refund` whose `parentId` is the paid order, in the parent's
container and currency. States (api.md §9):

    draft ---(correction order, §9.4)---> created ---(money back)---> completed
    draft | created ---DELETE---> canceled

What may be refunded is counted per basket line, matched by `sku` (the MCP server's rule): a
line's `availableAmount` is its total minus every live (not canceled) refund of it, and a
refund may take at most that from each line and at most their sum in all. Refunds of one order
are serialized by the container's row lock (docs/security.md "Lock order"), so two refunds of
the last available amount cannot both pass.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, ids, money
from marketbox.errors import FieldError, ValidationFailed
from marketbox.merchants.service import Merchant
from marketbox.orders import notices, validation
from marketbox.orders import repository as orders_repository
from marketbox.orders.errors import (
    ForeignMerchant,
    MerchantOrderIdDuplicate,
    OrderNotFound,
    WrongOrderStatus,
)
from marketbox.orders.schemas import CreateOrderRequest
from marketbox.orders.serializers import format_datetime, order_response
from marketbox.payments import gateway as gw
from marketbox.payments import operations
from marketbox.receipts import service as receipts_service
from marketbox.refunds import repository
from marketbox.refunds.errors import RefundExceedsAvailable, RefundLineUnknown
from marketbox.refunds.schemas import CreateRefundRequest
from marketbox.shipments import repository as shipments_repository
from marketbox.storage.query import ListQuery, mapping_of

# Only a paid order gives money back (the MCP server refuses anything but `completed`; a
# held payment is captured by a shipment or released by a cancel, never refunded).
REFUNDABLE_STATUS = "completed"
CORRECTION = "correction"


def refund_response(row: Any) -> dict[str, Any]:
    """RefundOrderResponse (api.md §9.2); after a correction (§9.4) also our `correctionAmount`
    and `payoutAmount` (what the buyer gets back: the refund less the correction)."""
    m = mapping_of(row)
    currency = m["currency"]
    extra = m["extra"] or {}
    corrected = {}
    if "correctionAmount" in extra:
        correction = money.round2(Decimal(str(extra["correctionAmount"])))
        corrected = {
            "correctionAmount": correction,
            "payoutAmount": money.from_minor(m["amount_minor"], currency) - correction,
        }
    return {
        "id": m["id"],
        "parentId": m["parent_id"],
        "description": m["description"],
        "merchantOrderId": m["merchant_order_id"],
        "merchantId": m["merchant_id"],
        "amount": money.from_minor(m["amount_minor"], currency),
        "vatAmount": money.from_minor(m["vat_amount_minor"], currency),
        "currencyId": currency,
        "basketItems": m["basket_items"],
        "createdAt": format_datetime(m["created_at"]),
        "status": m["status"],
        **corrected,
    }


def _minor(value: Any, currency: str) -> int:
    return money.to_minor(money.round2(Decimal(value)), currency)


async def _available(conn: AsyncConnection, parent: Any) -> dict[str, list[int]]:
    """sku -> [amount, VAT] still refundable, in minor units."""
    currency = parent["currency"]
    left: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for line in parent["basket_items"] or []:
        left[line["sku"]][0] += _minor(line["totalAmount"], currency)
        left[line["sku"]][1] += _minor(line.get("totalVatAmount") or 0, currency)
    for refund in await repository.live_refunds_of(conn, parent["id"]):
        for line in refund.basket_items or []:
            if line["sku"] in left:
                left[line["sku"]][0] -= _minor(line["totalAmount"], currency)
                left[line["sku"]][1] -= _minor(line.get("totalVatAmount") or 0, currency)
    return left


async def _paid_parent(
    conn: AsyncConnection, merchant: Merchant, order_id: str, *, field: str | None, lock: bool
) -> tuple[Any, Any]:
    """The merchant's paid order and, with `lock`, its container: locked first, the order
    read under the lock (without `lock`, None)."""

    def missing() -> Exception:
        if field is None:
            return OrderNotFound()
        return ValidationFailed(
            "Validation error", fields=[FieldError(field, "wrong_value", "no such order of yours")]
        )

    container = None
    if lock:
        found = await orders_repository.lock_order(conn, order_id, merchant_id=merchant.id)
        row, container = found if found is not None else (None, None)
    elif ids.is_uuid(order_id):
        row = await orders_repository.get_order(
            conn, ids.normalize_uuid(order_id), merchant_id=merchant.id
        )
    else:
        row = None
    if row is None or row._mapping["subtype"] != "order":
        raise missing()
    m = row._mapping
    if m["status"] != REFUNDABLE_STATUS:
        raise WrongOrderStatus(
            f"Only a paid (completed) order is refunded; this one is {m['status']}"
        )
    return m, container


async def _captured_left(conn: AsyncConnection, parent: Any, container: Any) -> int | None:
    """Of an order paid by a hold (`container`: its container, locked): what its shipments
    captured less its live refunds (minor units). None for a payment captured at once."""
    payment = await operations.payment_of(conn, container._mapping["payment_id"])
    if not operations.is_held(payment):
        return None
    shipped = await shipments_repository.live_shipments_of(conn, parent["id"])
    refunded = await repository.live_refunds_of(conn, parent["id"])
    captured = sum(int(s.captured_minor) for s in shipped)
    return captured - sum(int(r.amount_minor) for r in refunded)


async def refundable_items(
    conn: AsyncConnection, *, merchant: Merchant, order_id: str
) -> list[dict[str, Any]]:
    """GET …/order/{id}/refund-basket-item: the paid order's lines with what is left of each."""
    try:
        parent, _ = await _paid_parent(conn, merchant, order_id, field=None, lock=False)
    except WrongOrderStatus:
        # A read answers for any order of the merchant's: one not paid has nothing to refund.
        row = await orders_repository.get_order(
            conn, ids.normalize_uuid(order_id), merchant_id=merchant.id
        )
        nothing = Decimal("0.00")
        return [
            {**line, "availableAmount": nothing, "availableVatAmount": nothing}
            for line in row._mapping["basket_items"] or []
        ]
    currency = parent["currency"]
    left = await _available(conn, parent)
    # A sku on several lines shares one remainder: hand it out line by line, in order.
    items = []
    for line in parent["basket_items"] or []:
        remaining = left[line["sku"]]
        amount = min(_minor(line["totalAmount"], currency), max(remaining[0], 0))
        vat = min(_minor(line.get("totalVatAmount") or 0, currency), max(remaining[1], 0))
        remaining[0] -= amount
        remaining[1] -= vat
        items.append(_what_is_left(line, amount, vat, currency))
    return items


def _what_is_left(line: dict[str, Any], left: int, vat: int, currency: str) -> dict[str, Any]:
    """The line as it can still be refunded: the PHP SDK passes these lines straight back
    into a refund, so `quantity` and the totals are what is left (api.md PHP addendum), and
    `availableAmount` / `availableVatAmount` say it too (the MCP server reads those).

    Whole units left keep the unit price; a part of a unit (a refund by amount) becomes one
    unit at what is left; a line refunded in full is quantity 0, which a refund skips."""
    available = {
        "availableAmount": money.from_minor(left, currency),
        "availableVatAmount": money.from_minor(vat, currency),
    }
    total = _minor(line["totalAmount"], currency)
    if left == total:
        return {**line, **available}
    totals = {
        "totalAmount": money.from_minor(left, currency),
        "totalVatAmount": money.from_minor(vat, currency),
    }
    unit = _minor(line["amount"], currency)
    if left == 0:
        return {**line, **totals, **available, "quantity": 0}
    if unit > 0 and left % unit == 0:
        return {**line, **totals, **available, "quantity": left // unit}
    return {
        **line,
        **totals,
        **available,
        "quantity": 1,
        "amount": money.from_minor(left, currency),
        "amountWoVat": money.from_minor(left - vat, currency),
    }


async def create_refund(
    conn: AsyncConnection, *, merchant: Merchant, request: CreateRefundRequest
) -> dict[str, Any]:
    """POST /v3/billing/api/order/refund-order: a `created` (or `draft`) refund of a paid order."""
    parent, container = await _paid_parent(
        conn, merchant, request.parentId, field="parentId", lock=True
    )
    if merchant.merchant_order_id_unique and await repository.number_taken(
        conn, merchant.id, request.merchantOrderId
    ):
        # First: a client retrying after an unknown result learns its refund exists (MCP).
        raise MerchantOrderIdDuplicate()
    currency = parent["currency"]
    setting = parent["order_setting"] or {}
    validate_amounts = not setting.get("disableValidate")
    # Lines refunded in full come back from refund-basket-item as quantity 0 (and shops pass
    # that list straight back): they ask for nothing.
    asked = [i for i in request.basketItems if not (i.quantity == 0 and i.totalAmount == 0)]
    if not asked:
        raise ValidationFailed(
            "A refund lists the lines it gives back",
            fields=[FieldError("basketItems", "required", "at least one line")],
        )
    lines = validation.check_basket(
        asked,
        round_policy=setting.get("roundPolicy") or "strict",
        validate_amounts=validate_amounts,
    )
    amount = validation.clean_amount(request.amount, "amount")
    vat_amount = validation.clean_amount(request.vatAmount, "vatAmount")
    validation.check_totals(amount, vat_amount, lines, validate_amounts=validate_amounts)
    if amount <= 0:
        raise ValidationFailed(
            "A refund gives back a positive amount",
            fields=[FieldError("amount", "wrong_value", "must be > 0")],
        )

    left = await _available(conn, parent)
    taken: dict[str, int] = defaultdict(int)
    for i, line in enumerate(lines):
        if line["sku"] not in left:
            raise RefundLineUnknown(f"basketItems[{i}].sku")
        taken[line["sku"]] += _minor(line["totalAmount"], currency)
        if taken[line["sku"]] > left[line["sku"]][0]:
            available = money.from_minor(max(left[line["sku"]][0], 0), currency)
            raise RefundExceedsAvailable(f"basketItems[{i}].totalAmount", str(available))
    total_left = sum(max(a, 0) for a, _ in left.values())
    if money.to_minor(amount, currency) > total_left:
        raise RefundExceedsAvailable("amount", str(money.from_minor(total_left, currency)))
    captured_left = await _captured_left(conn, parent, container)
    if captured_left is not None and money.to_minor(amount, currency) > captured_left:
        # A held payment gives back only what its shipments captured (payments.md §5).
        raise RefundExceedsAvailable("amount", str(money.from_minor(captured_left, currency)))

    now = clock.now()
    values = {
        "id": ids.new_id(),
        "container_id": parent["container_id"],
        "merchant_id": merchant.id,
        "merchant_order_id": request.merchantOrderId,
        "merchant_order_key": request.merchantOrderId
        if merchant.merchant_order_id_unique
        else None,
        "merchant_order_id_visible": None,
        "description": request.description,
        "amount_minor": money.to_minor(amount, currency),
        "vat_amount_minor": money.to_minor(vat_amount, currency),
        "currency": currency,
        "language_id": parent["language_id"],
        "status": request.status or "created",
        "subtype": repository.REFUND,
        "joined_as": repository.REFUND,
        "processing_status": "",
        "processable": True,
        "expiration_date": parent["expiration_date"],
        "created_at": now,
        "updated_at": now,
        "paid_at": None,
        "shop_id": parent["shop_id"],
        "parent_id": parent["id"],
        "customer": parent["customer"],
        "basket_items": lines,
        "meta_data": None,
        "notification_url": parent["notification_url"],
        "payment_url": parent["payment_url"],
        "success_url": None,
        "fail_url": None,
        "return_url": None,
        "invoice_setting": None,
        "order_setting": None,
        "extra": None,
    }
    try:
        row = await orders_repository.insert_order_returning(conn, values)
    except IntegrityError as exc:
        if "merchant_order_key" in str(exc.orig):
            raise MerchantOrderIdDuplicate() from exc
        raise
    await notices.enqueue_for_orders(conn, [row], event="refund")
    return refund_response(row)


async def list_refunds(
    conn: AsyncConnection, *, merchant: Merchant, query: ListQuery
) -> tuple[list[dict[str, Any]], int]:
    rows, total = await repository.list_refunds(conn, merchant_id=merchant.id, query=query)
    return [refund_response(r) for r in rows], total


async def create_correction(
    conn: AsyncConnection, *, merchant: Merchant, request: CreateOrderRequest
) -> dict[str, Any]:
    """POST /v3/billing/api/order/correction-order (§9.4): what a draft refund withholds (a fee,
    a penalty, a service charge). The correction is paid out of the refund at once
    (`completed`), the draft refund becomes `created`, and the buyer gets back the refund less
    the correction."""
    if ids.normalize_uuid(request.merchantId) != merchant.id:
        raise ForeignMerchant()
    missing = ValidationFailed(
        "Validation error",
        fields=[FieldError("parentId", "wrong_value", "no draft refund of yours with this id")],
    )
    found = await orders_repository.lock_order(
        conn, request.parentId or "", merchant_id=merchant.id
    )
    if found is None or found[0]._mapping["subtype"] != repository.REFUND:
        raise missing
    refund = found[0]._mapping
    refund_id = refund["id"]
    if refund["status"] != "draft":
        raise WrongOrderStatus(f"A correction needs a draft refund; this one is {refund['status']}")
    currency = refund["currency"]
    if request.currencyId != currency:
        raise validation.OrderRuleError(
            "wrong_currency", f"The refund is in {currency}", "currencyId"
        )
    if merchant.merchant_order_id_unique and await repository.number_taken(
        conn, merchant.id, request.merchantOrderId
    ):
        raise MerchantOrderIdDuplicate()
    setting = request.orderSetting
    validate_amounts = not (setting and setting.disableValidate)
    lines = validation.check_basket(
        request.basketItems,
        round_policy=(setting.roundPolicy if setting and setting.roundPolicy else "strict"),
        validate_amounts=validate_amounts,
    )
    amount = validation.clean_amount(request.amount, "amount")
    vat_amount = validation.clean_amount(request.vatAmount, "vatAmount")
    validation.check_totals(amount, vat_amount, lines, validate_amounts=validate_amounts)
    refund_amount = money.from_minor(refund["amount_minor"], currency)
    if amount > refund_amount:
        raise RefundExceedsAvailable("amount", str(refund_amount))

    now = clock.now()
    correction_id = ids.new_id()
    await orders_repository.insert_order(
        conn,
        {
            "id": correction_id,
            "container_id": refund["container_id"],
            "merchant_id": merchant.id,
            "merchant_order_id": request.merchantOrderId,
            "merchant_order_key": request.merchantOrderId
            if merchant.merchant_order_id_unique
            else None,
            "merchant_order_id_visible": request.merchantOrderIdVisible,
            "description": request.description,
            "amount_minor": money.to_minor(amount, currency),
            "vat_amount_minor": money.to_minor(vat_amount, currency),
            "currency": currency,
            "language_id": refund["language_id"],
            "status": "completed",
            "subtype": CORRECTION,
            "joined_as": CORRECTION,
            "processing_status": "",
            "processable": True,
            "expiration_date": refund["expiration_date"],
            "created_at": now,
            "updated_at": now,
            "paid_at": now,
            "shop_id": refund["shop_id"],
            "parent_id": refund_id,
            "customer": refund["customer"],
            "basket_items": lines,
            "meta_data": request.metaData,
            "notification_url": request.notificationUrl or refund["notification_url"],
            "payment_url": refund["payment_url"],
            "success_url": None,
            "fail_url": None,
            "return_url": None,
            "invoice_setting": None,
            "order_setting": None,
            "extra": None,
        },
    )
    promoted = await orders_repository.update_order(
        conn,
        refund_id,
        {
            "status": "created",
            "updated_at": now,
            "extra": {**(refund["extra"] or {}), "correctionAmount": amount},
        },
        from_statuses=("draft",),
    )
    correction = await orders_repository.get_order(conn, correction_id, merchant_id=merchant.id)
    await receipts_service.issue_for_correction(conn, correction)
    await notices.enqueue_for_orders(conn, [promoted], event="refund")
    await notices.enqueue_for_orders(conn, [correction], event="paid")
    return order_response(correction)


async def pay_out_formed(conn: AsyncConnection, *, limit: int = 100) -> int:
    """Begin the payout of `created` refunds (the worker's sweep); returns how many completed.

    A refund of a payment a gateway took is paid back through it: its refund operation is
    recorded (payments/operations.py), the worker asks the gateway, and the refund completes
    when the gateway has refunded (`payout_effect`). A refund of a payment confirmed by a
    payment instrument - settled outside the platform - or one a correction took in full
    completes at once. Its shop is notified either way.
    """
    due = await repository.formed_without_payout(conn, limit=limit)
    await orders_repository.lock_containers(conn, {container for _, container in due})
    completed = []
    for refund_id, container_id in due:
        refund = await orders_repository.get_order(conn, refund_id, merchant_id=None)
        if refund is None or refund._mapping["status"] != "created":
            continue  # canceled, or paid out by a racing sweep
        if await operations.of_source(conn, operations.REFUND, refund_id):
            continue
        container = await orders_repository.lock_container(conn, container_id)
        payment = await operations.payment_of(conn, container._mapping["payment_id"])
        payout = _payout_minor(refund._mapping)
        if operations.through_gateway(payment) and payout > 0:
            await operations.record(
                conn,
                payment=payment,
                kind=gw.REFUND,
                source=operations.REFUND,
                source_id=refund_id,
                op_key=refund_id,
                amount_minor=payout,
            )
            continue
        done = await repository.complete(conn, refund_id, clock.now())
        if done is not None:
            completed.append(done)
    await _paid_out(conn, completed)
    return len(completed)


async def payout_effect(conn: AsyncConnection, operation: operations.Operation) -> None:
    """What the worker does when the gateway has refunded (an `operations.Effect`): the refund
    completes, and its shop is notified."""
    done = await repository.complete(conn, operation.source_id, clock.now())
    if done is not None:
        await _paid_out(conn, [done])


async def _paid_out(conn: AsyncConnection, refunds: list[Any]) -> None:
    """Refunds that completed: their receipts are issued and their shops notified."""
    await receipts_service.issue_for_refunds(conn, refunds)
    await notices.enqueue_for_orders(conn, refunds, event="refund")


def _payout_minor(refund: Any) -> int:
    """What the buyer gets back: the refund less what a correction withheld (§9.4)."""
    correction = (refund["extra"] or {}).get("correctionAmount")
    withheld = 0 if correction is None else _minor(correction, refund["currency"])
    return int(refund["amount_minor"]) - withheld
