"""Refunds, corrections and shipments on the wire (through httpx.MockTransport): the exact
request each call sends and how the answers are read. The same calls against the real app:
tests/integration/test_sdk_after_payment.py."""

import datetime as dt
import json
from decimal import Decimal

import httpx
import pytest
from sdk_support import BASE_URL, MERCHANT_ID, ORDER_ID, TOKEN, Recorder, envelope, order_json

import marketbox_sdk as mb

REFUND_ID = "0190f0a1-0000-7000-8000-0000000000f1"


def line(sku: str, total: str, vat: str = "0", **extra: object) -> dict:
    return {
        "sku": sku,
        "name": sku,
        "measure": "шт.",
        "measureCode": "796",
        "quantity": 1,
        "amount": Decimal(total),
        "amountWoVat": Decimal(total) - Decimal(vat),
        "totalAmount": Decimal(total),
        "totalVatAmount": Decimal(vat),
        "vatCode": "RUS_VAT20" if Decimal(vat) else "VATNONE",
        "type": "service",
        "paymentType": "full_prepayment",
        **extra,
    }


REFUND_JSON = {
    "id": REFUND_ID,
    "parentId": ORDER_ID,
    "description": "Refund",
    "merchantOrderId": "R-1",
    "merchantId": MERCHANT_ID,
    "amount": Decimal("1500.00"),
    "vatAmount": Decimal("0.00"),
    "currencyId": "RUB",
    "basketItems": [line("bag", "1500.00")],
    "createdAt": "2026-12-06T10:00:00+00:00",
    "status": "created",
    "correctionAmount": Decimal("150.00"),
    "payoutAmount": Decimal("1350.00"),
}
SHIPMENT_JSON = {
    "id": 17,
    "orderId": ORDER_ID,
    "merchantId": MERCHANT_ID,
    "documentNumber": "TORG-17",
    "documentDate": "2026-12-06",
    "basketItems": [line("bag", "1500.00")],
    "final": True,
    "status": "completed",
    "type": "shipment",
    "amount": Decimal("1500.00"),
    "vatAmount": Decimal("0.00"),
    "currencyId": "RUB",
    "createdAt": "2026-12-06T10:00:00+00:00",
    "metaData": None,
}


def client(answer: bytes | list[bytes]) -> tuple[mb.Client, Recorder]:
    answers = list(answer) if isinstance(answer, list) else [answer]

    def respond(request: httpx.Request) -> httpx.Response:
        body = answers.pop(0) if len(answers) > 1 else answers[0]
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    recorder = Recorder(respond)
    return mb.Client(TOKEN, base_url=BASE_URL, transport=httpx.MockTransport(recorder)), recorder


def sent(recorder: Recorder, index: int = -1) -> dict:
    return json.loads(recorder.requests[index].content, parse_float=Decimal)


def test_refundable_items_are_basket_lines_with_what_is_left() -> None:
    sdk, recorder = client(
        envelope(
            [
                line(
                    "ticket",
                    "371.88",
                    "61.98",
                    availableAmount="247.92",
                    availableVatAmount=Decimal("41.32"),
                )
            ]
        )
    )

    (item,) = sdk.refundable_items(ORDER_ID)

    assert recorder.last.method == "GET"
    assert recorder.last.url.path == f"/v3/billing/api/order/order/{ORDER_ID}/refund-basket-item"
    assert (item.available_amount, item.available_vat_amount) == (
        Decimal("247.92"),
        Decimal("41.32"),
    )
    assert isinstance(item.available_vat_amount, Decimal)


def test_create_refund_sends_the_documented_body() -> None:
    sdk, recorder = client(envelope(REFUND_JSON))

    refund = sdk.create_refund(
        parent_id=ORDER_ID,
        merchant_order_id="R-1",
        description="Refund",
        amount="1500.00",
        vat_amount=0,
        basket_items=[mb.BasketItem.from_dict(line("bag", "1500.00"))],
        status="draft",
    )

    assert recorder.last.url.path == "/v3/billing/api/order/refund-order"
    body = sent(recorder)
    assert list(body) == [
        "parentId",
        "merchantOrderId",
        "description",
        "amount",
        "vatAmount",
        "basketItems",
        "status",
    ]
    assert (body["amount"], body["vatAmount"], body["status"]) == (Decimal("1500.00"), 0, "draft")
    assert refund == mb.Refund.from_dict(REFUND_JSON)
    assert (refund.correction_amount, refund.payout_amount) == (
        Decimal("150.00"),
        Decimal("1350.00"),
    )
    assert refund.created_at == dt.datetime(2026, 12, 6, 10, tzinfo=dt.UTC)


def test_a_new_refund_is_created_or_draft_only() -> None:
    sdk, recorder = client(envelope(REFUND_JSON))

    with pytest.raises(ValueError, match="status"):
        sdk.create_refund_request(
            mb.CreateRefund(
                parent_id=ORDER_ID,
                merchant_order_id="R-1",
                description="Refund",
                amount=Decimal(1),
                vat_amount=Decimal(0),
                basket_items=[],
                status="completed",
            )
        )
    with pytest.raises(TypeError, match="amount"):
        sdk.create_refund(
            parent_id=ORDER_ID,
            merchant_order_id="R-1",
            description="Refund",
            amount=1.5,  # type: ignore[arg-type]
            vat_amount=0,
            basket_items=[],
        )
    assert recorder.requests == []


def test_refund_in_full_sends_what_is_left() -> None:
    items = [
        line("ticket", "371.88", "61.98", quantity=3, amount=Decimal("123.96"), **{
            "amountWoVat": Decimal("103.30"),
            "availableAmount": Decimal("247.92"),
            "availableVatAmount": Decimal("41.32"),
        }),
        line("bag", "1500.00", availableAmount=Decimal("1500.00"), availableVatAmount=0),
        line("seat", "200.00", availableAmount=0, availableVatAmount=0),
    ]  # fmt: skip
    sdk, recorder = client([envelope(items), envelope(REFUND_JSON)])

    sdk.refund_in_full(ORDER_ID, merchant_order_id="R-1", description="All", idempotency_key="k")

    body = sent(recorder)
    assert (body["amount"], body["vatAmount"]) == (Decimal("1747.92"), Decimal("41.32"))
    assert [
        (i["sku"], i["quantity"], i["amount"], i["amountWoVat"], i["totalAmount"])
        for i in body["basketItems"]
    ] == [
        ("ticket", 1, Decimal("247.92"), Decimal("206.60"), Decimal("247.92")),
        ("bag", 1, Decimal("1500.00"), Decimal("1500.00"), Decimal("1500.00")),
    ]
    assert all("availableAmount" not in i for i in body["basketItems"])
    assert recorder.last.headers["Idempotency-Key"] == "k"


def test_refund_in_full_of_nothing_sends_nothing() -> None:
    sdk, recorder = client(envelope([line("bag", "1500.00", availableAmount=0)]))

    with pytest.raises(mb.ValidationError) as caught:
        sdk.refund_in_full(ORDER_ID, merchant_order_id="R-1", description="All")

    assert caught.value.code == "nothing_to_refund"
    assert [r.method for r in recorder.requests] == ["GET"]


def test_list_refunds_uses_the_list_query_of_list_orders() -> None:
    sdk, recorder = client(envelope([REFUND_JSON], metaData={"totalCount": 1, "page": 1}))

    page = sdk.list_refunds(
        parent_id=ORDER_ID, status=["created", "completed"], order_by="-created_at", page_size=5
    )

    assert recorder.last.url.path == "/v3/filter/api/order/refund-order"
    assert recorder.last.url.params.multi_items() == [
        ("parentId", ORDER_ID),
        ("status[]", "created"),
        ("status[]", "completed"),
        ("_order[createdAt]", "desc"),
        ("_pageSize", "5"),
    ]
    assert [r.id for r in page] == [REFUND_ID] and page.total_count == 1


def test_cancel_refund_is_the_order_cancel() -> None:
    sdk, recorder = client(envelope({**REFUND_JSON, "status": "canceled"}))

    refund = sdk.cancel_refund(REFUND_ID)

    assert (recorder.last.method, recorder.last.url.path) == (
        "DELETE",
        f"/v3/billing/api/order/order/{REFUND_ID}",
    )
    assert refund.status == mb.RefundStatus.CANCELED


def test_create_correction_is_an_order_body_with_the_refund_as_parent() -> None:
    sdk, recorder = client(envelope(order_json(subtype="correction", parentId=REFUND_ID)))

    correction = sdk.create_correction(
        REFUND_ID,
        merchant_id=MERCHANT_ID,
        merchant_order_id="FEE-1",
        description="Fee",
        amount=Decimal("150.00"),
        vat_amount=0,
        currency_id="RUB",
        basket_items=[mb.BasketItem.from_dict(line("fee", "150.00"))],
    )

    assert recorder.last.url.path == "/v3/billing/api/order/correction-order"
    body = sent(recorder)
    assert body["parentId"] == REFUND_ID
    assert body["merchantId"] == MERCHANT_ID and body["customer"] == {}
    expires = dt.datetime.fromisoformat(body["expirationDate"])
    assert expires > dt.datetime.now(dt.UTC)  # required by the platform, meaningless here
    assert (correction.subtype, correction.parent_id) == ("correction", REFUND_ID)


def test_create_shipment_and_list_them() -> None:
    page = envelope([SHIPMENT_JSON], metaData={"totalCount": 1, "page": 1, "pageSize": 30})
    sdk, recorder = client([envelope(SHIPMENT_JSON), page])

    shipment = sdk.create_shipment(
        order_id=ORDER_ID,
        basket_items=[mb.BasketItem.from_dict(line("bag", "1500.00"))],
        document_number="TORG-17",
        document_date=dt.date(2026, 12, 6),
        final=True,
        meta_data={"courier": "Пётр"},
    )
    listed = sdk.list_shipments(order_id=ORDER_ID, order_by="created_at", page=1)

    create, listing = recorder.requests
    assert create.url.path == "/v3/billing/api/order/shipment"
    body = json.loads(create.content)
    assert {k: body[k] for k in ("orderId", "documentNumber", "documentDate", "final")} == {
        "orderId": ORDER_ID,
        "documentNumber": "TORG-17",
        "documentDate": "2026-12-06",
        "final": True,
    }
    assert body["metaData"] == {"courier": "Пётр"}
    assert listing.url.path == "/v3/filter/api/order/shipment"
    assert listing.url.params.multi_items() == [
        ("orderId", ORDER_ID),
        ("_order[createdAt]", "asc"),
        ("_page", "1"),
    ]
    assert (shipment.id, shipment.document_date, shipment.final) == (17, dt.date(2026, 12, 6), True)
    assert shipment.amount == Decimal("1500.00")
    assert [s.id for s in listed] == [17]


def test_a_shipment_needs_lines() -> None:
    sdk, recorder = client(envelope(SHIPMENT_JSON))

    with pytest.raises(ValueError, match="basket"):
        sdk.create_shipment(order_id=ORDER_ID, basket_items=[])

    assert recorder.requests == []


def test_iterators_stop_at_the_last_page() -> None:
    pages = [
        envelope([REFUND_JSON, REFUND_JSON], metaData={"totalCount": 5, "page": 1, "pageSize": 2}),
        envelope([REFUND_JSON, REFUND_JSON], metaData={"totalCount": 5, "page": 2, "pageSize": 2}),
        envelope([REFUND_JSON], metaData={"totalCount": 5, "page": 3, "pageSize": 2}),
    ]
    sdk, recorder = client(pages)

    refunds = list(sdk.iterate_refunds(page_size=2, status="created"))

    assert len(refunds) == 5
    assert [r.url.params["_page"] for r in recorder.requests] == ["1", "2", "3"]
    assert all(r.url.params["status"] == "created" for r in recorder.requests)


def test_iterators_without_a_total_stop_at_a_short_page() -> None:
    sdk, recorder = client([envelope([SHIPMENT_JSON]), envelope([])])

    assert [s.id for s in sdk.iterate_shipments(page_size=2)] == [17]
    assert len(recorder.requests) == 1


async def test_async_iterators_walk_pages_too() -> None:
    pages = [
        envelope([order_json()], metaData={"totalCount": 2, "page": 1, "pageSize": 1}),
        envelope([order_json()], metaData={"totalCount": 2, "page": 2, "pageSize": 1}),
    ]
    answers = list(pages)
    recorder = Recorder(
        lambda request: httpx.Response(
            200, content=answers.pop(0) if len(answers) > 1 else answers[0]
        )
    )
    async with mb.AsyncClient(
        TOKEN, base_url=BASE_URL, transport=httpx.MockTransport(recorder)
    ) as sdk:
        orders = [o async for o in sdk.iterate_orders(page_size=1)]

    assert len(orders) == 2
    assert [r.url.params["_page"] for r in recorder.requests] == ["1", "2"]
