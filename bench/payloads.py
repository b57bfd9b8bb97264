"""Request bodies shared by the server and the floor, rendered once before any timing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from marketbox import jsonutil
from marketbox.merchants.service import DEMO_MERCHANT_ID, DEMO_TOKEN

DEMO_HEADERS = {"Authorization": f"Bearer {DEMO_TOKEN}", "Content-Type": "application/json"}

# A typical two-line basket: one line with 20 % VAT, one without.
BASKET = [
    {
        "sku": "ticket-adult",
        "name": "Проездной билет",
        "measure": "шт.",
        "measureCode": "796",
        "quantity": Decimal(3),
        "amount": Decimal("123.96"),
        "amountWoVat": Decimal("103.30"),
        "totalAmount": Decimal("371.88"),
        "totalVatAmount": Decimal("61.98"),
        "vatCode": "RUS_VAT20",
        "type": "service",
        "paymentType": "full_prepayment",
    },
    {
        "sku": "delivery",
        "name": "Доставка",
        "measure": "шт.",
        "measureCode": "796",
        "quantity": Decimal(1),
        "amount": Decimal("250.00"),
        "amountWoVat": Decimal("250.00"),
        "totalAmount": Decimal("250.00"),
        "totalVatAmount": Decimal("0.00"),
        "vatCode": "VATNONE",
        "type": "commodity",
        "paymentType": "full_prepayment",
    },
]
ORDER_AMOUNT = Decimal("621.88")
ORDER_VAT_AMOUNT = Decimal("61.98")
CURRENCY = "RUB"


def order(merchant_order_id: str, *, notification_url: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "merchantId": DEMO_MERCHANT_ID,
        "merchantOrderId": merchant_order_id,
        "description": "Заказ из бенчмарка",
        "amount": ORDER_AMOUNT,
        "vatAmount": ORDER_VAT_AMOUNT,
        "currencyId": CURRENCY,
        "languageId": "ru",
        "expirationDate": (datetime.now(UTC) + timedelta(days=1)).strftime(
            "%Y-%m-%dT%H:%M:%S+00:00"
        ),
        "basketItems": BASKET,
        "customer": {"type": "private", "name": "Иван", "email": "ivan@example.com"},
    }
    if notification_url is not None:
        payload["notificationUrl"] = notification_url
    return payload


def order_body(merchant_order_id: str) -> str:
    """The exact JSON text sent (Decimals as JSON numbers, never through float)."""
    return jsonutil.dumps(order(merchant_order_id)).decode()


# After the payment: a refund gives back one line (the delivery) of the two, a partial refund;
# a shipment ships the whole basket and closes the order's shipments (`final`).
REFUND_LINE = BASKET[1]


def refund_body(parent_id: str, merchant_order_id: str) -> str:
    """POST /v3/billing/api/order/refund-order: a partial refund of one line of `parent_id`."""
    return jsonutil.dumps(
        {
            "parentId": parent_id,
            "merchantOrderId": merchant_order_id,
            "description": "Возврат доставки",
            "amount": REFUND_LINE["totalAmount"],
            "vatAmount": REFUND_LINE["totalVatAmount"],
            "basketItems": [REFUND_LINE],
        }
    ).decode()


def shipment_body(order_id: str, document_number: str) -> str:
    """POST /v3/billing/api/order/shipment: the whole basket of `order_id`, the final one."""
    return jsonutil.dumps(
        {
            "orderId": order_id,
            "documentNumber": document_number,
            "documentDate": datetime.now(UTC).strftime("%Y-%m-%d"),
            "basketItems": BASKET,
            "final": True,
        }
    ).decode()
