"""What the office shows of one order: its basket, payments, refunds, shipments, receipts,
and a timeline of everything that happened to it.

The timeline is built from SOURCES, a list of small functions that each read one kind of
event from an `OrderRecord` (the order, its invoice's payments, its refunds, shipments and
notification attempts); a new kind of event is one more function in that list. Events are
sorted by time; each names an i18n key (`office.event.<kind>`) and precomputed details, so the
template only formats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import money
from marketbox.merchants.service import Merchant
from marketbox.office import repository
from marketbox.orders import service as orders_service
from marketbox.orders.serializers import order_response
from marketbox.receipts import service as receipts_service
from marketbox.refunds import service as refunds_service
from marketbox.shipments import service as shipments_service
from marketbox.storage.query import Condition, ListQuery
from marketbox.toolkit.i18n import N_

# An order page lists at most this many refunds and shipments (one query page each).
MAX_RELATED = 100


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str  # office.event.<kind>
    tone: str = "neutral"  # neutral | success | warning | danger: the badge's colour
    amount: Decimal | None = None
    currency: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class OrderRecord:
    row: Any  # the order row, status as a reader sees it now
    order: dict[str, Any]  # OrderResponse, as the API shows it
    payments: list[Any]
    refunds: list[dict[str, Any]]
    refund_rows: dict[str, datetime]
    shipments: list[dict[str, Any]]
    shipment_times: dict[int, datetime]
    receipts: list[dict[str, Any]]
    attempts: list[Any]
    refundable: list[dict[str, Any]]
    timeline: list[Event] = field(default_factory=list)

    @property
    def status(self) -> str:
        return str(self.row._mapping["status"])


def _order_events(record: OrderRecord) -> list[Event]:
    m = record.row._mapping
    events = [Event(m["created_at"], "created")]
    if m["paid_at"] is not None:
        held = m["status"] == "hold" or m["processing_status"] == "shipping_unavailable"
        events.append(
            Event(
                m["paid_at"],
                "held" if held else "paid",
                "success",
                money.from_minor(m["amount_minor"], m["currency"]),
                m["currency"],
            )
        )
    if m["status"] == "canceled":
        events.append(Event(m["updated_at"], "canceled", "danger"))
    elif m["status"] == "expired":
        events.append(Event(m["expiration_date"], "expired", "warning"))
    return events


# How a payment was made, in words (payments.method); another method is shown as it is stored.
METHOD_KEYS = {
    "card": N_("office.method.card"),
    "card_hold": N_("office.method.card_hold"),
    "instrument": N_("office.method.instrument"),
    "guarantee_fund": N_("office.method.guarantee_fund"),
    "promised_payment": N_("office.method.promised_payment"),
}


def _payment_events(record: OrderRecord) -> list[Event]:
    return [
        Event(
            p.created_at,
            "payment_declined" if p.status == "declined" else "payment",
            "danger" if p.status == "declined" else "success",
            money.from_minor(p.amount_minor, p.currency),
            p.currency,
            {
                "method_key": METHOD_KEYS.get(p.method, ""),
                "method": p.method,
                "card": p.card_last4 or "",
                "code": p.failure_code or "",
            },
        )
        for p in record.payments
    ]


def _refund_events(record: OrderRecord) -> list[Event]:
    return [
        Event(
            record.refund_rows[r["id"]],
            "refunded",
            "danger" if r["status"] == "canceled" else "warning",
            r["amount"],
            r["currencyId"],
            {"number": r["merchantOrderId"], "status": r["status"]},
        )
        for r in record.refunds
    ]


def _shipment_events(record: OrderRecord) -> list[Event]:
    return [
        Event(
            record.shipment_times[s["id"]],
            "shipped",
            "success",
            s["amount"],
            s["currencyId"],
            {"number": s["documentNumber"] or str(s["id"]), "final": s["final"]},
        )
        for s in record.shipments
    ]


_OUTCOME_TONE = {"success": "success", "retry": "warning", "rejected": "danger"}


def _notification_events(record: OrderRecord) -> list[Event]:
    return [
        Event(
            a.started_at,
            "notification",
            _OUTCOME_TONE.get(a.outcome, "neutral"),
            detail={
                "event": a.event,
                "notification_id": a.notification_id,
                "attempt": a.attempt,
                "outcome": a.outcome,
                "http_status": a.http_status,
                "duration_ms": a.duration_ms,
                "url": a.url or "",
                "reply": a.reply_code or a.error or "",
                "refund": a.order_id != record.row._mapping["id"],
            },
        )
        for a in record.attempts
    ]


Source = Callable[[OrderRecord], list[Event]]
SOURCES: list[Source] = [
    _order_events,
    _payment_events,
    _refund_events,
    _shipment_events,
    _notification_events,
]


def build_timeline(record: OrderRecord) -> list[Event]:
    events = [event for source in SOURCES for event in source(record)]
    return sorted(events, key=lambda e: e.at)


def related_query(field_name: str, value: Any) -> ListQuery:
    """One page of a list service's rows whose `field_name` equals `value`, oldest first."""
    return ListQuery(
        conditions=[Condition(field_name, "eq", [value])],
        order=[("createdAt", False)],
        page_size=MAX_RELATED,
    )


async def order_record(conn: AsyncConnection, *, merchant: Merchant, order_id: str) -> OrderRecord:
    """Everything the order page shows; OrderNotFound (404) for another merchant's order."""
    row = await orders_service.get_owned_order(conn, merchant=merchant, order_id=order_id)
    m = row._mapping
    refunds, _ = await refunds_service.list_refunds(
        conn, merchant=merchant, query=related_query("parentId", m["id"])
    )
    shipments, _ = await shipments_service.list_shipments(
        conn, merchant=merchant, query=related_query("orderId", m["id"])
    )
    receipts = await receipts_service.order_receipts(conn, merchant=merchant, order_id=m["id"])
    refundable = (
        await refunds_service.refundable_items(conn, merchant=merchant, order_id=m["id"])
        if m["subtype"] == "order"
        else []
    )
    order_ids = [m["id"], *(r["id"] for r in refunds)]
    record = OrderRecord(
        row=row,
        order=order_response(row),
        payments=await repository.payments_of_container(conn, m["container_id"]),
        refunds=refunds,
        refund_rows={r["id"]: _parse_time(r["createdAt"]) for r in refunds},
        shipments=shipments,
        shipment_times={s["id"]: _parse_time(s["createdAt"]) for s in shipments},
        receipts=receipts,
        attempts=await repository.notification_attempts_of(
            conn, order_ids, merchant_id=merchant.id
        ),
        refundable=[i for i in refundable if i["availableAmount"] > 0],
    )
    record.timeline = build_timeline(record)
    return record


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)
