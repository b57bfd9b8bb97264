"""Small builders for test data; values stay in variables in the tests that use them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from marketbox.merchants.service import DEMO_MERCHANT_ID


def basket_item(
    *,
    sku: str = "sku-1",
    name: str = "Проездной билет",
    quantity: Decimal | int = 1,
    amount: Decimal = Decimal("100.00"),
    vat_code: str = "VATNONE",
    **overrides: Any,
) -> dict[str, Any]:
    quantity = Decimal(quantity)
    total = (quantity * amount).quantize(Decimal("0.01"))
    rate = {"VATNONE": 0, "RUS_VAT0": 0, "RUS_VAT10": 10, "RUS_VAT20": 20}[vat_code]
    total_vat = (total * rate / (100 + rate)).quantize(Decimal("0.01")) if rate else Decimal(0)
    unit_wo_vat = ((total - total_vat) / quantity).quantize(Decimal("0.01"))
    item = {
        "sku": sku,
        "name": name,
        "measure": "шт.",
        "measureCode": "796",
        "quantity": quantity,
        "amount": amount,
        "amountWoVat": unit_wo_vat,
        "totalAmount": total,
        "totalVatAmount": total_vat,
        "vatCode": vat_code,
        "type": "service",
        "paymentType": "full_prepayment",
    }
    item.update(overrides)
    return item


def order_payload(
    *,
    merchant_id: str = DEMO_MERCHANT_ID,
    merchant_order_id: str = "ORDER-1",
    items: list[dict[str, Any]] | None = None,
    expires_in: timedelta = timedelta(days=1),
    **overrides: Any,
) -> dict[str, Any]:
    items = items if items is not None else [basket_item()]
    payload = {
        "merchantId": merchant_id,
        "merchantOrderId": merchant_order_id,
        "description": "Тестовый заказ",
        "amount": sum((i["totalAmount"] for i in items), Decimal(0)),
        "vatAmount": sum((i["totalVatAmount"] for i in items), Decimal(0)),
        "currencyId": "RUB",
        "languageId": "ru",
        "expirationDate": (datetime.now(UTC) + expires_in).strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        "basketItems": items,
        "customer": {
            "type": "private",
            "name": "Иван",
            "email": "ivan@example.com",
            "phone": "79990001122",
        },
    }
    payload.update(overrides)
    return payload
