"""Shipment rules (spec/api.md §10, §8.7; payments.md §5): what a paid order delivered.

    order hold ---first shipment (capture)---> completed
    shipments: completed on creation (documents at once); several per order, together never
    more than the order's amount; a `final` one closes the order's shipments

A payment held on the card (pre-authorisation) is captured by shipments: each captures what it
ships, and a final one releases what is left of the hold. Every shipment records what it
captured and released (`captured_minor`, `released_minor`); the money itself moves through the
payment gateway seam (docs/security.md lists what is wired). Shipments of one order are
serialized by its container's row lock (docs/security.md "Lock order").
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, ids, money
from marketbox.errors import FieldError, ValidationFailed
from marketbox.merchants.service import Merchant
from marketbox.orders import repository as orders_repository
from marketbox.orders import validation
from marketbox.orders.errors import WrongOrderStatus
from marketbox.orders.serializers import format_datetime
from marketbox.payments import sandbox
from marketbox.receipts import service as receipts_service
from marketbox.shipments import repository
from marketbox.shipments.schemas import CreateShipmentRequest
from marketbox.storage.query import ListQuery

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
    m = row._mapping if hasattr(row, "_mapping") else row
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
    if not ids.is_uuid(order_id):
        raise missing
    order_id = ids.normalize_uuid(order_id)
    row = await orders_repository.get_order(conn, order_id, merchant_id=merchant.id)
    if row is None or row._mapping["subtype"] != "order":
        raise missing
    container = await orders_repository.lock_container(conn, row._mapping["container_id"])
    row = await orders_repository.get_order(conn, order_id, merchant_id=merchant.id)
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

    held = (
        await repository.payment_method(conn, container["payment_id"])
    ) == sandbox.METHOD_CARD_HOLD
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
    await receipts_service.issue_for_shipment(conn, order, row)
    if order["status"] == "hold":
        # The first shipment captures the hold (api.md §8.7): the order is paid for good.
        await orders_repository.update_order(
            conn, order["id"], {"status": "completed", "updated_at": now}, from_statuses=("hold",)
        )
    return shipment_response(row)


async def list_shipments(
    conn: AsyncConnection, *, merchant: Merchant, query: ListQuery
) -> tuple[list[dict[str, Any]], int]:
    rows, total = await repository.list_shipments(conn, merchant_id=merchant.id, query=query)
    return [shipment_response(r) for r in rows], total
