"""`idempotency_key=` on every mutating call: sent as the `Idempotency-Key` header, sync and
async, merchant and instrument clients; a fresh UUID per call when not given (so the SDK's own
retries are safe); refused client-side when no server would take it."""

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sdk_support import BASE_URL, CONTAINER_ID, MERCHANT_ID, ORDER_ID, TOKEN, Recorder, reply

import marketbox_sdk as mb

REFUSAL = reply(
    422, b'{"error":{"message":"no","code":"validation_error","fields":[]}}'
)  # any answer will do: only the request is looked at

ITEM = mb.BasketItem(
    sku="1",
    name="Item",
    measure="шт.",
    measure_code="796",
    quantity=1,
    amount=Decimal("100"),
    amount_wo_vat=Decimal("100"),
    total_amount=Decimal("100"),
    total_vat_amount=0,
    vat_code="VATNONE",
    type="service",
    payment_type="full_prepayment",
)
CREATE = {
    "merchant_id": MERCHANT_ID,
    "merchant_order_id": "A-1",
    "description": "Test",
    "amount": Decimal("100"),
    "vat_amount": 0,
    "currency_id": "RUB",
    "expiration_date": dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    "basket_items": [ITEM],
}
OFFER = mb.SpecialOffer(
    merchant_id=MERCHANT_ID,
    external_id="x",
    active=True,
    start_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    finish_at=dt.datetime(2030, 2, 1, tzinfo=dt.UTC),
    description="Offer",
)
REFUND = {
    "parent_id": ORDER_ID,
    "merchant_order_id": "R-1",
    "description": "Refund",
    "amount": Decimal("100"),
    "vat_amount": 0,
    "basket_items": [ITEM],
}
CORRECTION = {
    "merchant_id": MERCHANT_ID,
    "merchant_order_id": "C-1",
    "description": "Fee",
    "amount": Decimal("100"),
    "vat_amount": 0,
    "currency_id": "RUB",
    "basket_items": [ITEM],
    "expiration_date": dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
}
CONFIRM = {
    "invoice_id": CONTAINER_ID,
    "payment_operation_id": "op-1",
    "amount": Decimal("100"),
    "currency_id": "RUB",
}

# (client kind, method, call with **extra keyword arguments)
CALLS: list[tuple[str, str, Callable[[Any, dict[str, Any]], Any]]] = [
    ("merchant", "create_order", lambda c, kw: c.create_order(**CREATE, **kw)),
    (
        "merchant",
        "create_order_request",
        lambda c, kw: c.create_order_request(
            mb.CreateOrder(
                merchant_id=MERCHANT_ID,
                merchant_order_id="A-1",
                description="Test",
                amount=Decimal("100"),
                vat_amount=Decimal(0),
                currency_id="RUB",
                expiration_date=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
                basket_items=[ITEM],
                customer=mb.Customer(),
            ),
            **kw,
        ),
    ),
    ("merchant", "update_order", lambda c, kw: c.update_order(ORDER_ID, description="n", **kw)),
    ("merchant", "cancel_order", lambda c, kw: c.cancel_order(ORDER_ID, **kw)),
    ("merchant", "set_order_status", lambda c, kw: c.set_order_status(ORDER_ID, "completed", **kw)),
    ("merchant", "create_shop", lambda c, kw: c.create_shop(title="Shop", **kw)),
    ("merchant", "update_shop", lambda c, kw: c.update_shop(12, title="Shop", **kw)),
    ("merchant", "upsert_special_offer", lambda c, kw: c.upsert_special_offer(OFFER, **kw)),
    ("merchant", "create_refund", lambda c, kw: c.create_refund(**REFUND, **kw)),
    (
        "merchant",
        "create_refund_request",
        lambda c, kw: c.create_refund_request(mb.CreateRefund(**REFUND), **kw),
    ),
    ("merchant", "cancel_refund", lambda c, kw: c.cancel_refund(ORDER_ID, **kw)),
    (
        "merchant",
        "create_correction",
        lambda c, kw: c.create_correction(ORDER_ID, **CORRECTION, **kw),
    ),
    (
        "merchant",
        "create_shipment",
        lambda c, kw: c.create_shipment(
            order_id=ORDER_ID,
            basket_items=[ITEM],
            document_number="W-1",
            document_date=dt.date(2030, 1, 1),
            **kw,
        ),
    ),
    (
        "instrument",
        "confirm_invoice_payment",
        lambda c, kw: c.confirm_invoice_payment(**CONFIRM, **kw),
    ),
]


def _client(kind: str, asynchronous: bool, recorder: Recorder) -> Any:
    if kind == "merchant":
        cls: Any = mb.AsyncClient if asynchronous else mb.Client
        return cls(TOKEN, base_url=BASE_URL, transport=httpx.MockTransport(recorder))
    cls = mb.AsyncInstrumentClient if asynchronous else mb.InstrumentClient
    return cls(
        signing_key="key", token="bank", base_url=BASE_URL, transport=httpx.MockTransport(recorder)
    )


def _run(kind: str, asynchronous: bool, call: Callable[[Any, dict[str, Any]], Any], **kw: Any):
    recorder = Recorder(REFUSAL)
    client = _client(kind, asynchronous, recorder)
    with pytest.raises(mb.InvoiceboxError):
        result = call(client, kw)
        if asynchronous:
            asyncio.run(result)
    return recorder


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(("kind", "name", "call"), CALLS, ids=[c[1] for c in CALLS])
def test_the_given_key_is_sent_else_a_fresh_one(
    kind: str, name: str, call: Callable[[Any, dict[str, Any]], Any], asynchronous: bool
) -> None:
    keyed = _run(kind, asynchronous, call, idempotency_key="order-A-1-try")
    plain = _run(kind, asynchronous, call)
    again = _run(kind, asynchronous, call)

    assert keyed.last.headers["Idempotency-Key"] == "order-A-1-try"
    generated = plain.last.headers["Idempotency-Key"]
    assert uuid.UUID(generated).version == 4
    assert again.last.headers["Idempotency-Key"] != generated  # one key per call
    assert keyed.last.content == plain.last.content  # the key is not part of the body
    assert keyed.last.method != "GET"


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_reads_carry_no_key(asynchronous: bool) -> None:
    recorder = _run(
        "merchant", asynchronous, lambda c, kw: c.list_refunds(parent_id=ORDER_ID, **kw)
    )

    assert recorder.last.method == "GET"
    assert "Idempotency-Key" not in recorder.last.headers


@pytest.mark.parametrize("bad", ["", "   ", "k" * 256, "ключ", "a\nb"])
def test_a_key_no_server_takes_is_refused_before_sending(bad: str) -> None:
    recorder = Recorder(REFUSAL)
    client = mb.Client(TOKEN, base_url=BASE_URL, transport=httpx.MockTransport(recorder))
    with pytest.raises(ValueError, match="idempotency_key"):
        client.cancel_order(ORDER_ID, idempotency_key=bad)
    assert recorder.requests == []
