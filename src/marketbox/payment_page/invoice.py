"""An invoice (order container) as the payment page shows it, computed once per request.

Templates only format and loop: which orders are listed, the total, the VAT lines, the
deadline and the main order's settings all arrive here precomputed.

    pending   the payable orders (status created); the total is what pay_container charges
    paid      the orders this payment paid (paid_at set); the total is the payment's amount
    expired   the orders that expired with the container
    canceled  every order (all canceled)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, ids, money
from marketbox.payment_page import repository
from marketbox.payments import repository as payments_repository
from marketbox.payments import service as payments_service
from marketbox.payments.errors import ContainerNotFound

# Orders with more lines show the first VISIBLE_LINES and «Показать все (N)» (design.md §2).
MAX_LINES_OPEN = 4
VISIBLE_LINES = 3
EXPIRES_SOON = timedelta(minutes=15)


@dataclass(frozen=True)
class Line:
    name: str
    quantity: Decimal
    unit_amount: Decimal
    total: Decimal
    vat_code: str
    vat_amount: Decimal


@dataclass(frozen=True)
class OrderView:
    id: str
    merchant_id: str
    # The legal name when the merchant has one, else its display name (the receipt's seller).
    merchant_name: str
    merchant_inn: str
    number: str
    description: str
    amount: Decimal
    status: str
    is_main: bool
    # Joined as another merchant's add-on: the buyer may remove it before paying.
    is_addon: bool
    lines: list[Line]
    # Who is paid, as every page names it: the point of sale and the order («Такси в аэропорт
    # — Комфорт») or the merchant's display name, over the legal name (when it differs).
    label: str = ""
    legal_name: str = ""
    # The point of sale the order came through (an add-on's card shows what it ordered).
    shop_id: int | None = None

    @property
    def visible_lines(self) -> list[Line]:
        return self.lines if len(self.lines) <= MAX_LINES_OPEN else self.lines[:VISIBLE_LINES]

    @property
    def more_lines(self) -> list[Line]:
        return [] if len(self.lines) <= MAX_LINES_OPEN else self.lines[VISIBLE_LINES:]


@dataclass(frozen=True)
class VatLine:
    rate: Decimal | None  # None: «Без НДС»
    amount: Decimal


@dataclass
class Invoice:
    id: str
    number: str
    status: str  # pending | paid | canceled | expired
    currency: str
    amount: Decimal
    orders: list[OrderView]
    vat_lines: list[VatLine]
    expires_at: datetime | None
    expires_soon: bool
    language: str
    shop_name: str
    customer: dict[str, Any]
    invoice_setting: dict[str, Any]
    payer: dict[str, Any] | None
    success_url: str | None
    fail_url: str | None
    return_url: str | None
    shop_id: int | None = None  # the point of sale of the main order
    paid_at: datetime | None = None
    payment: dict[str, Any] | None = field(default=None)
    # False when an unpaid order is non-processable: the merchant settles it with the buyer
    # directly (api.md §8, `processable`), so the page shows that instead of a card form.
    payable_here: bool = True

    @property
    def is_payable(self) -> bool:
        return self.status == "pending" and self.payable_here

    @property
    def page_status(self) -> str:
        """What the status page says: the status, or `outside` for a pending invoice that
        is not paid through the platform."""
        return "outside" if self.status == "pending" and not self.payable_here else self.status


async def load(conn: AsyncConnection, container_id: str, *, record: bool = False) -> Invoice:
    """The invoice with its current status. A page that only shows it writes nothing (a
    passed deadline reads as expired; the worker records it); `record`, for a change to the
    invoice, records a passed deadline first (payments.service.current_status).

    Raises ContainerNotFound for an unknown or malformed id.
    """
    if not ids.is_uuid(container_id):
        raise ContainerNotFound()
    container_id = ids.normalize_uuid(container_id)
    now = clock.now()
    if record:
        status = await payments_service.current_status(conn, container_id)
    else:
        status = await payments_service.effective_status(conn, container_id)
    container = (await payments_repository.get_container(conn, container_id, now=now))._mapping
    rows = [r._mapping for r in await repository.orders_with_merchants(conn, container_id, now)]
    main = next((r for r in rows if r["id"] == container["main_order_id"]), rows[0])
    currency = container["currency"]

    if status == "pending":
        shown = [r for r in rows if r["status"] == "created"]
    elif status == "paid":
        shown = [r for r in rows if r["paid_at"] is not None]
    elif status == "expired":
        shown = [r for r in rows if r["status"] == "expired"] or rows
    else:
        shown = rows
    views = [_order_view(r, is_main=r["id"] == main["id"]) for r in shown]

    payment = None
    if status == "paid" and container["payment_id"]:
        row = await repository.get_payment(conn, container["payment_id"])
        payment = dict(row._mapping) if row is not None else None
    if payment is not None:
        amount = money.from_minor(payment["amount_minor"], payment["currency"])
    else:
        amount = money.from_minor(sum(r["amount_minor"] for r in shown), currency)

    deadlines = [r["expiration_date"] for r in shown if r["status"] == "created"]
    expires_at = min(deadlines) if deadlines else None
    return Invoice(
        id=container_id,
        number=container["number"],
        status=status,
        currency=currency,
        amount=amount,
        orders=views,
        vat_lines=_vat_lines(views),
        expires_at=expires_at,
        expires_soon=expires_at is not None and expires_at - now < EXPIRES_SOON,
        language="en" if (main["language_id"] or "ru") == "en" else "ru",
        shop_name=main["merchant_name"] or main["merchant_legal_name"],
        customer=dict(main["customer"] or {}),
        invoice_setting=dict(main["invoice_setting"] or {}),
        payer=container["payer"],
        success_url=main["success_url"],
        fail_url=main["fail_url"],
        return_url=main["return_url"],
        shop_id=main["shop_id"],
        paid_at=container["paid_at"],
        payment=payment,
        payable_here=all(r["processable"] for r in shown if r["status"] == "created"),
    )


def _order_view(row: Any, *, is_main: bool) -> OrderView:
    currency = row["currency"]
    lines = [
        Line(
            name=item["name"],
            quantity=Decimal(item["quantity"]),
            unit_amount=Decimal(item["amount"]),
            total=Decimal(item["totalAmount"]),
            vat_code=item.get("vatCode") or "VATNONE",
            vat_amount=Decimal(item.get("totalVatAmount") or 0),
        )
        for item in row["basket_items"] or []
    ]
    display_name = row["merchant_name"] or row["merchant_legal_name"] or ""
    legal_name = row["merchant_legal_name"] or ""
    return OrderView(
        id=row["id"],
        merchant_id=row["merchant_id"],
        merchant_name=row["merchant_legal_name"] or row["merchant_name"],
        merchant_inn=row["merchant_vat_number"] or "",
        number=row["merchant_order_id_visible"] or row["merchant_order_id"],
        description=row["description"],
        amount=money.from_minor(row["amount_minor"], currency),
        status=row["status"],
        is_main=is_main,
        is_addon=row["joined_as"] == "addon",
        lines=lines,
        label=_label(row["shop_title"], row["description"], display_name),
        legal_name=legal_name if legal_name != display_name else "",
        shop_id=row["shop_id"],
    )


def _label(shop_title: str | None, description: str, display_name: str) -> str:
    """«Такси в аэропорт — Комфорт»: the point of sale the order came through and what the
    order is (its description, when it says more than the title), else the merchant's name."""
    if not shop_title:
        return display_name
    what = (description or "").strip()
    if not what or what.casefold() in shop_title.casefold():
        return shop_title
    return f"{shop_title} — {what}"


def _vat_lines(orders: list[OrderView]) -> list[VatLine]:
    """One «в т. ч. НДС x %» line per rate present; «Без НДС» only when no line carries VAT."""
    by_rate: dict[Decimal, Decimal] = {}
    for order in orders:
        for line in order.lines:
            rate = money.vat_rate(line.vat_code)
            if rate:
                by_rate[rate] = by_rate.get(rate, Decimal(0)) + line.vat_amount
    if not by_rate:
        return [VatLine(None, Decimal(0))]
    return [VatLine(rate, money.round2(by_rate[rate])) for rate in sorted(by_rate, reverse=True)]
