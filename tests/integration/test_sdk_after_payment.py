"""The SDK's after-payment calls against the real app on SQLite and PostgreSQL: what is left to
refund, full and partial refunds to the kopeck, a draft refund with its correction order,
cancelling a refund, shipments, and the auto-paging iterators over more than one page."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

import marketbox_sdk as mb
from marketbox.merchants.service import DEMO_MERCHANT_ID, DEMO_TOKEN
from marketbox.payments import service as payments_service
from marketbox.storage.db import Database
from tests.conftest import TEST_PUBLIC_URL
from tests.support.builders import basket_item, order_payload
from tests.support.live_server import live_server

# 3 tickets at 123.96 with VAT 20 % (61.98 in all) and a 1500.00 baggage line without VAT.
TICKETS = basket_item(
    sku="ticket", name="Билет", quantity=3, amount=Decimal("123.96"), vat_code="RUS_VAT20"
)
BAGGAGE = basket_item(sku="bag", name="Багаж", amount=Decimal("1500.00"))
PAID = Decimal("1871.88")


def item(sku: str, total: str, vat: str = "0.00", vat_code: str = "VATNONE") -> mb.BasketItem:
    """One line of `total` (quantity 1), VAT included."""
    total_d, vat_d = Decimal(total), Decimal(vat)
    return mb.BasketItem(
        sku=sku,
        name=sku,
        measure="шт.",
        measure_code="796",
        quantity=1,
        amount=total_d,
        amount_wo_vat=total_d - vat_d,
        total_amount=total_d,
        total_vat_amount=vat_d,
        vat_code=vat_code,
        type="service",
        payment_type="full_prepayment",
    )


@pytest.fixture
async def sdk(app: Any) -> AsyncIterator[mb.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with mb.AsyncClient(DEMO_TOKEN, base_url=TEST_PUBLIC_URL, transport=transport) as c:
        yield c


async def paid_order(
    sdk: mb.AsyncClient, db: Database, number: str = "ORDER-1", items: list[Any] | None = None
) -> mb.Order:
    payload = order_payload(merchant_order_id=number, items=items or [TICKETS, BAGGAGE])
    order = await sdk.create_order_request(mb.CreateOrder.from_dict(payload))
    async with db.transaction() as conn:
        await payments_service.pay_container(
            conn,
            container_id=order.order_container_id,
            method="card",
        )
    return order


def available(items: list[mb.BasketItem]) -> dict[str, tuple[Decimal, Decimal]]:
    return {i.sku: (i.available_amount, i.available_vat_amount) for i in items}  # type: ignore[misc]


async def test_a_full_refund_gives_back_everything_paid(sdk: mb.AsyncClient, db: Database) -> None:
    order = await paid_order(sdk, db)

    before = await sdk.refundable_items(order.id)
    refund = await sdk.refund_in_full(order.id, merchant_order_id="R-1", description="Возврат")
    after = await sdk.refundable_items(order.id)

    assert available(before) == {
        "ticket": (Decimal("371.88"), Decimal("61.98")),
        "bag": (Decimal("1500.00"), Decimal("0.00")),
    }
    assert isinstance(before[0].available_amount, Decimal)
    assert (refund.status, refund.parent_id, refund.merchant_order_id) == (
        "created",
        order.id,
        "R-1",
    )
    assert (refund.amount, refund.vat_amount) == (PAID, Decimal("61.98"))
    assert [(i.sku, i.quantity, i.total_amount) for i in refund.basket_items] == [
        ("ticket", Decimal(3), Decimal("371.88")),
        ("bag", Decimal(1), Decimal("1500.00")),
    ]
    assert available(after) == {
        "ticket": (Decimal("0.00"), Decimal("0.00")),
        "bag": (Decimal("0.00"), Decimal("0.00")),
    }
    with pytest.raises(mb.ValidationError) as nothing:
        await sdk.refund_in_full(order.id, merchant_order_id="R-2", description="Ещё раз")
    assert nothing.value.code == "nothing_to_refund"
    listed = await sdk.list_refunds(parent_id=order.id)
    assert [r.id for r in listed] == [refund.id]
    assert listed.total_count == 1


async def test_partial_refunds_add_up_to_the_payment_to_the_kopeck(
    sdk: mb.AsyncClient, db: Database
) -> None:
    order = await paid_order(sdk, db)

    one_ticket = await sdk.create_refund(
        parent_id=order.id,
        merchant_order_id="R-1",
        description="Один билет",
        amount=Decimal("123.96"),
        vat_amount=Decimal("20.66"),
        basket_items=[item("ticket", "123.96", "20.66", "RUS_VAT20")],
    )
    left = await sdk.refundable_items(order.id)
    rest = await sdk.refund_in_full(order.id, merchant_order_id="R-2", description="Остальное")

    assert (one_ticket.amount, one_ticket.vat_amount) == (Decimal("123.96"), Decimal("20.66"))
    assert available(left)["ticket"] == (Decimal("247.92"), Decimal("41.32"))
    assert (rest.amount, rest.vat_amount) == (Decimal("1747.92"), Decimal("41.32"))
    # The partly refunded line goes back as what is left of it: two whole tickets.
    assert [(i.sku, i.quantity, i.total_amount, i.total_vat_amount) for i in rest.basket_items] == [
        ("ticket", Decimal(2), Decimal("247.92"), Decimal("41.32")),
        ("bag", Decimal(1), Decimal("1500.00"), Decimal("0.00")),
    ]  # fmt: skip
    refunds = await sdk.list_refunds(parent_id=order.id, order_by="created_at")
    assert sum((r.amount for r in refunds), Decimal(0)) == PAID
    assert sum((r.vat_amount for r in refunds), Decimal(0)) == Decimal("61.98")
    with pytest.raises(mb.ValidationError):
        await sdk.create_refund(
            parent_id=order.id,
            merchant_order_id="R-3",
            description="Слишком много",
            amount=Decimal("0.01"),
            vat_amount=0,
            basket_items=[item("bag", "0.01")],
        )
    assert (await sdk.list_refunds(parent_id=order.id)).total_count == 2


async def test_refusals_are_typed_errors(sdk: mb.AsyncClient, db: Database) -> None:
    order = await paid_order(sdk, db)
    unpaid = await sdk.create_order_request(
        mb.CreateOrder.from_dict(order_payload(merchant_order_id="UNPAID"))
    )
    await sdk.create_refund(
        parent_id=order.id,
        merchant_order_id="R-1",
        description="Багаж",
        amount=Decimal("100.00"),
        vat_amount=0,
        basket_items=[item("bag", "100.00")],
    )

    with pytest.raises(mb.DuplicateMerchantOrderId):
        await sdk.create_refund(
            parent_id=order.id,
            merchant_order_id="R-1",
            description="Багаж",
            amount=Decimal("100.00"),
            vat_amount=0,
            basket_items=[item("bag", "100.00")],
        )
    with pytest.raises(mb.WrongOrderStatus):
        await sdk.create_refund(
            parent_id=unpaid.id,
            merchant_order_id="R-2",
            description="Не оплачен",
            amount=Decimal("100.00"),
            vat_amount=0,
            basket_items=[item("sku-1", "100.00")],
        )
    with pytest.raises(mb.ValidationError) as nothing:
        await sdk.refund_in_full(unpaid.id, merchant_order_id="R-3", description="Не оплачен")
    assert nothing.value.code == "nothing_to_refund"
    with pytest.raises(mb.WrongOrderStatus):
        await sdk.create_shipment(order_id=unpaid.id, basket_items=[item("sku-1", "100.00")])


async def test_a_draft_refund_with_a_correction_pays_back_the_rest(
    sdk: mb.AsyncClient, db: Database
) -> None:
    order = await paid_order(sdk, db)
    draft = await sdk.create_refund(
        parent_id=order.id,
        merchant_order_id="D-1",
        description="Возврат багажа",
        amount=Decimal("1500.00"),
        vat_amount=0,
        basket_items=[item("bag", "1500.00")],
        status="draft",
    )

    fee = await sdk.create_correction(
        draft.id,
        merchant_id=DEMO_MERCHANT_ID,
        merchant_order_id="FEE-1",
        description="Сбор за возврат",
        amount=Decimal("150.00"),
        vat_amount=0,
        currency_id="RUB",
        basket_items=[item("fee", "150.00")],
    )
    (formed,) = await sdk.list_refunds(id=draft.id)

    assert draft.status == mb.RefundStatus.DRAFT
    assert (fee.status, fee.subtype, fee.parent_id, fee.amount) == (
        "completed",
        "correction",
        draft.id,
        Decimal("150.00"),
    )
    assert formed.status == "created"
    assert (formed.amount, formed.correction_amount, formed.payout_amount) == (
        Decimal("1500.00"),
        Decimal("150.00"),
        Decimal("1350.00"),
    )
    with pytest.raises(mb.WrongOrderStatus):  # the refund is no draft any more
        await sdk.create_correction(
            draft.id,
            merchant_id=DEMO_MERCHANT_ID,
            merchant_order_id="FEE-2",
            description="Ещё сбор",
            amount=Decimal("1.00"),
            vat_amount=0,
            currency_id="RUB",
            basket_items=[item("fee", "1.00")],
        )


async def test_a_canceled_refund_is_refundable_again(sdk: mb.AsyncClient, db: Database) -> None:
    order = await paid_order(sdk, db)
    draft = await sdk.create_refund(
        parent_id=order.id,
        merchant_order_id="D-1",
        description="Черновик",
        amount=Decimal("1500.00"),
        vat_amount=0,
        basket_items=[item("bag", "1500.00")],
        status="draft",
    )

    canceled = await sdk.cancel_refund(draft.id)

    assert (canceled.id, canceled.status, canceled.parent_id) == (draft.id, "canceled", order.id)
    assert available(await sdk.refundable_items(order.id))["bag"][0] == Decimal("1500.00")
    assert [r.status for r in await sdk.list_refunds(parent_id=order.id)] == ["canceled"]


async def test_shipments_are_registered_and_listed(sdk: mb.AsyncClient, db: Database) -> None:
    order = await paid_order(sdk, db)

    first = await sdk.create_shipment(
        order_id=order.id,
        basket_items=[item("bag", "1500.00")],
        document_number="TORG-1",
        document_date=dt.date(2026, 12, 6),
        meta_data={"courier": "Пётр"},
    )
    last = await sdk.create_shipment(
        order_id=order.id,
        basket_items=[
            mb.BasketItem.from_dict(TICKETS),
        ],
        final=True,
    )
    listed = await sdk.list_shipments(order_id=order.id, order_by="created_at")

    assert isinstance(first.id, int)
    assert (first.order_id, first.document_number, first.document_date) == (
        order.id,
        "TORG-1",
        dt.date(2026, 12, 6),
    )
    assert (first.amount, first.vat_amount, first.final) == (
        Decimal("1500.00"),
        Decimal("0.00"),
        False,
    )
    assert first.meta_data == {"courier": "Пётр"}
    assert (last.amount, last.vat_amount, last.final) == (Decimal("371.88"), Decimal("61.98"), True)
    assert [s.id for s in listed] == [first.id, last.id]
    assert sum((s.amount for s in listed), Decimal(0)) == PAID
    with pytest.raises(mb.ValidationError):  # nothing is left to ship
        await sdk.create_shipment(order_id=order.id, basket_items=[item("bag", "0.01")])


async def test_iterators_walk_every_page(sdk: mb.AsyncClient, db: Database) -> None:
    orders = [await paid_order(sdk, db, f"PAGE-{n}", [BAGGAGE]) for n in range(5)]
    for n, order in enumerate(orders[:3]):
        await sdk.create_refund(
            parent_id=order.id,
            merchant_order_id=f"R-{n}",
            description="Возврат",
            amount=Decimal("10.00"),
            vat_amount=0,
            basket_items=[item("bag", "10.00")],
        )
        await sdk.create_shipment(order_id=order.id, basket_items=[item("bag", "20.00")])

    walked = [o.id async for o in sdk.iterate_orders(page_size=2, order_by="created_at")]
    refunds = [r async for r in sdk.iterate_refunds(page_size=2, order_by="created_at")]
    shipments = [s async for s in sdk.iterate_shipments(page_size=1, order_by="created_at")]
    filtered = [o async for o in sdk.iterate_orders(page_size=1, merchant_order_id="PAGE-3")]

    # The 3 refunds are orders too (subtype refund): 5 paid orders + 3 refunds in 4 pages of 2.
    assert [o.id for o in orders] == [i for i in walked if i in {o.id for o in orders}]
    assert len(walked) == len(set(walked)) == 8
    assert [r.merchant_order_id for r in refunds] == ["R-0", "R-1", "R-2"]
    assert [s.order_id for s in shipments] == [o.id for o in orders[:3]]
    assert [o.id for o in filtered] == [orders[3].id]


async def test_the_sync_client_over_http(database_url: str) -> None:
    """The same calls through `Client` against the app served over real HTTP."""
    with live_server(database_url) as base_url, mb.Client(DEMO_TOKEN, base_url=base_url) as sdk:
        order = sdk.create_order_request(
            mb.CreateOrder.from_dict(order_payload(items=[TICKETS, BAGGAGE]))
        )
        db = Database(database_url)
        try:
            async with db.transaction() as conn:
                await payments_service.pay_container(
                    conn,
                    container_id=order.order_container_id,
                    method="card",
                )
        finally:
            await db.dispose()

        shipment = sdk.create_shipment(order_id=order.id, basket_items=[item("bag", "1500.00")])
        refund = sdk.refund_in_full(order.id, merchant_order_id="R-1", description="Возврат")
        refunds = list(sdk.iterate_refunds(parent_id=order.id, page_size=1))
        shipments = list(sdk.iterate_shipments(order_id=order.id))

    assert (refund.amount, refund.vat_amount) == (PAID, Decimal("61.98"))
    assert [r.id for r in refunds] == [refund.id]
    assert [s.id for s in shipments] == [shipment.id]
