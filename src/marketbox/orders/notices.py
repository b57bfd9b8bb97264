"""What an order's shop is told when the order changes (notifications.md §4): the order as the
API shows it, written to the outbox (notifications/outbox.py) in the caller's transaction.

The orders domain says what a notification contains; the notifications package stores,
signs and delivers it and knows nothing of orders.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.notifications import outbox
from marketbox.orders.serializers import order_response

# Statuses a notification carries for an order event. A hold is reported as paid
# (api.md §8.7: the shop is told "paid" when the funds are held).
_NOTIFIED_STATUS = {"hold": "completed"}


def notification_body(order_row: Any) -> dict[str, Any]:
    body = order_response(order_row)
    body["status"] = _NOTIFIED_STATUS.get(body["status"], body["status"])
    return body


async def enqueue_for_orders(
    conn: AsyncConnection,
    order_rows: Iterable[Any],
    *,
    event: str,
    keys: Mapping[str, outbox.MerchantKey] | None = None,
) -> list[str]:
    """One notification per order, to the order's URL or its merchant's default (`keys`: the
    merchants' keys when the caller read them in this transaction, outbox.enqueue)."""
    return await outbox.enqueue(conn, _notices(order_rows, event), keys=keys)


async def records_for_orders(
    conn: AsyncConnection,
    order_rows: Iterable[Any],
    *,
    event: str,
    keys: Mapping[str, outbox.MerchantKey] | None = None,
) -> list[dict[str, Any]]:
    """The outbox rows `enqueue_for_orders` writes, for a caller that writes them itself
    (outbox.records)."""
    return await outbox.records(conn, _notices(order_rows, event), keys=keys)


def _notices(order_rows: Iterable[Any], event: str) -> list[outbox.Notice]:
    notices = []
    for row in order_rows:
        m = row._mapping
        notices.append(
            outbox.Notice(
                order_id=m["id"],
                merchant_id=m["merchant_id"],
                event=event,
                body=notification_body(row),
                url=m["notification_url"],
            )
        )
    return notices
