"""Creating platform orders through the SDK, and recording payments from notifications.

Backend duties of a mini-app (spec/miniapps.md §7): the merchant token stays here; the order
carries a unique `merchantOrderId`, a priced basket, the buyer from init data, `shopId`, our
own success/fail/notification URLs and, in suborder mode, the buyer's `orderContainerId`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import secrets
import uuid
from decimal import Decimal
from typing import Any

from demo_shop.catalog import SERVICES, Line, SelectionError, Service, pick, price_selection
from demo_shop.store import OrderStore
from marketbox_sdk import (
    AsyncClient,
    BasketItem,
    Customer,
    Notification,
    NotificationError,
    NotificationErrorCode,
    is_paid,
)

log = logging.getLogger("demo_shop")

LOCALES = ("ru", "en")
ORDER_LIFETIME = dt.timedelta(days=1)
_CLOSED_STATUSES = {"canceled": "canceled", "expired": "expired"}


@dataclasses.dataclass(frozen=True)
class OrderRequest:
    """What the frontend sends: a selection plus what the host told it in `init`."""

    service: Service
    items: list[dict[str, Any]]
    locale: str
    order_container_id: str | None
    shop_id: int | None
    customer_name: str | None
    customer_email: str | None
    customer_phone: str | None
    flight_number: str | None
    airport: str | None

    @property
    def mode(self) -> str:
        return "suborder" if self.order_container_id else "order"


def _text(data: dict[str, Any], key: str, limit: int) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise SelectionError(f"{key} must be a string")
    return value.strip()[:limit] or None


def parse_order_request(data: Any) -> OrderRequest:
    if not isinstance(data, dict):
        raise SelectionError("a JSON object is expected")
    service = SERVICES.get(data.get("service"))  # type: ignore[arg-type]
    if service is None:
        raise SelectionError("unknown service")
    items = data.get("items")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise SelectionError("items must be a list of {sku, quantity}")
    locale = data.get("locale") if data.get("locale") in LOCALES else "ru"
    shop_id = data.get("shopId")
    if shop_id is not None and (not isinstance(shop_id, int) or isinstance(shop_id, bool)):
        raise SelectionError("shopId must be an integer")
    customer = data.get("customer") or {}
    if not isinstance(customer, dict):
        raise SelectionError("customer must be an object")
    flight = data.get("flight") or {}
    if not isinstance(flight, dict):
        raise SelectionError("flight must be an object")
    return OrderRequest(
        service=service,
        items=items,
        locale=str(locale),
        order_container_id=_text(data, "orderContainerId", 36),
        shop_id=shop_id,
        customer_name=_text(customer, "name", 500),
        customer_email=_text(customer, "email", 100),
        customer_phone=_text(customer, "phone", 100),
        flight_number=_text(flight, "number", 20),
        airport=_text(flight, "airport", 3),
    )


def new_merchant_order_id(service: Service) -> str:
    # Unguessable: it is also the key of the public status endpoint (the success screen).
    return f"ds-{service.key}-{uuid.uuid4().hex[:20]}"


def _basket_item(line: Line) -> BasketItem:
    return BasketItem(
        sku=line.sku,
        name=line.name,
        measure="шт.",
        measure_code="796",
        quantity=Decimal(line.quantity),
        amount=line.amount,
        amount_wo_vat=line.amount_wo_vat,
        total_amount=line.total_amount,
        total_vat_amount=line.total_vat_amount,
        vat_code=line.vat_code,
        type="service",
        payment_type="full_prepayment",
    )


def _description(request: OrderRequest) -> str:
    title = pick(request.service.title, request.locale)
    if request.flight_number:
        word = "рейс" if request.locale == "ru" else "flight"
        airport = f" {request.airport}" if request.airport else ""
        return f"{title}{airport}, {word} {request.flight_number}"
    return title


@dataclasses.dataclass(frozen=True)
class CreatedOrder:
    merchant_order_id: str
    payment_url: str
    platform_order_id: str
    container_id: str


async def create_order(
    *,
    client: AsyncClient,
    store: OrderStore,
    request: OrderRequest,
    merchant_id: str,
    public_url: str,
) -> CreatedOrder:
    """Price the selection, record it, create the platform order; SDK errors propagate."""
    lines = price_selection(request.service, request.items, request.locale)
    amount = sum((line.total_amount for line in lines), Decimal(0))
    vat_amount = sum((line.total_vat_amount for line in lines), Decimal(0))
    merchant_order_id = new_merchant_order_id(request.service)
    visible_number = f"{request.service.key.upper()}-{secrets.randbelow(900000) + 100000}"
    store.add(
        merchant_order_id=merchant_order_id,
        number=visible_number,
        service=request.service.key,
        mode=request.mode,
        locale=request.locale,
        amount=amount,
        currency=request.service.currency,
        lines=[line.to_dict() for line in lines],
    )
    customer = Customer(
        type="private",
        name=request.customer_name,
        email=request.customer_email,
        phone=request.customer_phone,
    )
    fields: dict[str, Any] = {
        "merchant_order_id_visible": visible_number,
        "language_id": request.locale,
        "success_url": f"{public_url}/success?order={merchant_order_id}",
        "fail_url": f"{public_url}/fail?order={merchant_order_id}",
        "notification_url": f"{public_url}/api/invoicebox/notify",
    }
    if request.shop_id is not None:
        fields["shop_id"] = request.shop_id
    if request.mode == "order":
        fields["return_url"] = f"{public_url}{request.service.path}"
    try:
        order = await client.create_order(
            merchant_id=merchant_id,
            merchant_order_id=merchant_order_id,
            description=_description(request),
            amount=amount,
            vat_amount=vat_amount,
            currency_id=request.service.currency,
            expiration_date=dt.datetime.now(dt.UTC) + ORDER_LIFETIME,
            basket_items=[_basket_item(line) for line in lines],
            customer=customer,
            order_container_id=request.order_container_id,
            **fields,
        )
    except BaseException:
        store.remove(merchant_order_id)
        raise
    if not order.payment_url or not order.order_container_id:
        store.remove(merchant_order_id)
        raise RuntimeError("the platform answered without paymentUrl/orderContainerId")
    store.attach_platform_order(
        merchant_order_id,
        platform_order_id=order.id,
        container_id=order.order_container_id,
        payment_url=order.payment_url,
    )
    log.info(
        "order created merchant_order=%s order=%s container=%s mode=%s",
        merchant_order_id,
        order.id,
        order.order_container_id,
        request.mode,
    )
    return CreatedOrder(merchant_order_id, order.payment_url, order.id, order.order_container_id)


def record_notification(store: OrderStore, notification: Notification) -> None:
    """The NotificationReceiver handler: signature, merchant and the test id are checked already.

    Raises NotificationError to refuse; returning means `{"status": "success"}`.
    """
    order = store.get(notification.merchant_order_id or "")
    if order is None:
        raise NotificationError(NotificationErrorCode.ORDER_NOT_FOUND, "unknown merchantOrderId")
    if order.paid_notification_id == notification.id:
        return  # a retry of what we already processed
    if order.is_paid:
        raise NotificationError(
            NotificationErrorCode.ORDER_ALREADY_PAID, "paid by another notification"
        )
    if notification.amount != order.amount or notification.currency_id != order.currency:
        raise NotificationError(
            NotificationErrorCode.ORDER_WRONG_AMOUNT,
            f"expected {order.amount} {order.currency}",
        )
    if is_paid(notification):
        if not store.mark_paid(order.merchant_order_id, notification.id):
            # Lost a race with a concurrent delivery: success only if it was this same id.
            again = store.get(order.merchant_order_id)
            if again is None or again.paid_notification_id != notification.id:
                raise NotificationError(
                    NotificationErrorCode.ORDER_ALREADY_PAID, "paid by another notification"
                )
        log.info("order paid merchant_order=%s order=%s", order.merchant_order_id, notification.id)
        return
    closed = _CLOSED_STATUSES.get(notification.status)
    if closed:
        store.mark_closed(order.merchant_order_id, closed)
