"""Rows to the OrderResponse JSON shape (api.md §8.1), shared by the API and notifications.

Every field the official PHP SDK reads unconditionally is always present (api.md PHP addendum):
id, paymentUrl, createdAt, status, description, merchantId, merchantOrderId, amount, vatAmount,
currencyId, customer (with `type`), orderContainerId, basketItems, expirationDate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marketbox import money
from marketbox.storage.query import mapping_of

OPTIONAL_TEXT = (
    ("merchantOrderIdVisible", "merchant_order_id_visible"),
    ("successUrl", "success_url"),
    ("failUrl", "fail_url"),
    ("returnUrl", "return_url"),
    ("notificationUrl", "notification_url"),
    ("parentId", "parent_id"),
)


def format_datetime(value: datetime) -> str:
    """ATOM format with an explicit +00:00 offset (api.md §1.4): the UTC wall clock we store."""
    return value.replace(tzinfo=None, microsecond=0).isoformat() + "+00:00"


def order_response(row: Any) -> dict[str, Any]:
    m = mapping_of(row)
    currency = m["currency"]
    customer = dict(m["customer"] or {})
    customer.setdefault("type", "private")
    out: dict[str, Any] = {
        "id": m["id"],
        "orderContainerId": m["container_id"],
        "merchantId": m["merchant_id"],
        "merchantOrderId": m["merchant_order_id"],
        "description": m["description"],
        "currencyId": currency,
        "amount": money.from_minor(m["amount_minor"], currency),
        "vatAmount": money.from_minor(m["vat_amount_minor"], currency),
        "basketItems": m["basket_items"],
        "status": m["status"],
        "subtype": m["subtype"],
        "processingStatus": m["processing_status"],
        "createdAt": format_datetime(m["created_at"]),
        "expirationDate": format_datetime(m["expiration_date"]),
        "fileIds": [],
        "paymentUrl": m["payment_url"],
        "customer": customer,
        "languageId": m["language_id"] or "ru",
        "processable": bool(m["processable"]),
    }
    for key, column in OPTIONAL_TEXT:
        if m[column] is not None:
            out[key] = m[column]
    if m["paid_at"] is not None:
        out["paidAt"] = format_datetime(m["paid_at"])
    if m["shop_id"] is not None:
        out["shopId"] = m["shop_id"]
    if m["meta_data"] is not None:
        out["metaData"] = m["meta_data"]
    if m["invoice_setting"] is not None:
        out["invoiceSetting"] = m["invoice_setting"]
    if m["order_setting"] is not None:
        out["orderSetting"] = m["order_setting"]
    extra = m["extra"] or {}
    out.update(extra)
    return out
