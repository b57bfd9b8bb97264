"""The delivery log and the manual actions on it, for one merchant (docs/notifications.md §8).

Reading: the merchant's notifications (filters and paging of api.md §6) and one notification
with every attempt: the exact request (URL, headers with `X-Signature`, the frozen body) and
the shop's reply (status, headers, body cut to `delivery.MAX_STORED_REPLY`, time taken) with
our verdict.

Acting (each in the caller's transaction except `send_test`, which delivers at once):

    resend          pending, being sent now        -> refused (NotificationInFlight, 409)
                    pending, waiting for a retry   -> same record, re-signed, due now
                    delivered/rejected/abandoned/
                    no_url                         -> a new pending record: same body,
                                                      re-signed, `resent_from` the old one
    resend_failed   every rejected/abandoned record not resent yet -> resend
    send_test       the monitoring notification to a URL, delivered now, its attempt returned
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, ids
from marketbox.config import Settings
from marketbox.notifications import outbox
from marketbox.notifications.dispatcher import Dispatcher
from marketbox.notifications.errors import (
    NoNotificationUrl,
    NotificationInFlight,
    NotificationNotFound,
)
from marketbox.orders.serializers import format_datetime
from marketbox.storage.db import Database
from marketbox.storage.query import Condition, ListQuery, compare, fetch_page, mapping_of
from marketbox.storage.tables import merchants, notification_attempts, notifications

FILTER_COLUMNS = {
    "id": notifications.c.id,
    "orderId": notifications.c.order_id,
    "status": notifications.c.status,
    "event": notifications.c.event,
    "createdAt": notifications.c.created_at,
}
SORT_COLUMNS = {"createdAt": notifications.c.created_at, "id": notifications.c.id}
FAILED = ("rejected", "abandoned")
# One resend-failed call re-queues at most this many records; call again for the rest.
MAX_RESEND_FAILED = 1000
# The columns a list shows: everything but the body bytes.
_SUMMARY = [c for c in notifications.c if c.name != "body"]


async def list_notifications(
    conn: AsyncConnection, *, merchant_id: str, query: ListQuery
) -> tuple[list[dict[str, Any]], int]:
    where = and_(
        notifications.c.merchant_id == merchant_id, *(_condition(c) for c in query.conditions)
    )
    rows, total = await fetch_page(
        conn, notifications, where, query, SORT_COLUMNS, columns=_SUMMARY
    )
    return [notification_summary(r) for r in rows], total


async def get_summary(
    conn: AsyncConnection, notification_id: str, *, merchant_id: str | None
) -> dict[str, Any]:
    """One notification as a list shows it (no body, no attempts)."""
    return notification_summary(await _find(conn, notification_id, merchant_id=merchant_id))


async def get_notification(
    conn: AsyncConnection, notification_id: str, *, merchant_id: str | None
) -> dict[str, Any]:
    """One notification, its request and every attempt, oldest first."""
    row = await _find(conn, notification_id, merchant_id=merchant_id)
    found = await conn.execute(
        select(notification_attempts)
        .where(notification_attempts.c.notification_id == row.id)
        .order_by(notification_attempts.c.attempt)
    )
    body = _text(row.body)
    return {
        **notification_summary(row),
        "request": {
            "url": row.url,
            "headers": {"Content-Type": "application/json", "X-Signature": row.signature},
            "body": body,
        },
        "attempts": [attempt_view(a, body) for a in found.all()],
    }


async def resend(conn: AsyncConnection, notification_id: str, *, merchant_id: str | None) -> str:
    """Send a notification again, signed with the merchant's current key; returns the id of
    the record that carries it (see the module's table). Never commits."""
    row = await _find(conn, notification_id, merchant_id=merchant_id)
    return await _resend_row(conn, row)


async def resend_failed(conn: AsyncConnection, *, merchant_id: str) -> list[str]:
    """Resend every `rejected` or `abandoned` notification of the merchant that has not been
    resent yet (at most MAX_RESEND_FAILED, oldest first); returns the new records' ids."""
    n = notifications
    again = n.alias("again")
    found = await conn.execute(
        select(n)
        .where(
            n.c.merchant_id == merchant_id,
            n.c.status.in_(FAILED),
            ~exists().where(again.c.resent_from == n.c.id),
        )
        .order_by(n.c.created_at, n.c.id)
        .limit(MAX_RESEND_FAILED)
    )
    return [await _resend_row(conn, row) for row in found.all()]


async def send_test(
    db: Database, settings: Settings, *, merchant_id: str, url: str | None = None
) -> dict[str, Any]:
    """Deliver the monitoring test notification (notifications.md §6.1) to `url`, or the
    merchant's default URL, now; returns the attempt as the log shows it (with
    `notificationId`). The record stays in the log; a failed one is retried like any other.

    Raises NoNotificationUrl when there is nowhere to send it, LookupError for an unknown
    merchant.
    """
    async with Dispatcher(settings, db) as dispatcher:
        async with db.transaction() as conn:
            default_url = (
                await conn.execute(
                    select(merchants.c.notification_url).where(merchants.c.id == merchant_id)
                )
            ).first()
            if default_url is None:
                raise LookupError(merchant_id)
            if not (url or default_url.notification_url):
                raise NoNotificationUrl()
            # Not due for the worker yet: this call claims it itself right after the commit.
            notification_id = await outbox.enqueue_test(
                conn,
                merchant_id=merchant_id,
                payment_url=settings.payment_url(outbox.TEST_NOTIFICATION_ORDER_ID),
                url=url,
                due_at=clock.now() + timedelta(seconds=dispatcher.lease_seconds),
            )
        await dispatcher.deliver_now(notification_id)
    async with db.read() as conn:
        detail = await get_notification(conn, notification_id, merchant_id=merchant_id)
    last = detail["attempts"][-1] if detail["attempts"] else None
    return {"notificationId": notification_id, "status": detail["status"], "attempt": last}


# -- views -----------------------------------------------------------------------------------


def notification_summary(row: Any) -> dict[str, Any]:
    m = mapping_of(row)
    return {
        "id": m["id"],
        "orderId": m["order_id"],
        "merchantId": m["merchant_id"],
        "event": m["event"],
        "url": m["url"],
        "status": m["status"],
        "attemptCount": m["attempts"],
        "nextAttemptAt": _when(m["next_attempt_at"]) if m["status"] == "pending" else None,
        "inFlight": _in_flight(m),
        "lastError": m["last_error"],
        "resentFrom": m["resent_from"],
        "createdAt": _when(m["created_at"]),
        "finishedAt": _when(m["finished_at"]),
    }


def attempt_view(row: Any, body: str) -> dict[str, Any]:
    """One attempt: what was sent (the body is the notification's own), what came back."""
    m = mapping_of(row)
    replied = m["http_status"] is not None
    return {
        "attempt": m["attempt"],
        "startedAt": _when(m["started_at"]),
        "durationMs": m["duration_ms"],
        "request": {"url": m["request_url"], "headers": m["request_headers"], "body": body},
        "response": {
            "status": m["http_status"],
            "headers": m["response_headers"],
            "body": m["response_body"],
        }
        if replied
        else None,
        "outcome": m["outcome"],
        "reason": m["reason"],
        "replyCode": m["reply_code"],
        "error": m["error"],
        "dispatcher": m["dispatcher"],
    }


# -- internals -------------------------------------------------------------------------------


async def _find(conn: AsyncConnection, notification_id: str, *, merchant_id: str | None) -> Any:
    if not ids.is_uuid(notification_id):
        raise NotificationNotFound()
    query = select(notifications).where(notifications.c.id == ids.normalize_uuid(notification_id))
    if merchant_id is not None:
        query = query.where(notifications.c.merchant_id == merchant_id)
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotificationNotFound()
    return row


async def _resend_row(conn: AsyncConnection, row: Any) -> str:
    n = notifications
    now = clock.now()
    body = bytes(row.body)
    signature = await outbox.sign_now(conn, row.merchant_id, body)
    if row.status == "pending":
        # Only if no dispatcher holds it: the conditional UPDATE decides, not the read above.
        hurried = await conn.execute(
            update(n)
            .where(
                n.c.id == row.id,
                n.c.status == "pending",
                or_(n.c.lease_until.is_(None), n.c.lease_until < now),
            )
            .values(next_attempt_at=now, signature=signature)
        )
        if hurried.rowcount != 1:
            raise NotificationInFlight()
        return str(row.id)
    url = row.url
    if url is None:
        url = (
            await conn.execute(
                select(merchants.c.notification_url).where(merchants.c.id == row.merchant_id)
            )
        ).scalar_one_or_none()
    new_id = ids.new_id()
    await conn.execute(
        n.insert().values(
            id=new_id,
            order_id=row.order_id,
            merchant_id=row.merchant_id,
            event=row.event,
            url=url,
            body=body,
            signature=signature,
            status="pending" if url else "no_url",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            resent_from=row.id,
        )
    )
    return new_id


def _condition(cond: Condition) -> ColumnElement[bool]:
    return compare(FILTER_COLUMNS[cond.field], cond.op, cond.values)


def _in_flight(m: Mapping[str, Any]) -> bool:
    lease_until = m["lease_until"]
    return m["status"] == "pending" and lease_until is not None and lease_until >= clock.now()


def _when(value: Any) -> str | None:
    return format_datetime(value) if value is not None else None


def _text(body: Any) -> str:
    return bytes(body).decode("utf-8", errors="replace")
