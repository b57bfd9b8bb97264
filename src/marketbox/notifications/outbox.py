"""Writing notifications into the outbox, inside the caller's transaction.

A status change and its notification commit together or not at all; the dispatcher
(dispatcher.py) delivers what is committed. The body is frozen here, byte for byte: every retry
sends the identical body (notifications.md §6). The stored signature is the key's at this moment;
the dispatcher signs again when it claims a row, with the keys in force then, so a retry after a
key rotation carries the new key's signature (docs/notifications.md "Key rotation").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, ids, jsonutil
from marketbox.notifications import events as bus
from marketbox.security import signing
from marketbox.storage.tables import merchants, notifications

# Spec: the notification id is the order id; the monitoring test uses this fixed one.
TEST_NOTIFICATION_ORDER_ID = "ffffffff-ffff-ffff-ffff-ffffffffffff"

_MERCHANT_KEYS = select(
    merchants.c.id,
    merchants.c.signing_key,
    merchants.c.sign_algorithm,
    merchants.c.notification_url,
).where(merchants.c.id.in_(bindparam("ids", expanding=True)))
_INSERT_NOTIFICATION = insert(notifications)


@dataclass(frozen=True, slots=True)
class MerchantKey:
    """What signing and addressing a merchant's notification needs of the merchant's row."""

    signing_key: str
    sign_algorithm: str
    notification_url: str | None  # the default URL, for orders that name none


async def _merchant_keys(conn: AsyncConnection, merchant_ids: set[str]) -> dict[str, Any]:
    """Signing data of the merchants, read in the caller's transaction: a notification is
    signed with the key committed at that moment, whichever process rotated it (no cache that
    another process would have to invalidate)."""
    found = await conn.execute(_MERCHANT_KEYS, {"ids": list(merchant_ids)})
    return {
        row.id: MerchantKey(row.signing_key, row.sign_algorithm, row.notification_url)
        for row in found.all()
    }


@dataclass(frozen=True)
class Notice:
    """One notification to write: about which order, to whom, and what it says."""

    order_id: str
    merchant_id: str
    event: str
    body: Any  # the JSON object the shop receives
    url: str | None = None  # None: the merchant's default URL


async def enqueue(
    conn: AsyncConnection,
    notices: Iterable[Notice],
    *,
    keys: Mapping[str, MerchantKey] | None = None,
) -> list[str]:
    """One outbox record per notice, to its URL or its merchant's default, its body frozen
    and signed with the merchant's key as committed now. Returns the notification ids.

    `keys`: merchant id -> its key, when the caller has just read it in this transaction (the
    payment reads it with the orders it pays: payments/repository.py `_PAID_COLUMNS`); the
    merchants it does not cover are read here."""
    values = await records(conn, notices, keys=keys)
    if not values:
        return []
    await conn.execute(_INSERT_NOTIFICATION, values)
    # Live events for the gate's clients, sent once this transaction commits (events.py).
    await bus.announce(conn, _events(values))
    return [v["id"] for v in values]


async def records(
    conn: AsyncConnection,
    notices: Iterable[Notice],
    *,
    keys: Mapping[str, MerchantKey] | None = None,
) -> list[dict[str, Any]]:
    """The outbox rows `enqueue` writes, for a caller that writes them together with its own
    (storage/together.py) and then calls `announcements`."""
    pending = list(notices)
    if not pending:
        return []
    known = dict(keys or {})
    missing = {n.merchant_id for n in pending} - known.keys()
    if missing:
        known.update(await _merchant_keys(conn, missing))
    now = clock.now()
    values = []
    for notice in pending:
        merchant = known[notice.merchant_id]
        body = jsonutil.dumps_php(notice.body)
        values.append(
            _record(
                order_id=notice.order_id,
                merchant_id=notice.merchant_id,
                event=notice.event,
                url=notice.url or merchant.notification_url,
                body=body,
                signature=signing.sign(body, merchant.signing_key, merchant.sign_algorithm),
                now=now,
            )
        )
    return values


def announcements(conn: AsyncConnection, values: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The live events of rows from `records`: the `pg_notify(channel, payload)` calls the
    writing statement makes on PostgreSQL; other buses publish them after the commit."""
    return bus.in_statement(conn, _events(values))


def _events(values: list[dict[str, Any]]) -> list[bus.Event]:
    return [bus.Event(v["id"], v["merchant_id"]) for v in values]


async def sign_now(conn: AsyncConnection, merchant_id: str, body: bytes) -> str:
    """The signature of a stored body under the merchant's key as committed now (a resend)."""
    merchant = (await _merchant_keys(conn, {merchant_id}))[merchant_id]
    return signing.sign(body, merchant.signing_key, merchant.sign_algorithm)


async def enqueue_test(
    conn: AsyncConnection,
    *,
    merchant_id: str,
    payment_url: str,
    url: str | None = None,
    due_at: datetime | None = None,
) -> str:
    """The monitoring test notification (notifications.md §6.1): changes no order.

    `url`: where to send it instead of the merchant's default. `due_at`: when the worker may
    take it; later than now when the caller delivers it itself at once.
    """
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
        "paymentUrl": payment_url,
        "customer": {"type": "private"},
        "languageId": "ru",
        "processable": True,
    }
    body = jsonutil.dumps_php(body_obj)
    record = _record(
        order_id=TEST_NOTIFICATION_ORDER_ID,
        merchant_id=merchant_id,
        event="test",
        url=url or merchant._mapping["notification_url"],
        body=body,
        signature=signing.sign(
            body, merchant._mapping["signing_key"], merchant._mapping["sign_algorithm"]
        ),
        now=now,
    )
    if due_at is not None:
        record["next_attempt_at"] = due_at
    await conn.execute(insert(notifications).values(**record))
    await bus.announce(conn, [bus.Event(str(record["id"]), merchant_id)])
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
