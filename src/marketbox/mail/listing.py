"""Reading the recorded letters (docs/mail.md "Reading the mail"): the merchant's API, the CLI
and, later, the office's mail view list and show them from here. A merchant sees the letters
whose `merchant_id` is its own: the notices addressed to it and the buyer's letters about
invoices whose main order is its own. The operator (the CLI) may read every letter.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import ids
from marketbox.errors import NotFound
from marketbox.mail.tables import mail_messages
from marketbox.orders.serializers import format_datetime
from marketbox.storage.query import Condition, ListQuery, compare, fetch_page, mapping_of

m = mail_messages

FILTER_COLUMNS: dict[str, ColumnElement[Any]] = {
    "id": m.c.id,
    "merchantId": m.c.merchant_id,
    "orderContainerId": m.c.container_id,
    "orderId": m.c.order_id,
    "kind": m.c.kind,
    "status": m.c.status,
    "to": m.c.recipient,
    "createdAt": m.c.created_at,
    "sentAt": m.c.sent_at,
}
SORT_COLUMNS: dict[str, ColumnElement[Any]] = {
    "createdAt": m.c.created_at,
    "sentAt": m.c.sent_at,
    "id": m.c.id,
}


class MailMessageNotFound(NotFound):
    """No such letter, or it is another merchant's."""

    message = "Mail message not found"


def _optional_time(value: Any) -> str | None:
    return format_datetime(value) if value is not None else None


def message_response(row: Any) -> dict[str, Any]:
    """A letter as the API and `marketbox mail show --json` give it."""
    r = mapping_of(row)
    return {
        "id": r["id"],
        "merchantId": r["merchant_id"],
        "kind": r["kind"],
        "to": r["recipient"],
        "language": r["language"],
        "subject": r["subject"],
        "text": r["body"],
        "status": r["status"],
        "attempts": r["attempts"],
        "lastError": r["last_error"],
        "orderContainerId": r["container_id"],
        "orderId": r["order_id"],
        "createdAt": format_datetime(r["created_at"]),
        "nextAttemptAt": (
            format_datetime(r["next_attempt_at"]) if r["status"] == "pending" else None
        ),
        "sentAt": _optional_time(r["sent_at"]),
    }


def _owned_by(merchant_id: str | None) -> ColumnElement[bool]:
    return m.c.merchant_id == merchant_id if merchant_id is not None else true()


async def list_messages(
    conn: AsyncConnection, *, merchant_id: str | None, query: ListQuery
) -> tuple[list[dict[str, Any]], int]:
    """One page of letters (newest first unless sorted otherwise) and how many match;
    `merchant_id` None: every merchant's (the operator's CLI)."""
    where = and_(_owned_by(merchant_id), *(_condition(c) for c in query.conditions))
    rows, total = await fetch_page(conn, m, where, query, SORT_COLUMNS)
    return [message_response(r) for r in rows], total


async def get_message(
    conn: AsyncConnection, message_id: str, *, merchant_id: str | None
) -> dict[str, Any]:
    """One letter; MailMessageNotFound for an unknown id or another merchant's letter."""
    if not ids.is_uuid(message_id):
        raise MailMessageNotFound()
    query = select(m).where(m.c.id == ids.normalize_uuid(message_id), _owned_by(merchant_id))
    row = (await conn.execute(query)).first()
    if row is None:
        raise MailMessageNotFound()
    return message_response(row)


def _condition(cond: Condition) -> ColumnElement[bool]:
    return compare(FILTER_COLUMNS[cond.field], cond.op, cond.values)
