"""54-FZ receipt records (docs/receipts.md) on SQLite and PostgreSQL: what a sale card, a hold
card, a shipment, a completed refund and a correction issue, to the kopeck; nothing for a
declined card; the merchant's API (one order, the list) and its tenancy; the buyer's receipt
page; the fiscal provider seam."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from marketbox.config import Settings
from marketbox.merchants import service as merchants_service
from marketbox.payments import operations
from marketbox.payments.sandbox_gateway import SandboxGateway
from marketbox.receipts import service as receipts_service
from marketbox.receipts.fiscal import LoggingFiscalProvider
from marketbox.receipts.tables import receipts
from marketbox.refunds import service as refunds_service
from marketbox.storage.db import Database
from marketbox.storage.tables import order_containers
from tests.conftest import body, read
from tests.integration.test_payment_page import CARD_DECLINED, CARD_HOLD, create, page_path, pay
from tests.support.builders import basket_item, order_payload

ORDERS = "/v3/billing/api/order/order"
SHIPMENTS = "/v3/billing/api/order/shipment"
REFUNDS = "/v3/billing/api/order/refund-order"
CORRECTIONS = "/v3/billing/api/order/correction-order"
RECEIPT_LIST = "/v3/filter/api/order/receipt"
NBSP = "\u00a0"

# 2.5 kg of coffee at 1 234.56 (VAT 20 % inside), paid in advance of delivery ...
COFFEE = basket_item(
    sku="coffee",
    name="Кофе в зёрнах, Эфиопия",
    quantity=Decimal("2.5"),
    amount=Decimal("1234.56"),
    vat_code="RUS_VAT20",
    measure="кг",
    measureCode="166",
    type="commodity",
    paymentType="full_prepayment",
)
# ... and a tasting, rendered at once: settled in full at payment.
TASTING = basket_item(
    sku="tasting",
    name="Дегустация, 14 июля, 18:00",
    amount=Decimal("700.00"),
    vat_code="RUS_VAT10",
    paymentType="full_payment",
)


def receipts_path(order_id: str) -> str:
    return f"{ORDERS}/{order_id}/receipt"


async def order_receipts(api: httpx.AsyncClient, order_id: str) -> list[dict[str, Any]]:
    response = await api.get(receipts_path(order_id))
    assert response.status_code == 200, response.text
    return list(read(response)["data"])


async def payment_id(db: Database, container_id: str) -> str:
    async with db.transaction() as conn:
        query = select(order_containers.c.payment_id).where(order_containers.c.id == container_id)
        return str((await conn.execute(query)).scalar_one())


def signs(receipt: dict[str, Any]) -> list[tuple[str, int, int, int]]:
    """(sku, tag 1214, tag 1212, tag 2108) of each line."""
    return [
        (i["sku"], i["paymentMethodSign"], i["subjectSign"], i["measureSign"])
        for i in receipt["items"]
    ]


async def pay_out(db: Database, settings: Settings) -> int:
    """Pay formed refunds out the way the worker does: the sweep begins each payout, the
    gateway operations pass pays back through the sandbox gateway. How many completed."""
    async with db.transaction() as conn:
        at_once = await refunds_service.pay_out_formed(conn)
    effects = {operations.REFUND: refunds_service.payout_effect}
    moved = await operations.run_due(db, SandboxGateway(db), settings, effects=effects)
    return at_once + moved.by_status.get(operations.SUCCEEDED, 0)


async def test_a_card_payment_issues_an_income_receipt_signed_per_line(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await create(api, items=[COFFEE, TASTING])

    response = await pay(api, order, email="buyer@example.com", phone="+7 999 000 11 22")

    assert response.status_code == 303
    [receipt] = await order_receipts(api, order["id"])
    assert (receipt["purpose"], receipt["kind"], receipt["calculationSign"]) == (
        "payment",
        "income",
        1,
    )
    assert receipt["sourceId"] == await payment_id(db, order["orderContainerId"])
    assert (receipt["orderId"], receipt["orderContainerId"]) == (
        order["id"],
        order["orderContainerId"],
    )
    # Coffee: 100 % prepayment (1), goods (1), kilogram (11); tasting: full settlement (4),
    # service (4), piece (0).
    assert signs(receipt) == [("coffee", 1, 1, 11), ("tasting", 4, 4, 0)]
    coffee, tasting = receipt["items"]
    assert (coffee["price"], coffee["quantity"], coffee["amount"]) == (
        Decimal("1234.56"),
        Decimal("2.5"),
        Decimal("3086.40"),
    )
    assert (coffee["vatCode"], coffee["vatRate"], coffee["vatAmount"]) == (
        "RUS_VAT20",
        Decimal(20),
        Decimal("514.40"),
    )
    assert (tasting["vatRate"], tasting["vatAmount"]) == (Decimal(10), Decimal("63.64"))
    # The receipt adds up to the payment, to the kopeck.
    assert receipt["amount"] == order["amount"] == Decimal("3786.40")
    assert receipt["vatAmount"] == order["vatAmount"] == Decimal("578.04")
    assert (receipt["electronicAmount"], receipt["prepaidAmount"]) == (
        Decimal("3786.40"),
        Decimal("0.00"),
    )
    assert receipt["paymentForm"] == "electronic"
    assert receipt["supplier"] == {"name": "ООО «Демо»", "vatNumber": "7804445210"}
    # The contact the payer gave on the payment page, where the receipt is sent.
    assert receipt["customer"] == {"email": "buyer@example.com", "phone": "79990001122"}
    assert receipt["status"] == "formed"


async def test_a_company_payer_is_named_on_its_receipts(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await create(api, items=[TASTING])

    await pay(
        api,
        order,
        customer_type="legal",
        name="ООО «Ромашка»",
        inn="7707083893",
        kpp="773601001",
        address="Москва, ул. Вавилова, 19",
        email="buh@romashka.example",
    )

    [receipt] = await order_receipts(api, order["id"])
    assert receipt["customer"] == {
        "email": "buh@romashka.example",
        "phone": "79990001122",
        "name": "ООО «Ромашка»",
        "vatNumber": "7707083893",
    }


async def test_a_shipment_settles_in_full_what_was_prepaid_and_nothing_twice(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await create(api, items=[COFFEE, TASTING])
    await pay(api, order)

    shipped = await api.post(
        SHIPMENTS,
        content=body({"orderId": order["id"], "basketItems": [COFFEE, TASTING]}),
    )

    assert shipped.status_code == 200, shipped.text
    shipment = read(shipped)["data"]
    payment, settlement = await order_receipts(api, order["id"])
    assert payment["purpose"] == "payment"
    assert (settlement["purpose"], settlement["kind"], settlement["sourceId"]) == (
        "shipment",
        "income",
        str(shipment["id"]),
    )
    # Only the prepaid coffee: the tasting was settled in full at payment already.
    assert signs(settlement) == [("coffee", 4, 1, 11)]
    assert settlement["amount"] == COFFEE["totalAmount"] == Decimal("3086.40")
    # Paid by the prepayment (tag 1215), no new money (tag 1081).
    assert (settlement["prepaidAmount"], settlement["electronicAmount"]) == (
        Decimal("3086.40"),
        Decimal("0.00"),
    )


async def test_each_partial_shipment_settles_what_it_delivers(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await create(api, items=[COFFEE])
    await pay(api, order)
    kilo = {"quantity": Decimal(1), "totalAmount": Decimal("1234.56")}
    half = {"quantity": Decimal("0.5"), "totalAmount": Decimal("617.28")}
    parts = [
        {**COFFEE, **part, "totalVatAmount": vat}
        for part, vat in (
            (kilo, Decimal("205.76")),
            (kilo, Decimal("205.76")),
            (half, Decimal("102.88")),
        )
    ]

    for part in parts:
        shipped = await api.post(
            SHIPMENTS, content=body({"orderId": order["id"], "basketItems": [part]})
        )
        assert shipped.status_code == 200, shipped.text

    payment, *settlements = await order_receipts(api, order["id"])
    assert [r["purpose"] for r in settlements] == ["shipment"] * 3
    assert [r["amount"] for r in settlements] == [p["totalAmount"] for p in parts]
    # Together they settle exactly what was prepaid, VAT included.
    assert sum((r["prepaidAmount"] for r in settlements), Decimal(0)) == payment["amount"]
    assert sum((r["vatAmount"] for r in settlements), Decimal(0)) == payment["vatAmount"]


async def test_a_held_payment_gets_its_receipt_when_a_shipment_captures_it(
    api: httpx.AsyncClient, db: Database
) -> None:
    chairs = basket_item(sku="chair", name="Стул «Венский»", quantity=4, amount=Decimal("2500.00"))
    order = await create(api, items=[chairs])

    await pay(api, order, card_number=CARD_HOLD)

    assert await order_receipts(api, order["id"]) == []  # blocked, not settled
    two = basket_item(sku="chair", name="Стул «Венский»", quantity=2, amount=Decimal("2500.00"))
    shipped = await api.post(
        SHIPMENTS, content=body({"orderId": order["id"], "basketItems": [two]})
    )
    assert shipped.status_code == 200, shipped.text
    [receipt] = await order_receipts(api, order["id"])
    assert (receipt["purpose"], receipt["kind"]) == ("shipment", "income")
    assert signs(receipt) == [("chair", 4, 4, 0)]
    # What the shipment captured, taken electronically now, to the kopeck.
    assert receipt["amount"] == read(shipped)["data"]["amount"] == Decimal("5000.00")
    assert (receipt["electronicAmount"], receipt["prepaidAmount"]) == (
        Decimal("5000.00"),
        Decimal("0.00"),
    )


async def test_a_declined_payment_issues_nothing(api: httpx.AsyncClient, db: Database) -> None:
    order = await create(api, items=[COFFEE])

    await pay(api, order, card_number=CARD_DECLINED)

    assert await order_receipts(api, order["id"]) == []
    async with db.transaction() as conn:
        assert (await conn.execute(select(receipts.c.id))).all() == []


def refund_body(order: dict[str, Any], number: str, *lines: dict[str, Any], **extra: Any) -> bytes:
    payload = {
        "parentId": order["id"],
        "merchantOrderId": number,
        "description": "Возврат",
        "amount": sum((line["totalAmount"] for line in lines), Decimal(0)),
        "vatAmount": sum((line["totalVatAmount"] for line in lines), Decimal(0)),
        "basketItems": list(lines),
        **extra,
    }
    return body(payload)


async def test_a_completed_refund_issues_a_return_of_income(
    api: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    order = await create(api, items=[COFFEE, TASTING])
    await pay(api, order)
    one_kg = basket_item(
        sku="coffee",
        name="Кофе в зёрнах, Эфиопия",
        amount=Decimal("1234.56"),
        vat_code="RUS_VAT20",
        measure="кг",
        measureCode="166",
        type="commodity",
    )
    created = await api.post(REFUNDS, content=refund_body(order, "R-1", one_kg, TASTING))
    assert created.status_code == 200, created.text
    refund = read(created)["data"]

    assert [r["purpose"] for r in await order_receipts(api, order["id"])] == ["payment"]
    assert await pay_out(db, settings) == 1

    _, returned = await order_receipts(api, order["id"])
    assert (returned["purpose"], returned["kind"], returned["calculationSign"]) == (
        "refund",
        "income_return",
        2,
    )
    assert (returned["sourceId"], returned["orderId"]) == (refund["id"], order["id"])
    # Each line returns the sign it was paid with: the prepaid coffee, the settled tasting.
    assert signs(returned) == [("coffee", 1, 1, 11), ("tasting", 4, 4, 0)]
    assert returned["amount"] == refund["amount"] == Decimal("1934.56")
    assert returned["vatAmount"] == refund["vatAmount"] == Decimal("269.40")
    assert returned["electronicAmount"] == Decimal("1934.56")
    # The refund's own id finds its receipt too.
    assert [r["id"] for r in await order_receipts(api, refund["id"])] == [returned["id"]]


async def test_a_correction_issues_a_payment_and_its_refund_a_return(
    api: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    order = await create(api, items=[COFFEE, TASTING])
    await pay(api, order)
    draft = read(
        await api.post(REFUNDS, content=refund_body(order, "D-1", TASTING, status="draft"))
    )["data"]
    fee = basket_item(sku="fee", name="Сбор за отмену дегустации", amount=Decimal("150.00"))
    fee_payload = order_payload(
        merchant_order_id="FEE-1",
        items=[fee],
        parentId=draft["id"],
        description="Удержание при возврате",
    )

    response = await api.post(CORRECTIONS, content=body(fee_payload))

    assert response.status_code == 200, response.text
    correction = read(response)["data"]
    _, withheld = await order_receipts(api, order["id"])
    assert (withheld["purpose"], withheld["kind"], withheld["sourceId"]) == (
        "correction",
        "income",
        correction["id"],
    )
    assert signs(withheld) == [("fee", 4, 4, 0)]  # «PAYMENT 100 %»
    assert withheld["amount"] == Decimal("150.00")

    await pay_out(db, settings)

    _, _, returned = await order_receipts(api, order["id"])
    assert (returned["purpose"], returned["kind"], returned["amount"]) == (
        "refund",
        "income_return",
        Decimal("700.00"),  # «REFUND 100 %»
    )
    # The two receipts net to what the buyer got back, to the kopeck.
    formed = read(await api.get("/v3/filter/api/order/refund-order", params={"id": draft["id"]}))
    assert returned["amount"] - withheld["amount"] == formed["data"][0]["payoutAmount"]


async def test_receipts_are_listed_with_filters_and_paging(
    api: httpx.AsyncClient, db: Database
) -> None:
    first = await create(api, merchant_order_id="A-1", items=[COFFEE])
    second = await create(api, merchant_order_id="A-2", items=[TASTING])
    await pay(api, first)
    await pay(api, second)
    await api.post(SHIPMENTS, content=body({"orderId": first["id"], "basketItems": [COFFEE]}))

    everything = read(await api.get(RECEIPT_LIST, params={"_order[createdAt]": "asc"}))
    shipments = read(await api.get(RECEIPT_LIST, params={"purpose": "shipment"}))
    of_first = read(await api.get(RECEIPT_LIST, params={"orderId": first["id"], "pageSize": 1}))
    unknown = await api.get(RECEIPT_LIST, params={"colour": "red"})

    assert [(r["orderId"], r["purpose"]) for r in everything["data"]] == [
        (first["id"], "payment"),
        (second["id"], "payment"),
        (first["id"], "shipment"),
    ]
    assert everything["metaData"] == {"totalCount": 3, "pageSize": 30, "page": 1}
    assert [r["orderId"] for r in shipments["data"]] == [first["id"]]
    assert of_first["metaData"]["totalCount"] == 2 and len(of_first["data"]) == 1
    assert unknown.status_code == 422
    assert read(unknown)["error"]["code"] == "validation_error"


async def test_another_merchants_receipts_are_not_found(
    api: httpx.AsyncClient, client: httpx.AsyncClient, db: Database
) -> None:
    order = await create(api, items=[COFFEE])
    await pay(api, order)
    async with db.transaction() as conn:
        other = await merchants_service.create_merchant(conn, name="Другой магазин")
    headers = {"Authorization": f"Bearer {other.token}"}

    theirs = await client.get(receipts_path(order["id"]), headers=headers)
    listed = await client.get(RECEIPT_LIST, headers=headers)
    by_order = await client.get(RECEIPT_LIST, params={"orderId": order["id"]}, headers=headers)
    unknown = await api.get(receipts_path("0190f0a1-0000-7000-8000-000000000404"))
    malformed = await api.get(receipts_path("nope"))

    assert theirs.status_code == 404
    assert read(theirs)["error"]["code"] == "not_found"
    assert read(listed)["data"] == [] and read(by_order)["data"] == []
    assert (unknown.status_code, malformed.status_code) == (404, 404)


async def test_the_receipt_page_shows_the_fiscal_receipts(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await create(api, items=[COFFEE, TASTING])
    await pay(api, order)
    await api.post(SHIPMENTS, content=body({"orderId": order["id"], "basketItems": [COFFEE]}))
    path = f"{page_path(order)}/receipt"

    ru = (await api.get(path)).text
    en = (await api.get(path, params={"lang": "en"})).text

    # The payment confirmation («Подтверждение оплаты») and, apart from it, the fiscal receipts.
    assert "Подтверждение оплаты (не кассовый чек)" in ru
    assert ru.count('class="card receipt fiscal"') == 2
    assert "Кассовый чек" in ru and "Приход" in ru
    assert "Предоплата 100" in ru and "Полный расчёт" in ru
    assert f"3{NBSP}786,40{NBSP}₽" in ru and f"3{NBSP}086,40{NBSP}₽" in ru
    assert "Зачёт предоплаты" in ru and "ИНН 7804445210" in ru
    assert "Fiscal receipt" in en and "Full prepayment" in en and "Full settlement" in en


async def test_the_fiscal_provider_takes_each_formed_receipt_once(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await create(api, items=[COFFEE])
    await pay(api, order)

    class Registrar:
        """A registrar that answers with fiscal attributes (a FiscalProvider)."""

        def __init__(self) -> None:
            self.seen: list[dict[str, Any]] = []

        async def register(self, receipt: dict[str, Any]) -> dict[str, Any] | None:
            self.seen.append(receipt)
            return {"fiscalDriveNumber": "9999078900001234", "documentNumber": len(self.seen)}

    registrar = Registrar()
    assert await receipts_service.hand_over_formed(db, registrar) == 1
    assert await receipts_service.hand_over_formed(db, registrar) == 0
    [receipt] = await order_receipts(api, order["id"])
    assert [r["id"] for r in registrar.seen] == [receipt["id"]]
    assert receipt["status"] == "registered"
    assert receipt["fiscalAttributes"]["documentNumber"] == 1

    # The logging stub registers nothing: the receipt stays formed.
    second = await create(api, merchant_order_id="L-1", items=[TASTING])
    await pay(api, second)
    assert await receipts_service.hand_over_formed(db, LoggingFiscalProvider()) == 1
    [logged] = await order_receipts(api, second["id"])
    assert (logged["status"], logged["fiscalAttributes"]) == ("formed", None)
