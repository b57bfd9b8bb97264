"""Writing notifications into the outbox, inside the caller's transaction.

A status change and its notification commit together or not at all; the dispatcher
(dispatcher.py) delivers what is committed. The body is frozen here, byte for byte, and
signed once: every retry sends the identical body and signature (notifications.md §6).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, ids, jsonutil
from marketbox.orders.serializers import order_response
from marketbox.security import signing
from marketbox.storage.tables import merchants, notifications

# Spec: the notification id is the order id; the monitoring test uses this fixed one.
TEST_NOTIFICATION_ORDER_ID = "ffffffff-ffff-ffff-ffff-ffffffffffff"

# Statuses a notification carries for an order event. A hold is reported as paid
# (api.md §8.7: the shop is told "paid" when the funds are held).
_NOTIFIED_STATUS = {"hold": "completed"}


_MERCHANT_KEYS = select(
    merchants.c.id,
    merchants.c.signing_key,
    merchants.c.sign_algorithm,
    merchants.c.notification_url,
).where(merchants.c.id.in_(bindparam("ids", expanding=True)))
_INSERT_NOTIFICATION = insert(notifications)


async def _merchant_keys(conn: AsyncConnection, merchant_ids: set[str]) -> dict[str, Any]:
    """Signing data of the merchants, read in the caller's transaction: a notification is
    signed with the key committed at that moment, whichever process rotated it (no cache that
    another process would have to invalidate)."""
    found = await conn.execute(_MERCHANT_KEYS, {"ids": list(merchant_ids)})
    return {row.id: row for row in found.all()}


def notification_body(order_row: Any, payment_base: str) -> dict[str, Any]:
    body = order_response(order_row, payment_base)
    body["status"] = _NOTIFIED_STATUS.get(body["status"], body["status"])
    return body


async def enqueue_for_orders(
    conn: AsyncConnection, order_rows: Iterable[Any], *, payment_base: str, event: str
) -> list[str]:
    """One outbox record per order, to the order's URL or its merchant's default."""
    rows = list(order_rows)
    if not rows:
        return []
    merchant_ids = {r._mapping["merchant_id"] for r in rows}
    keys = await _merchant_keys(conn, merchant_ids)
    now = clock.now()
    values = []
    for row in rows:
        m = row._mapping
        merchant = keys[m["merchant_id"]]
        body = jsonutil.dumps_php(notification_body(row, payment_base))
        values.append(
            _record(
                order_id=m["id"],
                merchant_id=m["merchant_id"],
                event=event,
                url=m["notification_url"] or merchant.notification_url,
                body=body,
                signature=signing.sign(body, merchant.signing_key, merchant.sign_algorithm),
                now=now,
            )
        )
    await conn.execute(_INSERT_NOTIFICATION, values)
    return [v["id"] for v in values]


async def enqueue_test(conn: AsyncConnection, *, merchant_id: str, payment_base: str) -> str:
    """The monitoring test notification (notifications.md §6.1): changes no order."""
    merchant = (await conn.execute(select(merchants).where(merchants.c.id == merchant_id))).first()
    if merchant is None:
        raise LookupError(merchant_id)
    now = clock.now()
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    body_obj = {
        "id": TEST_NOTIFICATION_ORDER_ID,
        "description": "Test notification",
        "currencyId": "RUB",
        "amount": 0,
        "vatAmount": 0,
        "basketItems": [],
        "orderContainerId": TEST_NOTIFICATION_ORDER_ID,
        "merchantId": merchant_id,
        "status": "completed",
        "subtype": "order",
        "createdAt": stamp,
        "merchantOrderId": "",
        "expirationDate": stamp,
        "fileIds": [],
        "paymentUrl": f"{payment_base}/order/{TEST_NOTIFICATION_ORDER_ID}",
        "customer": {"type": "private"},
        "languageId": "ru",
        "processable": True,
    }
    body = jsonutil.dumps_php(body_obj)
    record = _record(
        order_id=TEST_NOTIFICATION_ORDER_ID,
        merchant_id=merchant_id,
        event="test",
        url=merchant._mapping["notification_url"],
        body=body,
        signature=signing.sign(
            body, merchant._mapping["signing_key"], merchant._mapping["sign_algorithm"]
        ),
        now=now,
    )
    await conn.execute(insert(notifications).values(**record))
    return str(record["id"])


def _record(
    *,
    order_id: str,
    merchant_id: str,
    event: str,
    url: str | None,
    body: bytes,
    signature: str,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": ids.new_id(),
        "order_id": order_id,
        "merchant_id": merchant_id,
        "event": event,
        "url": url,
        "body": body,
        "signature": signature,
        # With no URL anywhere there is nobody to call; keep the record, visible and resendable.
        "status": "pending" if url else "no_url",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
