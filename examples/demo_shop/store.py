"""The shop's own order records, in SQLite (a file, or memory by default).

    created --notification completed/success--> paid
    created --notification canceled/expired-->  canceled / expired
    paid: refund_* (the one full refund the buyer may ask for: its platform id and status, which
          the platform's refund notifications keep current) and shipment_* (a lounge pass is
          delivered when it is paid: the platform shipment recorded for it)

Marking paid is one conditional UPDATE ("where not yet paid"), so two deliveries of the same
notification racing each other cannot both pay; the loser reads the row and learns whether it
was its own notification id (a retry: success) or another one (`order_already_paid`).
Amounts are stored as text and read back as exact `Decimal`. The calls are sub-millisecond
local SQLite statements, run inline from the async handlers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
import threading
from decimal import Decimal
from typing import Any

_SCHEMA = """
create table if not exists shop_orders (
    merchant_order_id   text primary key,
    number              text not null,
    service             text not null,
    mode                text not null,
    locale              text not null,
    amount              text not null,
    currency            text not null,
    lines               text not null,
    platform_order_id   text,
    container_id        text,
    payment_url         text,
    status              text not null,
    paid_notification_id text,
    paid_at             text,
    created_at          text not null,
    refund_id           text,
    refund_status       text,
    refund_amount       text,
    shipment_id         text,
    shipment_status     text
)
"""
# Columns added after the first release: a shop file from then gets them on open.
_ADDED_COLUMNS = ("refund_id", "refund_status", "refund_amount", "shipment_id", "shipment_status")


@dataclasses.dataclass(frozen=True)
class ShopOrder:
    merchant_order_id: str
    number: str
    service: str
    mode: str
    locale: str
    amount: Decimal
    currency: str
    lines: list[dict[str, Any]]
    platform_order_id: str | None
    container_id: str | None
    payment_url: str | None
    status: str
    paid_notification_id: str | None
    paid_at: str | None
    created_at: str
    refund_id: str | None = None
    refund_status: str | None = None
    refund_amount: Decimal | None = None
    shipment_id: str | None = None
    shipment_status: str | None = None

    @property
    def is_paid(self) -> bool:
        return self.status == "paid"

    @property
    def refundable(self) -> bool:
        """Paid, known to the platform, and not refunded yet (one refund per order)."""
        return self.is_paid and self.platform_order_id is not None and self.refund_status is None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class OrderStore:
    def __init__(self, path: str = ":memory:") -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute(_SCHEMA)
            present = {row[1] for row in self._db.execute("pragma table_info(shop_orders)")}
            for column in _ADDED_COLUMNS:
                if column not in present:
                    self._db.execute(f"alter table shop_orders add column {column} text")

    def close(self) -> None:
        self._db.close()

    def _row(self, row: sqlite3.Row | None) -> ShopOrder | None:
        if row is None:
            return None
        data = dict(row)
        data["amount"] = Decimal(data["amount"])
        data["lines"] = json.loads(data["lines"])
        if data["refund_amount"] is not None:
            data["refund_amount"] = Decimal(data["refund_amount"])
        return ShopOrder(**data)

    def add(
        self,
        *,
        merchant_order_id: str,
        number: str,
        service: str,
        mode: str,
        locale: str,
        amount: Decimal,
        currency: str,
        lines: list[dict[str, Any]],
    ) -> None:
        """Record the order before asking the platform, so an early notification finds it."""
        with self._lock:
            self._db.execute(
                "insert into shop_orders (merchant_order_id, number, service, mode, locale, amount,"
                " currency, lines, status, created_at)"
                " values (?, ?, ?, ?, ?, ?, ?, ?, 'created', ?)",
                (
                    merchant_order_id,
                    number,
                    service,
                    mode,
                    locale,
                    str(amount),
                    currency,
                    json.dumps(lines, default=str, ensure_ascii=False),
                    _now(),
                ),
            )

    def attach_platform_order(
        self, merchant_order_id: str, *, platform_order_id: str, container_id: str, payment_url: str
    ) -> None:
        with self._lock:
            self._db.execute(
                "update shop_orders set platform_order_id = ?, container_id = ?, payment_url = ?"
                " where merchant_order_id = ?",
                (platform_order_id, container_id, payment_url, merchant_order_id),
            )

    def remove(self, merchant_order_id: str) -> None:
        """Forget an order the platform refused to create."""
        with self._lock:
            self._db.execute(
                "delete from shop_orders where merchant_order_id = ? and status = 'created'",
                (merchant_order_id,),
            )

    def get(self, merchant_order_id: str) -> ShopOrder | None:
        with self._lock:
            row = self._db.execute(
                "select * from shop_orders where merchant_order_id = ?", (merchant_order_id,)
            ).fetchone()
        return self._row(row)

    def get_by_platform_order(self, platform_order_id: str) -> ShopOrder | None:
        with self._lock:
            row = self._db.execute(
                "select * from shop_orders where platform_order_id = ?", (platform_order_id,)
            ).fetchone()
        return self._row(row)

    def mark_paid(self, merchant_order_id: str, notification_id: str) -> bool:
        """True if this call paid the order; False if it was already paid (by anyone)."""
        with self._lock:
            cursor = self._db.execute(
                "update shop_orders set status = 'paid', paid_notification_id = ?, paid_at = ?"
                " where merchant_order_id = ? and paid_notification_id is null",
                (notification_id, _now(), merchant_order_id),
            )
        return cursor.rowcount == 1

    def mark_closed(self, merchant_order_id: str, status: str) -> None:
        """An unpaid order was canceled or expired on the platform."""
        with self._lock:
            self._db.execute(
                "update shop_orders set status = ?"
                " where merchant_order_id = ? and status = 'created'",
                (status, merchant_order_id),
            )

    def record_refund(
        self, merchant_order_id: str, *, refund_id: str, status: str, amount: Decimal
    ) -> None:
        """The platform refund of a paid order (created now, or its status changed since)."""
        with self._lock:
            self._db.execute(
                "update shop_orders set refund_id = ?, refund_status = ?, refund_amount = ?"
                " where merchant_order_id = ? and status = 'paid'",
                (refund_id, status, str(amount), merchant_order_id),
            )

    def record_shipment(self, merchant_order_id: str, *, shipment_id: str, status: str) -> None:
        with self._lock:
            self._db.execute(
                "update shop_orders set shipment_id = ?, shipment_status = ?"
                " where merchant_order_id = ?",
                (shipment_id, status, merchant_order_id),
            )

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("select count(*) from shop_orders").fetchone()[0])
