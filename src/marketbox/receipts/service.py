"""54-FZ receipt records (docs/receipts.md, spec payments.md §7): what the platform would send to
a fiscal registrar, written in the transaction of the event it records, so none is lost.

    payment    income         one per paid order; each line signed with its own `paymentType`
                              (tag 1214: `full_prepayment` -> 1 «предоплата 100 %", ...,
                              `full_payment` -> 4 «полный расчёт»). A held payment gets none:
                              nothing is settled until a shipment captures it.
    shipment   income         «полный расчёт» (1214 = 4) of the shipped lines not settled in
                              full already; paid by the earlier prepayment (tag 1215), or
                              electronically when this shipment captures a hold
    refund     income_return  when the refund completes; each line returns the sign it was
                              last receipted with (prepayment, or full settlement once shipped)
    correction income         «полный расчёт» of the withheld lines (§9.4: "PAYMENT 100 %")

Every receipt is `formed`; `hand_over_formed` gives formed receipts to a `FiscalProvider`
(receipts/fiscal.py) outside any transaction. Money is Decimal in the lines and integer minor
units in the totals, never float.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, ids, money
from marketbox.merchants.service import Merchant
from marketbox.orders import repository as orders_repository
from marketbox.orders.errors import OrderNotFound
from marketbox.orders.serializers import format_datetime
from marketbox.receipts import repository, tags
from marketbox.receipts.fiscal import FiscalProvider
from marketbox.storage.db import Database
from marketbox.storage.query import ListQuery, mapping_of

PAYMENT = "payment"
SHIPMENT = "shipment"
REFUND = "refund"
CORRECTION = "correction"
REVERSAL = "reversal"
FORMED = "formed"


def _line(item: Mapping[str, Any], method_sign: int) -> dict[str, Any]:
    """One receipt line from a basket item (order, shipment, refund or correction)."""
    vat_code = str(item.get("vatCode") or "VATNONE")
    return {
        "sku": item.get("sku"),
        "name": item["name"],
        "price": money.round2(money.to_decimal(item["amount"])),
        "quantity": money.to_decimal(item["quantity"]),
        "amount": money.round2(money.to_decimal(item["totalAmount"])),
        "vatCode": vat_code,
        "vatRate": tags.vat_rate(vat_code),
        "vatAmount": money.round2(money.to_decimal(item.get("totalVatAmount") or 0)),
        "measure": item.get("measure"),
        "paymentType": item.get("paymentType"),
        "paymentMethodSign": method_sign,
        "subjectSign": tags.subject_sign(item.get("type"), method_sign),
        "measureSign": tags.measure_sign(item.get("measureCode")),
    }


def buyer_contact(customer: Mapping[str, Any] | None, payer: Mapping[str, Any]) -> dict[str, Any]:
    """The buyer as the platform knows them: what the payer entered on the payment page over
    the order's customer (the receipt's buyer contact, the buyer's letter: mail/service.py)."""
    return {**(customer or {}), **payer}


class _Parties:
    """Suppliers and payers of one issuing call, each looked up once."""

    def __init__(
        self, conn: AsyncConnection, payers: dict[str, dict[str, Any]] | None = None
    ) -> None:
        self.conn = conn
        self.suppliers: dict[str, tuple[str, str]] = {}
        self.payers: dict[str, dict[str, Any]] = payers or {}

    async def load_suppliers(self, merchant_ids: Sequence[str]) -> None:
        missing = [m for m in merchant_ids if m not in self.suppliers]
        if missing:
            self.suppliers.update(await repository.suppliers(self.conn, missing))

    async def fields(self, order: Mapping[str, Any]) -> dict[str, Any]:
        """Supplier (the merchant) and buyer contact: the payer as entered on the payment page
        over the order's customer."""
        await self.load_suppliers([order["merchant_id"]])
        name, inn = self.suppliers[order["merchant_id"]]
        container_id = order["container_id"]
        if container_id not in self.payers:
            self.payers[container_id] = await repository.container_payer(self.conn, container_id)
        merged = buyer_contact(order["customer"], self.payers[container_id])
        legal = merged.get("type") == "legal"
        return {
            "supplier_name": name,
            "supplier_inn": inn,
            "customer_email": merged.get("email") or None,
            "customer_phone": merged.get("phone") or None,
            "customer_name": (merged.get("name") or None) if legal else None,
            "customer_inn": (merged.get("vatNumber") or None) if legal else None,
        }


async def _record(
    parties: _Parties,
    *,
    kind: str,
    purpose: str,
    source_id: str,
    order: Mapping[str, Any],
    lines: list[dict[str, Any]],
    prepaid: bool = False,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """The row of one receipt of `order` (the merchant's paid order); None without lines."""
    if not lines:
        return None
    currency = order["currency"]
    amount = money.to_minor(sum((line["amount"] for line in lines), Decimal(0)), currency)
    vat = money.to_minor(sum((line["vatAmount"] for line in lines), Decimal(0)), currency)
    return {
        "id": ids.new_id(),
        "kind": kind,
        "purpose": purpose,
        "source_id": source_id,
        "order_id": order["id"],
        "merchant_id": order["merchant_id"],
        "container_id": order["container_id"],
        "currency": currency,
        "amount_minor": amount,
        "vat_amount_minor": vat,
        "electronic_minor": 0 if prepaid else amount,
        "prepaid_minor": amount if prepaid else 0,
        "payment_form": tags.PAYMENT_FORM_ELECTRONIC,
        "lines": lines,
        **(await parties.fields(order)),
        "status": FORMED,
        "fiscal_attributes": None,
        "handed_over_at": None,
        "created_at": now or clock.now(),
    }


async def _insert(conn: AsyncConnection, records: Sequence[dict[str, Any] | None]) -> None:
    await repository.insert_receipts(conn, [r for r in records if r is not None])


# --- issuing: one call from each event's service ---------------------------------------------


async def payment_records(
    conn: AsyncConnection,
    paid_orders: Sequence[Any],
    *,
    payment_id: str,
    held: bool,
    payer: dict[str, Any] | None = None,
    suppliers: Mapping[str, tuple[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """The income receipt of every order a payment paid, each line with its own 1214 sign:
    the rows, which the payment writes together with its own (payments/service.pay_container,
    storage/together.py).

    A held payment (pre-authorisation) settles nothing yet: no receipt until a shipment
    captures it, and a cancel releases it without any (docs/receipts.md "When").
    `payer` is the container's payer and `suppliers` (merchant id -> (name as printed, INN),
    as `repository.suppliers` gives them) what the caller has read already.
    """
    if held:
        return []
    now = clock.now()
    orders = [mapping_of(row) for row in paid_orders]
    known = {orders[0]["container_id"]: payer} if orders and payer is not None else None
    parties = _Parties(conn, known)
    parties.suppliers.update(suppliers or {})
    await parties.load_suppliers(sorted({order["merchant_id"] for order in orders}))
    records = []
    for order in orders:
        lines = [
            _line(item, tags.payment_method_sign(item.get("paymentType")))
            for item in order["basket_items"] or []
        ]
        record = await _record(
            parties,
            kind=tags.INCOME,
            purpose=PAYMENT,
            source_id=payment_id,
            order=order,
            lines=lines,
            now=now,
        )
        if record is not None:
            records.append(record)
    return records


async def _income_signs(conn: AsyncConnection, order_id: str) -> dict[str, int]:
    """sku -> the 1214 sign its latest income receipt gave it (4 once settled in full)."""
    signs: dict[str, int] = {}
    for receipt in await repository.receipts_of_order(conn, order_id):
        if receipt.kind != tags.INCOME or receipt.purpose not in (PAYMENT, SHIPMENT):
            continue
        for line in receipt.lines:
            if signs.get(line["sku"]) != tags.FULL_SETTLEMENT:
                signs[line["sku"]] = int(line["paymentMethodSign"])
    return signs


async def issue_for_shipment(
    conn: AsyncConnection, order: Any, shipment: Any, *, payer: dict[str, Any] | None = None
) -> None:
    """«Полный расчёт» (1214 = 4) of what a shipment delivered and no receipt settled yet.

    After a prepayment receipt the lines are paid by that prepayment (tag 1215); when the
    shipment captures a hold, the money is taken now (tag 1081). `payer`: the container's
    payer when the caller has read the container already (else it is read here).
    """
    order, shipment = mapping_of(order), mapping_of(shipment)
    paid = await repository.receipts_of_order(conn, order["id"], purpose=PAYMENT)
    # Lines the payment receipt settled in full are not settled again; every other shipped
    # line is, by each (partial) shipment that delivers it.
    settled = {
        line["sku"]
        for receipt in paid
        for line in receipt.lines
        if int(line["paymentMethodSign"]) == tags.FULL_SETTLEMENT
    }
    lines = [
        _line(item, tags.FULL_SETTLEMENT)
        for item in shipment["basket_items"] or []
        if item.get("sku") not in settled
    ]
    payers = None if payer is None else {order["container_id"]: payer}
    record = await _record(
        _Parties(conn, payers),
        kind=tags.INCOME,
        purpose=SHIPMENT,
        source_id=str(shipment["id"]),
        order=order,
        lines=lines,
        prepaid=bool(paid),
    )
    await _insert(conn, [record])


async def issue_for_refunds(conn: AsyncConnection, refunds: Sequence[Any]) -> None:
    """The «возврат прихода» receipt of each refund that completed (money went back)."""
    now = clock.now()
    parties = _Parties(conn)
    records = []
    for row in refunds:
        refund = mapping_of(row)
        parent = await repository.get_order(conn, refund["parent_id"])
        if parent is None:
            continue
        signs = await _income_signs(conn, parent.id)
        lines = [
            _line(
                item,
                signs.get(item.get("sku"), tags.payment_method_sign(item.get("paymentType"))),
            )
            for item in refund["basket_items"] or []
        ]
        records.append(
            await _record(
                parties,
                kind=tags.INCOME_RETURN,
                purpose=REFUND,
                source_id=refund["id"],
                order=parent._mapping,
                lines=lines,
                now=now,
            )
        )
    await _insert(conn, records)


async def issue_for_reversal(conn: AsyncConnection, order: Any) -> None:
    """The «возврат прихода» receipt of a paid order canceled in full (a guarantee payment
    reversed before any shipment, api.md §8.6): every line of it goes back."""
    m = mapping_of(order)
    signs = await _income_signs(conn, m["id"])
    if not signs:
        return  # no income receipt was issued for it: nothing to return
    lines = [
        _line(item, signs.get(item.get("sku"), tags.payment_method_sign(item.get("paymentType"))))
        for item in m["basket_items"] or []
    ]
    parties = _Parties(conn)
    record = await _record(
        parties, kind=tags.INCOME_RETURN, purpose=REVERSAL, source_id=m["id"], order=m, lines=lines
    )
    await _insert(conn, [record])


async def issue_for_correction(conn: AsyncConnection, correction: Any) -> None:
    """The «приход, полный расчёт» receipt of what a correction withholds from a refund."""
    correction = mapping_of(correction)
    refund = await repository.get_order(conn, correction["parent_id"])
    parent = await repository.get_order(conn, refund.parent_id) if refund is not None else None
    if parent is None:
        return
    lines = [_line(item, tags.FULL_SETTLEMENT) for item in correction["basket_items"] or []]
    record = await _record(
        _Parties(conn),
        kind=tags.INCOME,
        purpose=CORRECTION,
        source_id=correction["id"],
        order=parent._mapping,
        lines=lines,
    )
    await _insert(conn, [record])


# --- reading ---------------------------------------------------------------------------------


def receipt_response(row: Any) -> dict[str, Any]:
    """The Receipt of our API extension (docs/api.md "Fiscal receipts")."""
    m = mapping_of(row)
    currency = m["currency"]
    customer = {
        "email": m["customer_email"],
        "phone": m["customer_phone"],
        "name": m["customer_name"],
        "vatNumber": m["customer_inn"],
    }
    return {
        "id": m["id"],
        "orderId": m["order_id"],
        "orderContainerId": m["container_id"],
        "merchantId": m["merchant_id"],
        "purpose": m["purpose"],
        "sourceId": m["source_id"],
        "kind": m["kind"],
        "calculationSign": tags.CALCULATION_SIGN[m["kind"]],
        "status": m["status"],
        "currencyId": currency,
        "amount": money.from_minor(m["amount_minor"], currency),
        "vatAmount": money.from_minor(m["vat_amount_minor"], currency),
        "electronicAmount": money.from_minor(m["electronic_minor"], currency),
        "prepaidAmount": money.from_minor(m["prepaid_minor"], currency),
        "paymentForm": m["payment_form"],
        "supplier": {"name": m["supplier_name"], "vatNumber": m["supplier_inn"]},
        "customer": {k: v for k, v in customer.items() if v is not None},
        "items": m["lines"],
        "fiscalAttributes": m["fiscal_attributes"],
        "createdAt": format_datetime(m["created_at"]),
    }


async def order_receipts(
    conn: AsyncConnection, *, merchant: Merchant, order_id: str
) -> list[dict[str, Any]]:
    """GET …/order/{id}/receipt: the receipts of the merchant's order, its shipments, refunds
    and corrections (for a refund or a correction: the receipts it is the source of)."""
    if not ids.is_uuid(order_id):
        raise OrderNotFound()
    order_id = ids.normalize_uuid(order_id)
    if await orders_repository.get_order(conn, order_id, merchant_id=merchant.id) is None:
        raise OrderNotFound()
    rows = await repository.receipts_for_merchant_order(conn, order_id, merchant_id=merchant.id)
    return [receipt_response(r) for r in rows]


async def list_receipts(
    conn: AsyncConnection, *, merchant: Merchant, query: ListQuery
) -> tuple[list[dict[str, Any]], int]:
    rows, total = await repository.list_receipts(conn, merchant_id=merchant.id, query=query)
    return [receipt_response(r) for r in rows], total


async def container_receipts(conn: AsyncConnection, container_id: str) -> list[dict[str, Any]]:
    """Every receipt issued for an invoice, oldest first (the buyer's receipt page)."""
    return [receipt_response(r) for r in await repository.receipts_of_container(conn, container_id)]


# --- the fiscal registrar seam ---------------------------------------------------------------


async def hand_over_formed(db: Database, provider: FiscalProvider, *, limit: int = 100) -> int:
    """Give formed receipts to the fiscal provider, each once; returns how many were taken.

    The provider is asked with no transaction open (it may be a remote registrar); what it
    answers is recorded in a short transaction of its own. A receipt the provider refused
    (raised) stays due and is offered again at the next pass.
    """
    async with db.transaction() as conn:
        due = await repository.due_for_hand_over(conn, limit=limit)
    taken = 0
    for row in due:
        document = receipt_response(row)
        attributes = await provider.register(document)
        async with db.transaction() as conn:
            if await repository.record_hand_over(
                conn, row.id, now=clock.now(), fiscal_attributes=attributes
            ):
                taken += 1
    return taken
