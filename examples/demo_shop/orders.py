"""Creating platform orders through the SDK, recording payments from notifications, and what
comes after the payment.

Backend duties of a mini-app (spec/miniapps.md §7): the merchant token stays here; the order
carries a unique `merchantOrderId`, a priced basket, the buyer from init data, `shopId`, our
own success/fail/notification URLs and, in suborder mode, the buyer's `orderContainerId`.

After the payment:

* refund: the buyer's order page offers a full refund (`refund_order`). The refund's number
  is the order's plus `-refund`, so there is at most one per order (the platform refuses a
  second one with that number), and it is also the call's idempotency key; its status follows
  the platform's refund notifications (created -> completed).
* shipment: a lounge pass is the service itself, delivered the moment it is paid (the guest
  shows it at the lounge's door), so the shop records a final shipment of the whole order as
  soon as the payment notification arrives (`deliver_lounge_pass`): the platform then issues
  the closing documents. A failed shipment call never refuses the payment notification; the
  next delivery of that notification tries again. Taxi and coffee are delivered later and
  are not shipped by this demo.
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
from demo_shop.store import OrderStore, ShopOrder
from marketbox_sdk import (
    AsyncClient,
    BasketItem,
    Customer,
    DuplicateMerchantOrderId,
    InvoiceboxError,
    LaunchData,
    Notification,
    NotificationError,
    NotificationErrorCode,
    Refund,
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
    # public.signedLaunchData, verbatim: the only source of the fields above it that the
    # backend trusts (launch.py, `with_launch`).
    signed_launch_data: str | None = None

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
        signed_launch_data=_signed(data.get("signedLaunchData")),
    )


def _signed(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise SelectionError("signedLaunchData must be a string")
    return value


def with_launch(request: OrderRequest, launch: LaunchData) -> OrderRequest:
    """The request with what the platform signed in place of what the frontend said: the point
    of sale, the invoice to join (suborder mode only) and the buyer."""
    return dataclasses.replace(
        request,
        shop_id=launch.shop_id,
        order_container_id=launch.order_container_id,
        customer_name=launch.user_name or None,
        customer_email=launch.user_email or None,
        customer_phone=launch.user_phone or None,
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


REFUND_SUFFIX = "-refund"
_FINAL_REFUND_STATUSES = ("completed", "canceled")
_REFUND_DESCRIPTION = {"ru": "Возврат заказа {number}", "en": "Refund of order {number}"}


class RefundRefused(Exception):
    """The order cannot be refunded by the buyer (not paid, or refunded already)."""


def refund_number(merchant_order_id: str) -> str:
    """The merchantOrderId of the order's (one) refund."""
    return merchant_order_id + REFUND_SUFFIX


async def refund_order(*, client: AsyncClient, store: OrderStore, merchant_order_id: str) -> None:
    """Refund a paid order in full through the SDK and record the refund; SDK errors propagate.

    Raises LookupError for an unknown order, RefundRefused when it cannot be refunded.
    """
    order = store.get(merchant_order_id)
    if order is None:
        raise LookupError(merchant_order_id)
    if not order.refundable or order.platform_order_id is None:
        raise RefundRefused("only a paid order that was not refunded yet can be refunded")
    number = refund_number(merchant_order_id)
    refund: Refund | None
    try:
        refund = await client.refund_in_full(
            order.platform_order_id,
            merchant_order_id=number,
            description=_REFUND_DESCRIPTION[order.locale].format(number=order.number),
            idempotency_key=number,
        )
    except DuplicateMerchantOrderId:
        # Made before, its answer lost (e.g. the shop restarted): look it up by its number.
        found = await client.list_refunds(merchant_order_id=number)
        refund = next(iter(found), None)
        if refund is None:
            raise
    store.record_refund(
        merchant_order_id, refund_id=refund.id, status=refund.status, amount=refund.amount
    )
    log.info("refund merchant_order=%s refund=%s status=%s", number, refund.id, refund.status)


def _record_refund_notification(store: OrderStore, notification: Notification) -> None:
    """The refund button's refund is recorded; one made elsewhere (the merchant's dashboard, the
    MCP server) of a known order is acknowledged and shown only if the order has none yet."""
    number = notification.merchant_order_id or ""
    order = None
    if number.endswith(REFUND_SUFFIX):
        order = store.get(number.removesuffix(REFUND_SUFFIX))
    if order is None and notification.parent_id:
        order = store.get_by_platform_order(notification.parent_id)
    if order is None:
        raise NotificationError(NotificationErrorCode.ORDER_NOT_FOUND, "unknown refund")
    if order.refund_id not in (None, notification.id):
        return  # another refund of this order: the page keeps showing the first one
    if order.refund_status in _FINAL_REFUND_STATUSES and notification.status != order.refund_status:
        return  # an older notification arriving late: the refund went on since
    store.record_refund(
        order.merchant_order_id,
        refund_id=notification.id,
        status=notification.status,
        amount=notification.amount if notification.amount is not None else Decimal(0),
    )


async def deliver_lounge_pass(client: AsyncClient, store: OrderStore, order: ShopOrder) -> None:
    """Record the shipment of a paid lounge order (once); a platform failure is logged only."""
    if order.service != "lounge" or order.shipment_id or order.platform_order_id is None:
        return
    try:
        platform_order = await client.get_order(order.platform_order_id)
        shipment = await client.create_shipment(
            order_id=order.platform_order_id,
            basket_items=platform_order.basket_items,
            document_number=order.number,
            document_date=dt.datetime.now(dt.UTC).date(),
            final=True,
            meta_data={"pass": order.number},
            idempotency_key=f"{order.merchant_order_id}-shipment",
        )
    except InvoiceboxError as exc:
        log.warning("shipment failed merchant_order=%s: %s", order.merchant_order_id, exc)
        return
    store.record_shipment(
        order.merchant_order_id, shipment_id=str(shipment.id), status=shipment.status or ""
    )
    log.info("shipment merchant_order=%s shipment=%s", order.merchant_order_id, shipment.id)


async def record_notification(
    store: OrderStore, client: AsyncClient, notification: Notification
) -> None:
    """The NotificationReceiver handler: signature, merchant and the test id are checked already.

    Raises NotificationError to refuse; returning means `{"status": "success"}`.
    """
    if notification.subtype == "refund":
        _record_refund_notification(store, notification)
        return
    order = store.get(notification.merchant_order_id or "")
    if order is None:
        raise NotificationError(NotificationErrorCode.ORDER_NOT_FOUND, "unknown merchantOrderId")
    if order.paid_notification_id == notification.id:
        await deliver_lounge_pass(client, store, order)  # a retry: finish what may be missing
        return
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
        paid = store.get(order.merchant_order_id)
        if paid is not None:
            await deliver_lounge_pass(client, store, paid)
        return
    closed = _CLOSED_STATUSES.get(notification.status)
    if closed:
        store.mark_closed(order.merchant_order_id, closed)
