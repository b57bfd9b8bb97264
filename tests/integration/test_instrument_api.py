"""Payment-instrument API (api.md §13.1-§13.2) over HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from marketbox.mail.tables import mail_messages
from marketbox.merchants import service as merchants_service
from marketbox.receipts.tables import receipts
from marketbox.security import signing
from marketbox.storage.db import Database
from marketbox.storage.tables import notifications, payments
from tests.conftest import DEMO_AUTH, body, read
from tests.support.builders import basket_item, order_payload
from tests.support.statements import statements_sent

ORDERS = "/v3/billing/api/order/order"
INVOICES = "/v3/payment/api/invoice"
CONFIRM = f"{INVOICES}/confirm"
UNKNOWN_ID = "01a22115-0000-7000-8000-000000000000"


class Bank:
    """A payment instrument as an HTTP client: token on every call, signed confirmations."""

    def __init__(self, client: httpx.AsyncClient, token: str, key: str, algorithm: str) -> None:
        self.client = client
        self.auth = {"Authorization": f"Bearer {token}"}
        self.key = key
        self.algorithm = algorithm

    async def get(self, url: str, **params: Any) -> httpx.Response:
        return await self.client.get(url, params=params, headers=self.auth)

    async def confirm(
        self, payload: dict[str, Any], *, signature: str | None = None
    ) -> httpx.Response:
        raw = body(payload)
        sig = signing.sign(raw, self.key, self.algorithm) if signature is None else signature
        headers = {**self.auth, "Content-Type": "application/json"}
        if sig:
            headers["X-Signature"] = sig
        return await self.client.post(CONFIRM, content=raw, headers=headers)


async def make_bank(db: Database, client: httpx.AsyncClient, algorithm: str = "sha1") -> Bank:
    async with db.transaction() as conn:
        creds = await merchants_service.create_instrument(
            conn, name="Test bank", sign_algorithm=algorithm
        )
    return Bank(client, creds.token, creds.signing_key, algorithm)


@pytest.fixture
async def bank(db: Database, client: httpx.AsyncClient) -> Bank:
    return await make_bank(db, client)


async def create_order(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post(
        ORDERS, content=body(order_payload(**overrides)), headers=DEMO_AUTH
    )
    assert response.status_code == 200, response.text
    return read(response)["data"]


def confirmation(order: dict[str, Any], operation_id: str = "op-1", **overrides: Any) -> dict:
    payload = {
        "invoiceId": order["orderContainerId"],
        "paymentOperationId": operation_id,
        "amount": order["amount"],
        "currencyId": "RUB",
        "status": "paid",
    }
    payload.update(overrides)
    return payload


def error_code(response: httpx.Response) -> str:
    return read(response)["error"]["code"]


# --- Invoices ----------------------------------------------------------------------------------


async def test_get_invoice_describes_the_container(client: httpx.AsyncClient, bank: Bank) -> None:
    items = [basket_item(quantity=3, amount=Decimal("123.96"), vat_code="RUS_VAT20")]
    main = await create_order(client, items=items, merchant_order_id="MAIN")
    sub = await create_order(
        client,
        merchant_order_id="SUB",
        orderContainerId=main["orderContainerId"],
        expires_in=timedelta(hours=2),
    )

    response = await bank.get(f"{INVOICES}/{main['orderContainerId']}")

    assert response.status_code == 200, response.text
    invoice = read(response)["data"]
    assert invoice["id"] == main["orderContainerId"]
    assert invoice["number"]
    assert invoice["amount"] == Decimal("471.88")
    assert invoice["vatAmount"] == Decimal("61.98")
    assert invoice["currencyId"] == "RUB"
    assert invoice["status"] == "pending"
    assert invoice["description"] == main["description"]
    assert invoice["expirationDate"] == sub["expirationDate"]  # the earliest unpaid deadline
    assert invoice["customer"]["type"] == "private"
    assert invoice["paymentUrl"] == main["paymentUrl"]
    assert invoice["createdAt"].endswith("+00:00")


async def test_unknown_or_malformed_invoice_is_invoice_not_found(bank: Bank) -> None:
    for invoice_id in (UNKNOWN_ID, "not-a-uuid"):
        response = await bank.get(f"{INVOICES}/{invoice_id}")
        assert response.status_code == 404
        assert error_code(response) == "invoice_not_found"


async def test_invoice_api_needs_an_instrument_token(client: httpx.AsyncClient) -> None:
    order = await create_order(client)
    for headers in ({}, DEMO_AUTH, {"Authorization": "Bearer nope"}):
        response = await client.get(f"{INVOICES}/{order['orderContainerId']}", headers=headers)
        assert response.status_code == 401
        assert error_code(response) == "unauthorized"


async def test_list_filters_by_customer_status_and_id(
    client: httpx.AsyncClient, bank: Bank
) -> None:
    inn = "7804445210"
    legal = await create_order(
        client,
        merchant_order_id="LEGAL",
        customer={"type": "legal", "name": "ООО Тест", "vatNumber": inn, "phone": "78121111111"},
    )
    private = await create_order(client, merchant_order_id="PRIVATE", customer={"name": "Иван"})
    canceled = await create_order(client, merchant_order_id="GONE")
    await client.delete(f"{ORDERS}/{canceled['id']}", headers=DEMO_AUTH)

    async def ids(**params: Any) -> list[str]:
        response = await bank.get(INVOICES, **params)
        assert response.status_code == 200, response.text
        return [i["id"] for i in read(response)["data"]]

    legal_id, private_id = legal["orderContainerId"], private["orderContainerId"]
    canceled_id = canceled["orderContainerId"]
    assert await ids(**{"customer[type][eq]": "legal", "customer[vatNumber][eq]": inn}) == [
        legal_id
    ]
    assert await ids(**{"customer[phone][eq]": "78121111111"}) == [legal_id]
    assert await ids(**{"customer[type][_eq]": "private", "status": "pending"}) == [private_id]
    assert await ids(status="canceled") == [canceled_id]
    assert await ids(id=legal_id.upper()) == [legal_id]
    assert await ids(status="partial") == []
    assert await ids() == [canceled_id, private_id, legal_id]  # createdAt desc
    assert await ids(**{"_order[createdAt]": "asc", "_pageSize": "2"}) == [legal_id, private_id]

    listed = read(await bank.get(INVOICES, _pageSize="1", _page="2"))
    assert listed["metaData"] == {"totalCount": 3, "pageSize": 1, "page": 2}


@pytest.mark.parametrize(
    "params",
    [
        {"status": "expired"},
        {"merchantOrderId": "X"},
        {"status[_gt]": "paid"},
        {"_pageSize": "101"},
    ],
)
async def test_bad_invoice_list_queries_are_422(bank: Bank, params: dict[str, str]) -> None:
    response = await bank.get(INVOICES, **params)

    assert response.status_code == 422
    assert error_code(response) == "validation_error"


async def test_expired_container_is_shown_as_canceled(
    client: httpx.AsyncClient, bank: Bank
) -> None:
    from marketbox import clock

    order = await create_order(client)
    real_now = clock.now()
    clock.set_now(lambda: real_now + timedelta(days=2))
    try:
        invoice = read(await bank.get(f"{INVOICES}/{order['orderContainerId']}"))["data"]
        response = await bank.confirm(confirmation(order))
    finally:
        clock.set_now(None)

    assert invoice["status"] == "canceled"
    assert invoice["amount"] == order["amount"]
    assert response.status_code == 422
    assert error_code(response) == "wrong_order_status"


# --- Confirm ---------------------------------------------------------------------------------


async def test_confirm_pays_the_invoice_and_notifies(
    client: httpx.AsyncClient, bank: Bank, db: Database
) -> None:
    order = await create_order(client)
    payload = confirmation(order)

    response = await bank.confirm(payload)

    assert response.status_code == 200, response.text
    payment = read(response)["data"]
    assert payment == {**payload, "id": payment["id"]}
    paid = read(await client.get(f"{ORDERS}/{order['id']}", headers=DEMO_AUTH))["data"]
    assert paid["status"] == "completed"
    assert "paidAt" in paid
    invoice = read(await bank.get(f"{INVOICES}/{order['orderContainerId']}"))["data"]
    assert invoice["status"] == "paid"
    async with db.transaction() as conn:
        queued = (
            await conn.execute(select(notifications).where(notifications.c.order_id == order["id"]))
        ).all()
        stored = (await conn.execute(select(payments).where(payments.c.id == payment["id"]))).one()
    assert [n.event for n in queued] == ["paid"]
    assert stored.method == "instrument"
    assert stored.operation_id == "op-1"


@pytest.mark.parametrize("algorithm", ["sha256", "md5", "sha512"])
async def test_confirm_uses_the_instruments_algorithm(
    client: httpx.AsyncClient, db: Database, algorithm: str
) -> None:
    bank = await make_bank(db, client, algorithm)
    order = await create_order(client)

    response = await bank.confirm(confirmation(order))

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("signature", ["", "0" * 40, "wrong"])
async def test_missing_or_wrong_signature_is_signature_error(
    client: httpx.AsyncClient, bank: Bank, signature: str
) -> None:
    order = await create_order(client)

    response = await bank.confirm(confirmation(order), signature=signature)

    assert response.status_code == 403
    assert error_code(response) == "signature_error"
    still = read(await client.get(f"{ORDERS}/{order['id']}", headers=DEMO_AUTH))["data"]
    assert still["status"] == "created"


async def test_signature_of_another_body_is_refused(client: httpx.AsyncClient, bank: Bank) -> None:
    order = await create_order(client)
    signed = body(confirmation(order, amount=Decimal("1.00")))

    response = await bank.confirm(
        confirmation(order), signature=signing.sign(signed, bank.key, bank.algorithm)
    )

    assert error_code(response) == "signature_error"


async def test_signature_of_another_instrument_is_refused(
    client: httpx.AsyncClient, bank: Bank, db: Database
) -> None:
    other = await make_bank(db, client)
    order = await create_order(client)
    raw = body(confirmation(order))

    response = await bank.confirm(
        confirmation(order), signature=signing.sign(raw, other.key, other.algorithm)
    )

    assert error_code(response) == "signature_error"


async def test_repeated_operation_gets_the_same_answer(
    client: httpx.AsyncClient, bank: Bank
) -> None:
    order = await create_order(client)
    first = await bank.confirm(confirmation(order))
    second = await bank.confirm(confirmation(order))

    assert first.status_code == second.status_code == 200
    assert read(first) == read(second)


async def test_other_operation_on_a_paid_invoice_is_already_paid(
    client: httpx.AsyncClient, bank: Bank, db: Database
) -> None:
    order = await create_order(client)
    assert (await bank.confirm(confirmation(order, "op-1"))).status_code == 200
    other_bank = await make_bank(db, client)

    for response in (
        await bank.confirm(confirmation(order, "op-2")),
        await other_bank.confirm(confirmation(order, "op-1")),
    ):
        assert response.status_code == 409
        assert error_code(response) == "invoice_already_paid"


async def test_operation_id_reused_for_another_invoice_is_refused(
    client: httpx.AsyncClient, bank: Bank
) -> None:
    first = await create_order(client, merchant_order_id="A")
    second = await create_order(client, merchant_order_id="B")
    assert (await bank.confirm(confirmation(first, "op-1"))).status_code == 200

    response = await bank.confirm(confirmation(second, "op-1"))

    assert response.status_code == 422
    assert read(response)["error"]["fields"][0]["name"] == "paymentOperationId"


async def test_unknown_invoice_is_invoice_not_found(bank: Bank) -> None:
    response = await bank.confirm(
        {"invoiceId": UNKNOWN_ID, "paymentOperationId": "op-1", "amount": 1, "currencyId": "RUB"}
    )

    assert response.status_code == 404
    assert error_code(response) == "invoice_not_found"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"amount": Decimal("99.99")}, "wrong_total_amount"),
        ({"amount": Decimal("100.01")}, "wrong_total_amount"),
        ({"currencyId": "USD"}, "wrong_currency"),
        ({"status": "pending"}, "validation_error"),
        ({"amount": Decimal("100.001")}, "validation_error"),
        ({"paymentOperationId": None}, "validation_error"),
    ],
)
async def test_confirm_must_match_the_invoice(
    client: httpx.AsyncClient, bank: Bank, change: dict, code: str
) -> None:
    order = await create_order(client)
    payload = {k: v for k, v in {**confirmation(order), **change}.items() if v is not None}

    response = await bank.confirm(payload)

    assert response.status_code == 422
    assert error_code(response) == code
    still = read(await client.get(f"{ORDERS}/{order['id']}", headers=DEMO_AUTH))["data"]
    assert still["status"] == "created"


async def test_php_float_noise_in_the_amount_is_forgiven(
    client: httpx.AsyncClient, bank: Bank
) -> None:
    order = await create_order(client, items=[basket_item(amount=Decimal("0.30"))])
    payload = confirmation(order, amount=Decimal("0.30000000000000004"))

    response = await bank.confirm(payload)

    assert response.status_code == 200, response.text
    assert read(response)["data"]["amount"] == Decimal("0.30")


async def test_confirm_of_a_canceled_invoice_is_wrong_order_status(
    client: httpx.AsyncClient, bank: Bank
) -> None:
    order = await create_order(client)
    await client.delete(f"{ORDERS}/{order['id']}", headers=DEMO_AUTH)

    response = await bank.confirm(confirmation(order))

    assert response.status_code == 422
    assert error_code(response) == "wrong_order_status"


async def test_docs_example_aliases_become_the_payment_order(
    client: httpx.AsyncClient, bank: Bank
) -> None:
    order = await create_order(client)
    payer = {"type": "legal", "name": "ООО Плательщик", "vatNumber": "7804445210"}
    payload = confirmation(
        order, paymentOrderNumber="17", paymentOrderDate="2023-04-01", customer=payer
    )

    response = await bank.confirm(payload)

    assert response.status_code == 200, response.text
    payment = read(response)["data"]
    assert payment["paymentOrderNumber"] == "17"
    assert payment["customer"] == payer
    assert payment["paymentOrder"] == {
        "type": "legal",
        "number": "17",
        "date": "2023-04-01",
        "amount": order["amount"],
        "currencyId": "RUB",
        "name": "ООО Плательщик",
        "vatNumber": "7804445210",
    }


async def test_payment_order_is_echoed(client: httpx.AsyncClient, bank: Bank) -> None:
    order = await create_order(client)
    payment_order = {
        "type": "legal",
        "number": "17",
        "date": "2023-04-01",
        "amount": order["amount"],
        "currencyId": "RUB",
        "bic": "044525225",
        "paymentPurpose": "Оплата счёта",
    }

    response = await bank.confirm(confirmation(order, paymentOrder=payment_order))

    assert read(response)["data"]["paymentOrder"] == payment_order


async def test_non_processable_orders_are_invisible(client: httpx.AsyncClient, bank: Bank) -> None:
    order = await create_order(client, processable=False)

    response = await bank.get(f"{INVOICES}/{order['orderContainerId']}")
    listed = read(await bank.get(INVOICES))
    confirmed = await bank.confirm(confirmation(order))

    assert response.status_code == 404
    assert listed["data"] == []
    assert error_code(confirmed) == "invoice_not_found"


# --- Races -----------------------------------------------------------------------------------


async def test_concurrent_confirms_with_different_operations_pay_once(
    client: httpx.AsyncClient, bank: Bank, db: Database
) -> None:
    order = await create_order(client)
    attempts = 24

    responses = await asyncio.gather(
        *(bank.confirm(confirmation(order, f"op-{i}")) for i in range(attempts))
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * (attempts - 1), [r.text for r in responses]
    assert {error_code(r) for r in responses if r.status_code == 409} == {"invoice_already_paid"}
    async with db.transaction() as conn:
        rows = (
            await conn.execute(
                select(payments).where(payments.c.container_id == order["orderContainerId"])
            )
        ).all()
        queued = (
            await conn.execute(select(notifications).where(notifications.c.order_id == order["id"]))
        ).all()
    assert len(rows) == 1
    assert len(queued) == 1


async def test_concurrent_repeats_of_one_operation_all_succeed_once(
    client: httpx.AsyncClient, bank: Bank, db: Database
) -> None:
    order = await create_order(client)

    responses = await asyncio.gather(*(bank.confirm(confirmation(order)) for _ in range(20)))

    assert {r.status_code for r in responses} == {200}, [r.text for r in responses]
    assert len({read(r)["data"]["id"] for r in responses}) == 1
    async with db.transaction() as conn:
        rows = (
            await conn.execute(
                select(payments).where(payments.c.container_id == order["orderContainerId"])
            )
        ).all()
    assert len(rows) == 1


async def test_a_confirmation_writes_its_rows_together_or_not_at_all(
    client: httpx.AsyncClient, bank: Bank, db: Database
) -> None:
    """The payment, its receipt, the shop's signed notification and the buyer's letter commit
    together; on PostgreSQL in two statements and no transaction block (the read of the
    invoice, then one guarded statement claiming it and writing every row: the payment
    path's round trips are what confirm's speed is made of, docs/benchmarks.md). A
    confirmation refused by the database (an operation id reused) leaves none of them."""
    first = await create_order(client, merchant_order_id="A")
    second = await create_order(client, merchant_order_id="B")
    # The instrument's token is looked up once and then cached (not part of the count).
    warm_up = await create_order(client, merchant_order_id="C")
    assert (await bank.confirm(confirmation(warm_up, "op-0"))).status_code == 200
    with statements_sent(db, transaction_control=True) as statements:
        paid = await bank.confirm(confirmation(first, "op-1"))
        written = list(statements)
        refused = await bank.confirm(confirmation(second, "op-1"))

    assert paid.status_code == 200, paid.text
    assert refused.status_code == 422
    if db.dialect == "postgresql":
        assert len(written) == 2, written
        assert written[0].startswith("SELECT") and written[1].startswith("WITH claimed"), written
    async with db.transaction() as conn:
        merchant = await merchants_service.get_merchant(conn, merchants_service.DEMO_MERCHANT_ID)
        written_rows = {}
        for order in (first, second):
            container = order["orderContainerId"]
            written_rows[order["id"]] = [
                (await conn.execute(select(t).where(t.c.container_id == container))).all()
                for t in (payments, receipts, mail_messages)
            ] + [
                (
                    await conn.execute(
                        select(notifications).where(notifications.c.order_id == order["id"])
                    )
                ).all()
            ]
    assert [len(rows) for rows in written_rows[first["id"]]] == [1, 1, 1, 1]
    assert [len(rows) for rows in written_rows[second["id"]]] == [0, 0, 0, 0]
    notice = written_rows[first["id"]][3][0]
    assert merchant is not None
    assert signing.verify(
        bytes(notice.body), notice.signature, merchant.signing_key, merchant.sign_algorithm
    )
