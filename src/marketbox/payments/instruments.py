"""Payment-instrument (bank) API, spec/api.md §13.1-§13.2: invoices and signed confirmations.

An invoice is an order container. Instruments are platform partners, not merchants: they see
every processable invoice (a bank finds its client's invoices by the payer's INN), and a
container holding a non-processable order is invisible to them (it is not paid through us).

    container status    invoice status   amount / vatAmount counted over
    pending             pending          orders still `created` (what a payment pays)
    pending, none left  canceled         canceled orders
    paid                paid             orders with `paidAt`
    canceled            canceled         canceled orders
    expired             canceled         expired orders (the enum has no `expired`)

A confirmation pays through `payments.service.pay_container`, so it races safely with the
payment page and with other confirmations. It is idempotent per (instrument,
`paymentOperationId`): the stored answer is replayed for a repeat.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    String,
    and_,
    bindparam,
    cast,
    exists,
    func,
    not_,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import KeyedColumnElement

from marketbox import clock, ids, money
from marketbox.errors import FieldError, ValidationFailed
from marketbox.merchants.service import Instrument
from marketbox.orders import repository as orders_repository
from marketbox.orders.errors import WrongOrderStatus
from marketbox.orders.serializers import format_datetime
from marketbox.orders.validation import OrderRuleError, clean_amount
from marketbox.payments import repository
from marketbox.payments import service as payments_service
from marketbox.payments.errors import (
    AlreadyPaid,
    AmountChanged,
    ContainerNotFound,
    ContainerNotPayable,
    NotPayableHere,
    PaymentOperationReused,
    WrongCurrency,
)
from marketbox.payments.schemas import INVOICE_STATUSES, CreateInvoicePaymentRequest
from marketbox.storage.query import Condition, ListQuery, compare
from marketbox.storage.tables import order_containers, orders

# Public invoice status -> container statuses it covers.
_CONTAINER_STATUSES = {
    "pending": ("pending",),
    "paid": ("paid",),
    "canceled": ("canceled", "expired"),
    "partial": (),  # no partial payments on this platform: matches nothing
}


def parse_invoice_status(value: str) -> str:
    if value not in INVOICE_STATUSES:
        raise ValueError(value)
    return value


CUSTOMER_FILTERS = ("type", "vatNumber", "phone", "email")
# What the invoice list filters on (payments/routes.py parses each from the query string).
FILTER_NAMES = (
    "id",
    "number",
    "status",
    "createdAt",
    "currencyId",
    *(f"customer.{name}" for name in CUSTOMER_FILTERS),
)
FILTER_COLUMNS = {
    "id": order_containers.c.id,
    "number": order_containers.c.number,
    "createdAt": order_containers.c.created_at,
    "currencyId": order_containers.c.currency,
}
SORT_COLUMNS = {
    "createdAt": order_containers.c.created_at,
    "number": order_containers.c.number,
    "id": order_containers.c.id,
}

_main = orders.alias("main_order")


# --- Reading ---------------------------------------------------------------------------------


async def list_invoices(
    conn: AsyncConnection, *, query: ListQuery
) -> tuple[list[dict[str, Any]], int]:
    # Reading writes nothing: passed deadlines read as expired (the worker records them).
    now = clock.now()
    dialect = conn.dialect.name
    where = and_(_visible(), *(_condition(c, dialect, now) for c in query.conditions))
    joined = order_containers.join(_main, _main.c.id == order_containers.c.main_order_id)
    total = (await conn.execute(select(func.count()).select_from(joined).where(where))).scalar_one()
    columns = orders_repository.effective_container_columns(now)
    stmt = select(*columns).select_from(joined).where(where)
    for field, descending in query.order:
        column = SORT_COLUMNS[field]
        stmt = stmt.order_by(column.desc() if descending else column.asc())
    stmt = stmt.order_by(order_containers.c.id.desc()).limit(query.page_size)
    containers = (await conn.execute(stmt.offset(query.offset))).all()
    by_container: dict[str, list[Any]] = {c._mapping["id"]: [] for c in containers}
    if by_container:
        rows = await conn.execute(
            select(*orders_repository.effective_columns(now))
            .where(orders.c.container_id.in_(by_container))
            .order_by(orders.c.created_at, orders.c.id)
        )
        for row in rows:
            by_container[row._mapping["container_id"]].append(row)
    items = [invoice_response(c, by_container[c._mapping["id"]]) for c in containers]
    return items, total


async def get_invoice(conn: AsyncConnection, *, invoice_id: str) -> dict[str, Any]:
    container_id = (await _visible_container(conn, invoice_id))._mapping["id"]
    now = clock.now()
    container = await repository.get_container(conn, container_id, now=now)
    rows = await conn.execute(
        select(*orders_repository.effective_columns(now))
        .where(orders.c.container_id == container_id)
        .order_by(orders.c.created_at, orders.c.id)
    )
    return invoice_response(container, list(rows))


def invoice_response(container: Any, order_rows: Sequence[Any]) -> dict[str, Any]:
    c = container._mapping
    # Refunds (subtype refund) give money back: they are no part of what the invoice asks for.
    rows = [r._mapping for r in order_rows if r._mapping["subtype"] == "order"]
    created = [o for o in rows if o["status"] == "created"]
    status = c["status"]
    if status == "pending" and not created:
        status = "canceled"
    counted = {
        "pending": created,
        "paid": [o for o in rows if o["paid_at"] is not None],
        "expired": [o for o in rows if o["status"] == "expired"],
        "canceled": [o for o in rows if o["status"] == "canceled"],
    }[status] or rows
    currency = c["currency"]
    main = next((o for o in rows if o["id"] == c["main_order_id"]), rows[0])
    customer = {**(main["customer"] or {}), **(c["payer"] or {})}
    customer["type"] = customer.get("type") or "private"
    return {
        "id": c["id"],
        "number": c["number"],
        "createdAt": format_datetime(c["created_at"]),
        # api.md §13.1 "pay-by date": the earliest deadline of the orders still to pay.
        "expirationDate": format_datetime(min(o["expiration_date"] for o in created or counted)),
        "description": main["description"],
        "amount": money.from_minor(sum(o["amount_minor"] for o in counted), currency),
        "vatAmount": money.from_minor(sum(o["vat_amount_minor"] for o in counted), currency),
        "currencyId": currency,
        "customer": customer,
        "status": "canceled" if status == "expired" else status,
        "paymentUrl": main["payment_url"],
    }


def _visible() -> ColumnElement[bool]:
    """Containers paid through the platform: none of their orders is non-processable."""
    return not_(
        exists().where(
            orders.c.container_id == order_containers.c.id, orders.c.processable.is_(False)
        )
    )


_VISIBLE_CONTAINER = select(order_containers).where(
    order_containers.c.id == bindparam("cid"), _visible()
)


async def _visible_container(conn: AsyncConnection, invoice_id: str) -> Any:
    if not ids.is_uuid(invoice_id):
        raise ContainerNotFound()
    params = {"cid": ids.normalize_uuid(invoice_id)}
    container = (await conn.execute(_VISIBLE_CONTAINER, params)).first()
    if container is None:
        raise ContainerNotFound()
    return container


def _customer_field(name: str, dialect: str) -> ColumnElement[Any]:
    """The effective payer field: what the payer entered on the page, else the order's."""

    def extract(column: KeyedColumnElement[Any]) -> ColumnElement[Any]:
        if dialect == "postgresql":
            return func.json_extract_path_text(cast(column, JSON), name, type_=String)
        return func.json_extract(column, f"$.{name}", type_=String)

    value = func.coalesce(extract(order_containers.c.payer), extract(_main.c.customer))
    if name == "type":  # responses default an absent type to `private`
        value = func.coalesce(value, "private")
    return value


def _condition(cond: Condition, dialect: str, now: datetime) -> ColumnElement[bool]:
    if cond.field == "status":
        return _status_condition(cond, now)
    if cond.field.startswith("customer."):
        column: ColumnElement[Any] = _customer_field(cond.field.split(".", 1)[1], dialect)
    else:
        column = FILTER_COLUMNS[cond.field]
    return compare(column, cond.op, cond.values)


def _status_condition(cond: Condition, now: datetime) -> ColumnElement[bool]:
    if cond.op not in {"eq", "in", "ne"}:
        raise ValidationFailed(
            "Invalid list query",
            fields=[FieldError("status", "wrong_value", "status takes eq, ne or a list")],
        )
    statuses = [s for v in cond.values for s in _CONTAINER_STATUSES[v]]
    column = orders_repository.effective_container_status(now)
    return column.not_in(statuses) if cond.op == "ne" else column.in_(statuses)


# --- Confirming ------------------------------------------------------------------------------


async def confirm_payment(
    conn: AsyncConnection,
    *,
    instrument: Instrument,
    request: CreateInvoicePaymentRequest,
) -> dict[str, Any]:
    """Pay the invoice for the instrument, or replay the answer to the same operation.
    `conn`: a `Database.statement()` unit (payments/service.pay_container_at_once)."""
    if request.status != "paid":
        raise ValidationFailed(
            "Only final confirmations (status paid) are accepted",
            fields=[FieldError("status", "wrong_value", "pending is not supported")],
        )
    amount = clean_amount(request.amount, "amount")
    answer = _answer(request, amount)
    operation_id = request.paymentOperationId
    if not ids.is_uuid(request.invoiceId):
        raise ContainerNotFound()
    # Pay first, look back only when refused: a first confirmation costs no extra reads, and a
    # repeat finds its invoice paid and its stored answer.
    try:
        result = await payments_service.pay_container_at_once(
            conn,
            container_id=ids.normalize_uuid(request.invoiceId),
            method="instrument",
            expected_amount=amount,
            expected_currency=request.currencyId,
            instrument_id=instrument.id,
            operation_id=operation_id,
            details=answer,
        )
    except AlreadyPaid:
        stored = await repository.find_instrument_payment(conn, instrument.id, operation_id)
        if stored is None:
            raise
        return _replay(stored, answer)
    except WrongCurrency as exc:
        raise OrderRuleError("wrong_currency", str(exc), "currencyId") from exc
    except AmountChanged as exc:
        raise AmountChanged(
            f"amount {amount} differs from the invoice total", fields=[FieldError("amount")]
        ) from exc
    except NotPayableHere as exc:
        # Invoices with orders settled outside the platform are not shown to instruments.
        raise ContainerNotFound() from exc
    except ContainerNotPayable as exc:
        raise WrongOrderStatus(f"The invoice is {exc.container_status}") from exc
    except IntegrityError as exc:
        # This operation id already paid another invoice (unique per instrument).
        raise PaymentOperationReused() from exc
    return {**answer, "id": result.payment_id}


def _answer(request: CreateInvoicePaymentRequest, amount: Decimal) -> dict[str, Any]:
    """InvoicePaymentResponse without its `id`: the request, normalised, aliases kept."""
    answer = request.model_dump(exclude_none=True, mode="python")
    answer.update(invoiceId=ids.normalize_uuid(request.invoiceId), amount=amount)
    payment_order = request.payment_order()
    if payment_order is not None:
        answer["paymentOrder"] = payment_order
    return answer


def _replay(stored: Any, answer: dict[str, Any]) -> dict[str, Any]:
    s = stored._mapping
    previous = s["details"] or {}
    if (
        s["container_id"] != answer["invoiceId"]
        or money.from_minor(s["amount_minor"], s["currency"]) != answer["amount"]
        or s["currency"] != answer["currencyId"]
    ):
        raise PaymentOperationReused()
    return {**previous, "id": s["id"]}
