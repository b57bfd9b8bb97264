"""Shipment rules (spec/api.md §10, §8.7; payments.md §5): what a paid order delivered.

    order hold ---first shipment (capture)---> completed
    shipments: completed on creation (documents at once); several per order, together never
    more than the order's amount; a `final` one closes the order's shipments

A payment held on the card (pre-authorisation) is captured by shipments: each captures what it
ships, and a final one releases what is left of the order's share of the hold. Every shipment
records what it captured and released (`captured_minor`, `released_minor`) and, in the same
transaction, the gateway capture that moves the money (payments/operations.py; the worker
asks the gateway). One authorization holds the whole invoice, every shop's order in it, so
what is left of it is released once no order of the invoice can take more: each one shipped
in full or finally, or canceled (`release_if_settled`). Shipments of one order are
serialized by its container's row lock (docs/security.md "Lock order").
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, money
from marketbox.errors import FieldError, ValidationFailed
from marketbox.merchants.service import Merchant
from marketbox.orders import repository as orders_repository
from marketbox.orders import validation
from marketbox.orders.errors import WrongOrderStatus
from marketbox.orders.serializers import format_datetime
from marketbox.payments import gateway as gw
from marketbox.payments import operations
from marketbox.payments.sandbox import METHOD_CARD_HOLD
from marketbox.receipts import service as receipts_service
from marketbox.shipments import repository
from marketbox.shipments.schemas import CreateShipmentRequest
from marketbox.storage.query import ListQuery, mapping_of

SHIPPABLE_STATUSES = ("completed", "hold")


class ShipmentExceedsOrder(ValidationFailed):
    """Shipments of an order together ship at most the order's amount (api.md §10.1)."""

    message = "The shipments would exceed the order's amount"

    def __init__(self, available: str) -> None:
        super().__init__(
            f"The shipments would exceed the order's amount: {available} is left to ship",
            fields=[FieldError("basketItems", "wrong_value", f"at most {available} in all")],
        )


def shipment_response(row: Any) -> dict[str, Any]:
    m = mapping_of(row)
    currency = m["currency"]
    return {
        "id": m["id"],
        "orderId": m["order_id"],
        "merchantId": m["merchant_id"],
        "documentNumber": m["document_number"],
        "documentDate": m["document_date"],
        "basketItems": m["basket_items"],
        "final": bool(m["final"]),
        "status": m["status"],
        "type": "shipment",
        "amount": money.from_minor(m["amount_minor"], currency),
        "vatAmount": money.from_minor(m["vat_amount_minor"], currency),
        "currencyId": currency,
        "createdAt": format_datetime(m["created_at"]),
        "metaData": m["meta_data"],
    }


async def _shippable_order(conn: AsyncConnection, merchant: Merchant, order_id: str) -> Any:
    """The merchant's paid order, its container locked first and the order re-read."""
    missing = ValidationFailed(
        "Validation error", fields=[FieldError("orderId", "wrong_value", "no such order of yours")]
    )
    found = await orders_repository.lock_order(conn, order_id, merchant_id=merchant.id)
    if found is None or found[0]._mapping["subtype"] != "order":
        raise missing
    row, container = found
    m = row._mapping
    if m["status"] not in SHIPPABLE_STATUSES:
        raise WrongOrderStatus(f"Only a paid order is shipped; this one is {m['status']}")
    return m, container._mapping


async def create_shipment(
    conn: AsyncConnection, *, merchant: Merchant, request: CreateShipmentRequest
) -> dict[str, Any]:
    """POST /v3/billing/api/order/shipment."""
    order, container = await _shippable_order(conn, merchant, request.orderId)
    currency = order["currency"]
    setting = order["order_setting"] or {}
    validate_amounts = not setting.get("disableValidate")
    lines = validation.check_basket(
        request.basketItems,
        round_policy=setting.get("roundPolicy") or "strict",
        validate_amounts=validate_amounts,
    )
    amount = money.to_minor(sum((line["totalAmount"] for line in lines), Decimal(0)), currency)
    vat = money.to_minor(sum((line["totalVatAmount"] for line in lines), Decimal(0)), currency)
    earlier = await repository.live_shipments_of(conn, order["id"])
    if any(s.final for s in earlier):
        raise WrongOrderStatus("The order's last shipment was final: nothing more is shipped")
    shipped = sum(s.amount_minor for s in earlier)
    left = order["amount_minor"] - shipped
    if amount > left:
        raise ShipmentExceedsOrder(str(money.from_minor(left, currency)))

    payment = await operations.payment_of(conn, container["payment_id"])
    held = payment is not None and payment["method"] == METHOD_CARD_HOLD
    final = bool(request.final)
    now = clock.now()
    row = await repository.insert_shipment(
        conn,
        {
            "order_id": order["id"],
            "merchant_id": merchant.id,
            "document_number": request.documentNumber,
            "document_date": request.documentDate,
            "basket_items": lines,
            "amount_minor": amount,
            "vat_amount_minor": vat,
            "currency": currency,
            "final": final,
            "status": "completed",
            "captured_minor": amount if held else 0,
            "released_minor": left - amount if held and final else 0,
            "meta_data": request.metaData,
            "created_at": now,
        },
    )
    await receipts_service.issue_for_shipment(conn, order, row, payer=container["payer"] or {})
    if order["status"] == "hold":
        # The first shipment captures the hold (api.md §8.7): the order is paid for good.
        await orders_repository.update_order(
            conn, order["id"], {"status": "completed", "updated_at": now}, from_statuses=("hold",)
        )
    if operations.is_held(payment) and amount > 0:
        await operations.record(
            conn,
            payment=payment,
            kind=gw.CAPTURE,
            source=operations.SHIPMENT,
            source_id=str(row._mapping["id"]),
            op_key=f"shipment-{row._mapping['id']}",
            amount_minor=amount,
        )
    if final or amount == left:
        # This order is settled now; the container's lock and its payment are in hand.
        await _release_if_settled(conn, container["id"], payment, settled=order["id"])
    return shipment_response(row)


async def release_if_settled(conn: AsyncConnection, container_id: str) -> bool:
    """Release what is left of the invoice's hold once no order in it can take more: every
    order shipped in full or finally, or canceled. Records the void (payments/operations.py)
    and answers True; the caller holds the container's row lock."""
    container = await orders_repository.lock_container(conn, container_id)
    payment = await operations.payment_of(conn, container._mapping["payment_id"])
    return await _release_if_settled(conn, container_id, payment, settled=None)


async def _release_if_settled(
    conn: AsyncConnection, container_id: str, payment: Any, *, settled: str | None
) -> bool:
    """`release_if_settled` with the container locked and its payment read by the caller;
    `settled`: an order the caller knows is settled (its shipments need no reading)."""
    if not operations.is_held(payment):
        return False
    for order in await orders_repository.orders_of_container(conn, container_id):
        if order.subtype != "order" or order.status in ("canceled", "expired"):
            continue
        if order.id == settled:
            continue
        if order.status == "hold":
            return False  # nothing shipped yet: it may still capture its share
        shipped = await repository.live_shipments_of(conn, order.id)
        if not any(s.final for s in shipped) and sum(s.amount_minor for s in shipped) < (
            order.amount_minor
        ):
            return False
    if await operations.captured_minor(conn, payment["id"]) >= payment["amount_minor"]:
        return False  # captured in full: nothing is held any more
    return await operations.record(
        conn,
        payment=payment,
        kind=gw.VOID,
        source=operations.RELEASE,
        source_id=container_id,
        op_key="",
        amount_minor=None,
    )


async def list_shipments(
    conn: AsyncConnection, *, merchant: Merchant, query: ListQuery
) -> tuple[list[dict[str, Any]], int]:
    rows, total = await repository.list_shipments(conn, merchant_id=merchant.id, query=query)
    return [shipment_response(r) for r in rows], total
