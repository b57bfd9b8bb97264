"""Order rules: create (optionally into a container), read, list, update, cancel, status.

States (api.md §8.7):

    created --pay--> completed            (payments/service.py; container paid)
    created --hold--> hold --ship--> completed
    created --DELETE--> canceled
    created --expirationDate passes--> expired
    non-processable orders: the merchant sets created/completed/expired/canceled itself

Every transition is a conditional update on the current status, so two racing requests
cannot both apply.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, ids, money, netguard
from marketbox.config import Settings
from marketbox.errors import FieldError, ValidationFailed
from marketbox.guarantee.sandbox import PAYMENT_METHODS
from marketbox.marketplace import addons as marketplace_addons
from marketbox.marketplace import repository as marketplace_repository
from marketbox.merchants.service import Merchant
from marketbox.orders import notices, repository, validation
from marketbox.orders.errors import (
    ContainerClosed,
    ContainerNotFound,
    ForeignMerchant,
    MerchantOrderIdDuplicate,
    OrderNotFound,
    WrongOrderStatus,
)
from marketbox.orders.schemas import CreateOrderRequest, OrderStatusRequest, UpdateOrderRequest
from marketbox.orders.serializers import order_response
from marketbox.payments import operations
from marketbox.receipts import service as receipts_service
from marketbox.shipments import repository as shipments_repository
from marketbox.shipments import service as shipments_service
from marketbox.storage.query import ListQuery

# The payment methods of guarantee instruments (promised payment, guarantee fund).
GUARANTEE_METHODS = frozenset(PAYMENT_METHODS.values())


def _dump(model: Any) -> Any:
    return model.model_dump(exclude_none=True, mode="python") if model is not None else None


def new_container_number() -> str:
    """A human invoice number like the real ones (`123-123212`), with room enough (9 * 10^11)
    that the unique index practically never refuses one."""
    return f"{secrets.randbelow(900) + 100}-{secrets.randbelow(900_000_000) + 100_000_000}"


async def create_order(
    conn: AsyncConnection,
    *,
    merchant: Merchant,
    request: CreateOrderRequest,
    settings: Settings,
    require_https: bool = False,
) -> dict[str, Any]:
    """A new order. A main order opens a container and is issued its paymentUrl
    (`Settings.payment_url`); a suborder joins a container and carries its URL."""
    if ids.normalize_uuid(request.merchantId) != merchant.id:
        raise ForeignMerchant()
    now = clock.now()
    validation.check_currency(request.currencyId)
    validation.check_language(request.languageId)
    setting = request.orderSetting
    validate_amounts = not (setting and setting.disableValidate)
    policy = setting.roundPolicy if setting and setting.roundPolicy else "strict"
    lines = validation.check_basket(
        request.basketItems, round_policy=policy, validate_amounts=validate_amounts
    )
    amount = validation.clean_amount(request.amount, "amount")
    vat_amount = validation.clean_amount(request.vatAmount, "vatAmount")
    validation.check_totals(amount, vat_amount, lines, validate_amounts=validate_amounts)
    expiration = validation.parse_expiration(request.expirationDate, now)
    validation.check_notification_url(request.notificationUrl, require_https=require_https)
    if require_https:  # production: no private networks (netguard.py); sandbox allows localhost
        await netguard.check_url(request.notificationUrl, field="notificationUrl")

    processable = merchant.has_contract and request.processable is not False
    await _check_references(conn, merchant, shop_id=request.shopId, parent_id=request.parentId)

    order_id = ids.new_id()
    new_container: dict[str, Any] | None = None
    if request.orderContainerId:
        place = await _join_container(conn, merchant, request, processable=processable, now=now)
    else:
        container_id = ids.new_id()
        place = _Place(container_id, "main", request.shopId, settings.payment_url(container_id))
        new_container = {
            "id": container_id,
            "number": new_container_number(),
            "currency": request.currencyId,
            "status": "pending",
            "main_order_id": order_id,
            "created_at": now,
        }
    extra = {}
    if request.deliveryAddress is not None:
        extra["deliveryAddress"] = request.deliveryAddress
    if request.userAccountId is not None:
        extra["userAccountId"] = request.userAccountId
    values = {
        "id": order_id,
        "container_id": place.container_id,
        "merchant_id": merchant.id,
        "merchant_order_id": request.merchantOrderId,
        "merchant_order_key": request.merchantOrderId
        if merchant.merchant_order_id_unique
        else None,
        "merchant_order_id_visible": request.merchantOrderIdVisible,
        "description": request.description,
        "amount_minor": money.to_minor(amount, request.currencyId),
        "vat_amount_minor": money.to_minor(vat_amount, request.currencyId),
        "currency": request.currencyId,
        "language_id": request.languageId or "ru",
        "status": "created",
        "subtype": "order",
        "joined_as": place.joined_as,
        "processing_status": "",
        "processable": processable,
        "expiration_date": expiration,
        "created_at": now,
        "updated_at": now,
        "paid_at": None,
        "shop_id": place.shop_id,
        "parent_id": request.parentId,
        "customer": _dump(request.customer) or {},
        "basket_items": lines,
        "meta_data": request.metaData,
        "notification_url": request.notificationUrl,
        "success_url": request.successUrl,
        "fail_url": request.failUrl,
        "return_url": request.returnUrl,
        "payment_url": place.payment_url,
        "invoice_setting": _dump(request.invoiceSetting),
        "order_setting": _dump(request.orderSetting),
        "extra": extra or None,
    }
    try:
        if new_container is None:
            await repository.insert_order(conn, values)
        else:
            await repository.insert_order_with_container(conn, new_container, values)
    except IntegrityError as exc:
        # Only the (merchant_id, merchant_order_key) constraint means a duplicate number; its
        # columns appear in both SQLite's and PostgreSQL's message.
        if "merchant_order_key" in str(exc.orig):
            raise MerchantOrderIdDuplicate() from exc
        raise
    return order_response(values)


class _Place(NamedTuple):
    """Where a new order goes: its container, how it joined it, its point of sale and the
    container's paymentUrl."""

    container_id: str
    joined_as: str
    shop_id: int | None
    payment_url: str


async def _join_container(
    conn: AsyncConnection,
    merchant: Merchant,
    request: CreateOrderRequest,
    *,
    processable: bool,
    now: Any,
) -> _Place:
    """Who may join an invoice (docs/security.md): its own merchants, or an approved add-on
    the payment page offers for it. The suborder carries the main order's paymentUrl (one
    container, one payment page); the container stays locked until commit, so no payment can
    slip between this check and the INSERT."""
    given = request.orderContainerId or ""
    if not ids.is_uuid(given):
        raise ContainerNotFound()
    container = await repository.lock_container(conn, ids.normalize_uuid(given))
    if container is None:
        raise ContainerNotFound()
    c = container._mapping
    container_id = str(c["id"])
    main = (await repository.main_order(conn, container_id))._mapping
    status = c["status"]
    if status == "pending" and main["status"] != "created":
        status = main["status"]  # a non-processable main order its merchant settled or closed
    elif status == "pending" and main["processable"] and main["expiration_date"] <= now:
        status = "expired"  # the sweeper records it; refusing is enough here
    if status != "pending":
        raise ContainerClosed(status)
    if c["currency"] != request.currencyId:
        raise ValidationFailed(
            "The order's currency differs from the container's",
            fields=[FieldError("currencyId", "wrong_value", c["currency"])],
        )
    if processable != main["processable"]:
        # One payment pays the whole invoice: an order settled outside the platform cannot
        # share it with orders paid here (it would block or skip their payment).
        raise ValidationFailed(
            "A suborder is paid with its invoice: processable must match the main order's",
            fields=[FieldError("processable", "wrong_value", str(main["processable"]).lower())],
        )
    if merchant.id in await repository.insiders(conn, container_id):
        return _Place(container_id, "own", request.shopId, main["payment_url"])
    shop_id = await marketplace_addons.admit_addon(
        conn, merchant_id=merchant.id, shop_id=request.shopId, container_id=container_id
    )
    return _Place(container_id, "addon", shop_id, main["payment_url"])


async def _check_references(
    conn: AsyncConnection, merchant: Merchant, *, shop_id: int | None, parent_id: str | None
) -> None:
    """Fields that name another object name one of the merchant's own (docs/security.md)."""
    errors = []
    if shop_id is not None and (
        await marketplace_repository.get_point_of_sale(conn, shop_id, merchant_id=merchant.id)
        is None
    ):
        errors.append(FieldError("shopId", "wrong_value", "no such point of sale of yours"))
    if parent_id is not None and (
        not ids.is_uuid(parent_id)
        or await repository.get_order(conn, ids.normalize_uuid(parent_id), merchant_id=merchant.id)
        is None
    ):
        errors.append(FieldError("parentId", "wrong_value", "no such order of yours"))
    if errors:
        raise ValidationFailed("Validation error", fields=errors)


async def expire_due(
    conn: AsyncConnection,
    *,
    merchant_id: str | None = None,
    container_id: str | None = None,
) -> int:
    """Record expiry of overdue unpaid orders and notify their shops; returns how many."""
    expired = await repository.expire_due(
        conn, clock.now(), merchant_id=merchant_id, container_id=container_id
    )
    await notices.enqueue_for_orders(conn, expired, event="expired")
    return len(expired)


async def get_order(conn: AsyncConnection, *, merchant: Merchant, order_id: str) -> dict[str, Any]:
    row = await _owned_order(conn, merchant, order_id)
    return order_response(row)


async def get_owned_order(
    conn: AsyncConnection,
    *,
    merchant: Merchant,
    order_id: str,
    lock: bool = False,
) -> Any:
    """The merchant's order row for another domain's action on it (404 otherwise); with
    `lock`, its container is locked first (docs/security.md "Lock order")."""
    return await _owned_order(conn, merchant, order_id, lock=lock)


async def _owned_order(
    conn: AsyncConnection,
    merchant: Merchant,
    order_id: str,
    *,
    lock: bool = False,
) -> Any:
    """The merchant's order; else 404 (never 403).

    Without `lock` (a read): the order as it reads now, a passed deadline shown as `expired`
    but not recorded (repository "Expiry as a reader sees it"). With `lock` (a change): a
    passed deadline is recorded and notified first, then the order's container is locked and
    the order re-read under that lock (docs/security.md "Lock order").
    """
    if not ids.is_uuid(order_id):
        raise OrderNotFound()
    order_id = ids.normalize_uuid(order_id)
    if not lock:
        row = await repository.read_order(conn, order_id, merchant_id=merchant.id, now=clock.now())
        if row is None:
            raise OrderNotFound()
        return row
    row = await repository.get_order(conn, order_id, merchant_id=merchant.id)
    if row is None:
        raise OrderNotFound()
    m = row._mapping
    if m["status"] == "created" and m["subtype"] == "order" and m["processable"]:
        # Its own deadline, or its container's main order's (expire_due finds either).
        await expire_due(conn, container_id=m["container_id"])
    found = await repository.lock_order(conn, order_id, merchant_id=merchant.id)
    return found[0] if found is not None else None


async def list_orders(
    conn: AsyncConnection, *, merchant: Merchant, query: ListQuery, search: str | None = None
) -> tuple[list[dict[str, Any]], int]:
    """A page of the merchant's orders; reading writes nothing (passed deadlines read as
    `expired`; the worker records them). `search`: the office's search box (an id, a
    merchantOrderId, the payer's e-mail, phone or name)."""
    rows, total = await repository.list_orders(
        conn, merchant_id=merchant.id, query=query, now=clock.now(), search=search
    )
    return [order_response(r) for r in rows], total


async def update_order(
    conn: AsyncConnection,
    *,
    merchant: Merchant,
    order_id: str,
    request: UpdateOrderRequest,
    require_https: bool = False,
) -> dict[str, Any]:
    """Partial update before payment; the merged order is re-validated as at creation."""
    validation.check_notification_url(request.notificationUrl, require_https=require_https)
    if require_https:  # production: no private networks (netguard.py); sandbox allows localhost
        await netguard.check_url(request.notificationUrl, field="notificationUrl")
    row = await _owned_order(conn, merchant, order_id, lock=True)
    m = row._mapping
    if m["subtype"] != "order":
        raise WrongOrderStatus("A refund is not updated: cancel it and create another")
    if m["status"] != "created":
        raise WrongOrderStatus(f"An order in status {m['status']} cannot be updated")
    if "shopId" in request.model_fields_set and request.shopId != m["shop_id"]:
        if m["joined_as"] == "addon":
            raise ValidationFailed(
                "An add-on order keeps the point of sale it joined the invoice through",
                fields=[FieldError("shopId", "wrong_value", "cannot change")],
            )
        await _check_references(conn, merchant, shop_id=request.shopId, parent_id=None)
    now = clock.now()
    currency = m["currency"]
    given = request.model_fields_set
    order_setting = m["order_setting"] or {}
    validate_amounts = not order_setting.get("disableValidate")
    policy = order_setting.get("roundPolicy") or "strict"
    values: dict[str, Any] = {"updated_at": now}
    if "basketItems" in given and request.basketItems is not None:
        lines = validation.check_basket(
            request.basketItems, round_policy=policy, validate_amounts=validate_amounts
        )
        values["basket_items"] = lines
    else:
        lines = m["basket_items"]
    amount = (
        validation.clean_amount(request.amount, "amount")
        if request.amount is not None
        else money.from_minor(m["amount_minor"], currency)
    )
    vat_amount = (
        validation.clean_amount(request.vatAmount, "vatAmount")
        if request.vatAmount is not None
        else money.from_minor(m["vat_amount_minor"], currency)
    )
    validation.check_totals(amount, vat_amount, lines, validate_amounts=validate_amounts)
    values["amount_minor"] = money.to_minor(amount, currency)
    values["vat_amount_minor"] = money.to_minor(vat_amount, currency)
    if request.expirationDate is not None:
        values["expiration_date"] = validation.parse_expiration(request.expirationDate, now)
    simple = {
        "description": "description",
        "metaData": "meta_data",
        "shopId": "shop_id",
        "merchantOrderIdVisible": "merchant_order_id_visible",
        "notificationUrl": "notification_url",
        "successUrl": "success_url",
        "failUrl": "fail_url",
        "returnUrl": "return_url",
    }
    for field, column in simple.items():
        if field in given and getattr(request, field) is not None:
            values[column] = getattr(request, field)
    if request.customer is not None:
        values["customer"] = _dump(request.customer)
    if request.invoiceSetting is not None:
        values["invoice_setting"] = _dump(request.invoiceSetting)
    updated = await repository.update_order(conn, m["id"], values, from_statuses=("created",))
    if updated is None:  # paid or canceled between our read and this write
        raise WrongOrderStatus()
    return order_response(updated)


async def cancel_order(
    conn: AsyncConnection, *, merchant: Merchant, order_id: str
) -> dict[str, Any]:
    """DELETE: an unpaid order is canceled; a held payment marked shipping_unavailable is
    reversed (api.md §8.6); anything else is `wrong_order_status`.

    Canceling the main order withdraws the invoice: every unpaid order in it is canceled
    with it, and each of their shops is notified. Another order goes alone.
    """
    row = await _owned_order(conn, merchant, order_id, lock=True)
    m = row._mapping
    now = clock.now()
    if m["status"] == "created" and m["joined_as"] == "main":
        canceled = await repository.cancel_created_orders(conn, m["container_id"], now)
        await notices.enqueue_for_orders(conn, canceled, event="canceled")
        updated = next(r for r in canceled if r._mapping["id"] == m["id"])
        return order_response(updated)
    if m["subtype"] != "order" and m["status"] in ("draft", "created"):
        if await operations.of_source(conn, operations.REFUND, m["id"]):
            raise WrongOrderStatus("The refund is being paid out: it cannot be canceled any more")
        from_statuses: tuple[str, ...] = ("draft", "created")  # a refund not yet paid out
    elif m["status"] == "created":
        from_statuses = ("created",)
    elif m["status"] == "hold" and m["processing_status"] == "shipping_unavailable":
        from_statuses = ("hold",)
    elif m["status"] == "completed" and await _guaranteed_and_unshipped(conn, m):
        # Paid by a guarantee instrument, nothing shipped: a full reversal (api.md §8.6). The
        # guarantee was settled outside the platform: no money moves here.
        from_statuses = ("completed",)
    else:
        raise WrongOrderStatus(f"An order in status {m['status']} cannot be canceled")
    updated = await repository.update_order(
        conn, m["id"], {"status": "canceled", "updated_at": now}, from_statuses=from_statuses
    )
    if updated is None:
        raise WrongOrderStatus()
    if m["status"] == "hold":
        # The shop cannot serve it: its share of the hold is released with the rest.
        await shipments_service.release_if_settled(conn, m["container_id"])
    elif m["status"] == "completed":
        await receipts_service.issue_for_reversal(conn, updated)
    await notices.enqueue_for_orders(conn, [updated], event="canceled")
    return order_response(updated)


async def _guaranteed_and_unshipped(conn: AsyncConnection, order: Any) -> bool:
    """Paid by a guarantee instrument (guarantee/), with no shipment (and no refund) of it."""
    if order["subtype"] != "order":
        return False
    container = await repository.lock_container(conn, order["container_id"])
    payment = await operations.payment_of(conn, container._mapping["payment_id"])
    if payment is None or payment["method"] not in GUARANTEE_METHODS:
        return False
    if await shipments_repository.live_shipments_of(conn, order["id"]):
        return False
    return not await repository.live_children(conn, order["id"])


async def mark_shipping_unavailable(
    conn: AsyncConnection, order_ids: Sequence[str], now: datetime
) -> None:
    """The shop answered an order's notification with `shipping_unavailable` (notifications.md
    §5, §7): it cannot render the service. The API and the payment page show it, and the order
    may then be canceled (a hold released)."""
    await repository.mark_processing_status(conn, order_ids, "shipping_unavailable", now)


async def remove_addon(conn: AsyncConnection, *, container_id: str, order_id: str) -> bool:
    """The buyer removes an add-on order from the payment page before paying.

    Only orders that joined as add-ons, only while the invoice is unpaid; the add-on's shop
    is notified of the cancellation. Returns False (and changes nothing) otherwise.
    """
    if not ids.is_uuid(container_id) or not ids.is_uuid(order_id):
        return False
    container = await repository.lock_container(conn, ids.normalize_uuid(container_id))
    if container is None or container._mapping["status"] != "pending":
        return False
    row = await repository.get_order(conn, ids.normalize_uuid(order_id), merchant_id=None)
    if row is None:
        return False
    m = row._mapping
    if m["container_id"] != container._mapping["id"] or m["joined_as"] != "addon":
        return False
    updated = await repository.update_order(
        conn, m["id"], {"status": "canceled", "updated_at": clock.now()}, from_statuses=("created",)
    )
    if updated is None:
        return False
    await notices.enqueue_for_orders(conn, [updated], event="canceled")
    return True


NON_PROCESSABLE_TARGETS = {"created", "completed", "expired", "canceled"}


async def set_status(
    conn: AsyncConnection,
    *,
    merchant: Merchant,
    order_id: str,
    request: OrderStatusRequest,
) -> dict[str, Any]:
    """PUT /v3/billing/api/order/{id}/status: the merchant moves a non-processable order."""
    row = await _owned_order(conn, merchant, order_id, lock=True)
    m = row._mapping
    if m["processable"]:
        raise WrongOrderStatus("Only non-processable orders change status through this method")
    target = "canceled" if request.status == "cancelled" else request.status
    # Any documented status may follow any other: `created` as a target only makes sense if
    # the merchant can reopen an order it settles outside the platform (api.md addendum).
    now = clock.now()
    values: dict[str, Any] = {"status": target, "updated_at": now}
    if target == "completed":
        values["paid_at"] = m["paid_at"] or now
    updated = await repository.update_order(conn, m["id"], values, from_statuses=(m["status"],))
    if updated is None:
        raise WrongOrderStatus()
    return order_response(updated)
