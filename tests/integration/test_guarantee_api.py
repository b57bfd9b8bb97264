"""Guarantee-instrument confirmation (api.md §11: validate, send-code, pay) over HTTP on SQLite
and PostgreSQL: every sandbox outcome, the code's limits, and every refusal."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from marketbox import clock
from marketbox.app import create_app
from marketbox.guarantee.sandbox import SANDBOX_CODE
from marketbox.guarantee.tables import guarantee_codes
from marketbox.merchants import service as merchants_service
from marketbox.payments import service as payments_service
from marketbox.security import signing
from marketbox.storage.db import Database
from marketbox.storage.tables import notifications, order_containers, orders, payments
from tests.conftest import DEMO_AUTH, TEST_PUBLIC_URL, body, make_settings, read
from tests.integration.test_openapi import check
from tests.support.builders import basket_item, order_payload

ORDERS = "/v3/billing/api/order/order"
ACTIONS = "/v3/billing/api/order/{order_id}/payment-method-action"
GUARANTEE_FUND = "39363265"
PROMISED_PAYMENT = "39363266"
RICH_PAYER = "0001047185"  # registered, no limit
THRIFTY_PAYER = "0004088341"  # registered, 1 000.00 available
UNREACHABLE_PAYER = "0003022651"  # registered, the code cannot be delivered
STRANGER = "0006014779"  # a valid INN nobody registered
UNKNOWN_ID = "01a22115-0000-7000-8000-000000000000"


def url(order_id: str, action: str) -> str:
    return f"{ACTIONS.format(order_id=order_id)}/{action}"


def request(
    payer: str | None = RICH_PAYER, method: str = GUARANTEE_FUND, **extra: Any
) -> dict[str, Any]:
    customer: dict[str, Any] = {"type": "legal", "name": "Покупатель"}
    if payer is not None:
        customer["vatNumber"] = payer
    return {"paymentMethodId": method, "customer": customer, **extra}


def pay_request(public_code: str, code: str = SANDBOX_CODE, **kwargs: Any) -> dict[str, Any]:
    return request(customerPaymentData={"publicCode": public_code, "code": code}, **kwargs)


async def act(
    http: httpx.AsyncClient, order_id: str, action: str, payload: dict[str, Any]
) -> httpx.Response:
    return await http.post(url(order_id, action), content=body(payload))


async def answer(
    http: httpx.AsyncClient, order_id: str, action: str, payload: dict[str, Any]
) -> dict[str, Any]:
    response = await act(http, order_id, action, payload)
    assert response.status_code == 200, response.text
    return read(response)["data"]  # type: ignore[no-any-return]


async def create(api: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await api.post(ORDERS, content=body(order_payload(**overrides)))
    assert response.status_code == 200, response.text
    return read(response)["data"]  # type: ignore[no-any-return]


async def order_status(api: httpx.AsyncClient, order_id: str) -> str:
    return str(read(await api.get(f"{ORDERS}/{order_id}"))["data"]["status"])


async def send(api: httpx.AsyncClient, order_id: str, **kwargs: Any) -> dict[str, Any]:
    sent = await answer(api, order_id, "send-code", request(**kwargs))
    assert sent["result"] == "success", sent
    return sent


def error_of(response: httpx.Response) -> dict[str, Any]:
    return read(response)["error"]  # type: ignore[no-any-return]


@pytest.fixture
def pinned() -> Iterator[list[datetime]]:
    """The clock, pinned; move it by assigning `pinned[0]`."""
    now = [datetime.now(UTC)]
    clock.set_now(lambda: now[0])
    yield now
    clock.set_now(None)


@pytest.fixture
async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    return (await client.get("/openapi.json")).json()


@pytest.fixture
async def order(api: httpx.AsyncClient) -> dict[str, Any]:
    return await create(api, items=[basket_item(amount=Decimal("1500.00"))])


# --- validate --------------------------------------------------------------------------------


async def test_validate_a_registered_payer_is_available(
    api: httpx.AsyncClient, order: dict[str, Any], spec: dict[str, Any]
) -> None:
    response = await act(api, order["id"], "validate", request(RICH_PAYER))

    assert response.status_code == 200, response.text
    check(spec, ACTIONS + "/validate", "post", response)
    assert read(response)["data"] == {
        "type": "none",
        "result": "available",
        "resultNote": None,
        "resultData": {"url": "", "method": "POST", "arguments": []},
    }


@pytest.mark.parametrize("payer", [STRANGER, "000503194730", None], ids=["company", "ip", "none"])
async def test_validate_an_unregistered_payer(
    api: httpx.AsyncClient, order: dict[str, Any], payer: str | None
) -> None:
    data = await answer(api, order["id"], "validate", request(payer))

    assert data["result"] == "notRegistered"
    assert data["resultNote"]


async def test_validate_counts_the_payers_money(api: httpx.AsyncClient) -> None:
    small = await create(api, merchant_order_id="SMALL", items=[basket_item()])
    large = await create(
        api, merchant_order_id="LARGE", items=[basket_item(amount=Decimal("1000.01"))]
    )

    assert (await answer(api, small["id"], "validate", request(THRIFTY_PAYER)))[
        "result"
    ] == "available"
    short = await answer(api, large["id"], "validate", request(THRIFTY_PAYER, languageId="en"))
    assert short["result"] == "notEnoughMoney"
    assert short["resultNote"] == "The payer does not have enough money to pay the invoice"


async def test_validate_counts_the_whole_invoice(api: httpx.AsyncClient) -> None:
    main = await create(api, merchant_order_id="MAIN", items=[basket_item(amount=Decimal(600))])
    await create(
        api,
        merchant_order_id="SUB",
        orderContainerId=main["orderContainerId"],
        items=[basket_item(amount=Decimal(600))],
    )

    data = await answer(api, main["id"], "validate", request(THRIFTY_PAYER))

    assert data["result"] == "notEnoughMoney"


# --- send-code -------------------------------------------------------------------------------


async def test_send_code_then_the_resend_window_then_the_limit(
    api: httpx.AsyncClient, order: dict[str, Any], pinned: list[datetime], spec: dict[str, Any]
) -> None:
    first = await act(api, order["id"], "send-code", request())
    check(spec, ACTIONS + "/send-code", "post", first)
    sent = read(first)["data"]
    assert sent["type"] == "none"
    assert sent["result"] == "success"
    assert sent["resultNote"] is None
    assert sent["resultData"]["leftAttempt"] == 2
    public_code = sent["resultData"]["publicCode"]
    assert len(public_code) == 36

    again = await answer(api, order["id"], "send-code", request())
    assert again["result"] == "codeAlreadySent"
    assert again["resultData"] == {"publicCode": public_code, "leftAttempt": 2}

    codes = {public_code}
    for left in (1, 0):
        pinned[0] += timedelta(seconds=61)
        resent = await answer(api, order["id"], "send-code", request())
        assert resent["result"] == "success"
        assert resent["resultData"]["leftAttempt"] == left
        codes.add(resent["resultData"]["publicCode"])
    assert len(codes) == 3  # every send is a new code

    pinned[0] += timedelta(seconds=61)
    exhausted = await answer(api, order["id"], "send-code", request())
    assert exhausted["result"] == "error"
    assert exhausted["resultData"] == {"publicCode": None, "leftAttempt": 0}
    assert exhausted["resultNote"]


async def test_send_code_to_an_unregistered_payer_is_an_error(
    api: httpx.AsyncClient, order: dict[str, Any]
) -> None:
    data = await answer(api, order["id"], "send-code", request(STRANGER))

    assert data["result"] == "error"
    assert data["resultData"] == {"publicCode": None, "leftAttempt": 3}


async def test_send_code_that_cannot_be_delivered_costs_no_send(
    api: httpx.AsyncClient, order: dict[str, Any]
) -> None:
    failed = await answer(api, order["id"], "send-code", request(UNREACHABLE_PAYER))
    assert failed["result"] == "error"
    assert failed["resultData"] == {"publicCode": None, "leftAttempt": 3}

    sent = await send(api, order["id"], payer=RICH_PAYER)
    assert sent["resultData"]["leftAttempt"] == 2


async def test_codes_are_kept_per_payment_method(
    api: httpx.AsyncClient, order: dict[str, Any]
) -> None:
    fund = await send(api, order["id"], method=GUARANTEE_FUND)
    promise = await send(api, order["id"], method=PROMISED_PAYMENT)

    assert fund["resultData"]["publicCode"] != promise["resultData"]["publicCode"]
    assert promise["resultData"]["leftAttempt"] == 2


async def test_an_expired_code_may_be_sent_again_at_once(
    database_url: str, db: Database, order: dict[str, Any], pinned: list[datetime]
) -> None:
    app = create_app(
        make_settings(database_url, guarantee_code_ttl_seconds=30), db=db, migrate=False
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=TEST_PUBLIC_URL, headers=DEMO_AUTH
    ) as http:
        first = await send(http, order["id"])
        pinned[0] += timedelta(seconds=31)  # expired, though within the 60 s resend window
        second = await send(http, order["id"])

    assert second["resultData"]["publicCode"] != first["resultData"]["publicCode"]


async def test_the_code_is_stored_hashed(
    api: httpx.AsyncClient, db: Database, order: dict[str, Any]
) -> None:
    await send(api, order["id"])

    async with db.transaction() as conn:
        row = (await conn.execute(select(guarantee_codes))).one()._mapping
    assert SANDBOX_CODE not in row["code_hash"]
    assert len(row["code_hash"]) == 64
    assert row["payer_vat_number"] == RICH_PAYER


# --- pay -------------------------------------------------------------------------------------


async def test_pay_with_the_right_code_pays_the_invoice_and_notifies(
    api: httpx.AsyncClient, db: Database, order: dict[str, Any], spec: dict[str, Any]
) -> None:
    public_code = (await send(api, order["id"]))["resultData"]["publicCode"]

    response = await act(api, order["id"], "pay", pay_request(public_code))

    assert response.status_code == 200, response.text
    check(spec, ACTIONS + "/pay", "post", response)
    assert read(response)["data"] == {"type": "none", "result": "success", "resultData": {}}
    paid = read(await api.get(f"{ORDERS}/{order['id']}"))["data"]
    assert paid["status"] == "completed"
    assert paid["paidAt"]
    async with db.transaction() as conn:
        container = (
            (
                await conn.execute(
                    select(order_containers).where(
                        order_containers.c.id == order["orderContainerId"]
                    )
                )
            )
            .one()
            ._mapping
        )
        payment = (
            (
                await conn.execute(
                    select(payments).where(payments.c.container_id == order["orderContainerId"])
                )
            )
            .one()
            ._mapping
        )
        outbox = (
            (
                await conn.execute(
                    select(notifications).where(notifications.c.order_id == order["id"])
                )
            )
            .one()
            ._mapping
        )
        code = (await conn.execute(select(guarantee_codes))).one()._mapping
    assert container["status"] == "paid"
    assert payment["method"] == "guarantee_fund"
    assert payment["status"] == "succeeded"
    assert payment["amount_minor"] == 150000
    assert payment["details"] == {
        "paymentMethodId": GUARANTEE_FUND,
        "publicCode": public_code,
        "payerVatNumber": RICH_PAYER,
    }
    assert outbox["event"] == "paid"
    assert outbox["signature"] == signing.sign(outbox["body"], merchants_service.DEMO_SIGNING_KEY)
    assert code["status"] == "used"


async def test_pay_with_a_promised_payment(
    api: httpx.AsyncClient, db: Database, order: dict[str, Any]
) -> None:
    public_code = (await send(api, order["id"], method=PROMISED_PAYMENT))["resultData"][
        "publicCode"
    ]

    data = await answer(api, order["id"], "pay", pay_request(public_code, method=PROMISED_PAYMENT))

    assert data["result"] == "success"
    async with db.transaction() as conn:
        method = (await conn.execute(select(payments.c.method))).scalar_one()
    assert method == "promised_payment"


async def test_pay_through_a_suborder_pays_the_whole_invoice(
    api: httpx.AsyncClient, db: Database
) -> None:
    main = await create(api, merchant_order_id="MAIN")
    sub = await create(api, merchant_order_id="SUB", orderContainerId=main["orderContainerId"])
    public_code = (await send(api, sub["id"]))["resultData"]["publicCode"]

    data = await answer(api, sub["id"], "pay", pay_request(public_code))

    assert data["result"] == "success"
    assert await order_status(api, main["id"]) == "completed"
    assert await order_status(api, sub["id"]) == "completed"
    async with db.transaction() as conn:
        events = (
            await conn.execute(
                select(notifications.c.order_id, notifications.c.event).where(
                    notifications.c.order_id.in_([main["id"], sub["id"]])
                )
            )
        ).all()
    assert sorted(events) == sorted([(main["id"], "paid"), (sub["id"], "paid")])


async def test_pay_again_is_already_paid(api: httpx.AsyncClient, order: dict[str, Any]) -> None:
    public_code = (await send(api, order["id"]))["resultData"]["publicCode"]
    await answer(api, order["id"], "pay", pay_request(public_code))

    again = await answer(api, order["id"], "pay", pay_request(public_code, languageId="en"))

    assert again == {
        "type": "message",
        "result": "alreadyPaid",
        "resultData": {
            "message": {
                "title": "The invoice is already paid",
                "message": "There is nothing more to pay.",
            }
        },
    }


async def test_wrong_codes_until_the_limit(api: httpx.AsyncClient, order: dict[str, Any]) -> None:
    public_code = (await send(api, order["id"]))["resultData"]["publicCode"]

    first = await answer(api, order["id"], "pay", pay_request(public_code, "111111"))
    second = await answer(api, order["id"], "pay", pay_request(public_code, "222222"))
    third = await answer(api, order["id"], "pay", pay_request(public_code, "333333"))
    right_too_late = await answer(api, order["id"], "pay", pay_request(public_code))

    assert first["type"] == "message"
    assert first["result"] == "wrongCode"
    assert first["resultData"]["message"]["message"].endswith("Осталось попыток: 2.")
    assert second["result"] == "wrongCode"
    assert second["resultData"]["message"]["message"].endswith("Осталось попыток: 1.")
    assert third["result"] == "limitReached"
    assert right_too_late["result"] == "limitReached"
    assert await order_status(api, order["id"]) == "created"

    # A dead code may be replaced at once, within the resend window; the new one has tries
    # of its own.
    fresh = await send(api, order["id"])
    assert fresh["resultData"]["leftAttempt"] == 1
    public_code = fresh["resultData"]["publicCode"]
    assert (await answer(api, order["id"], "pay", pay_request(public_code)))["result"] == "success"


async def test_racing_wrong_codes_never_get_more_tries(
    api: httpx.AsyncClient, order: dict[str, Any]
) -> None:
    public_code = (await send(api, order["id"]))["resultData"]["publicCode"]

    answers = await asyncio.gather(
        *(answer(api, order["id"], "pay", pay_request(public_code, f"99999{i}")) for i in range(6))
    )

    results = Counter(a["result"] for a in answers)
    assert results == {"wrongCode": 2, "limitReached": 4}


async def test_racing_right_codes_pay_once(
    api: httpx.AsyncClient, db: Database, order: dict[str, Any]
) -> None:
    public_code = (await send(api, order["id"]))["resultData"]["publicCode"]

    answers = await asyncio.gather(
        *(answer(api, order["id"], "pay", pay_request(public_code)) for _ in range(5))
    )

    assert Counter(a["result"] for a in answers) == {"success": 1, "alreadyPaid": 4}
    async with db.transaction() as conn:
        paid = (await conn.execute(select(payments))).all()
        sent = (await conn.execute(select(notifications))).all()
    assert len(paid) == 1
    assert len(sent) == 1


async def test_pay_beyond_the_payers_money(api: httpx.AsyncClient, order: dict[str, Any]) -> None:
    public_code = (await send(api, order["id"], payer=THRIFTY_PAYER))["resultData"]["publicCode"]

    data = await answer(api, order["id"], "pay", pay_request(public_code, payer=THRIFTY_PAYER))

    assert data["type"] == "message"
    assert data["result"] == "notEnoughMoney"
    assert data["resultData"]["message"]["title"] == "Недостаточно средств"
    assert await order_status(api, order["id"]) == "created"


async def test_pay_with_a_replaced_code_is_an_error(
    api: httpx.AsyncClient, order: dict[str, Any], pinned: list[datetime]
) -> None:
    old = (await send(api, order["id"]))["resultData"]["publicCode"]
    pinned[0] += timedelta(seconds=61)
    new = (await send(api, order["id"]))["resultData"]["publicCode"]

    stale = await answer(api, order["id"], "pay", pay_request(old))
    fresh = await answer(api, order["id"], "pay", pay_request(new.upper()))

    assert stale["type"] == "message"
    assert stale["result"] == "error"
    assert fresh["result"] == "success"  # publicCode is read case-insensitively


async def test_pay_with_an_expired_code_is_an_error(
    api: httpx.AsyncClient, order: dict[str, Any], pinned: list[datetime]
) -> None:
    public_code = (await send(api, order["id"]))["resultData"]["publicCode"]
    pinned[0] += timedelta(minutes=10, seconds=1)

    data = await answer(api, order["id"], "pay", pay_request(public_code))

    assert data["result"] == "error"
    assert await order_status(api, order["id"]) == "created"


@pytest.mark.parametrize("public_code", [UNKNOWN_ID, "not-a-code"])
async def test_pay_without_a_sent_code_is_an_error(
    api: httpx.AsyncClient, order: dict[str, Any], public_code: str
) -> None:
    data = await answer(api, order["id"], "pay", pay_request(public_code))

    assert data["result"] == "error"


async def test_the_code_works_for_the_payer_it_was_sent_to_only(
    api: httpx.AsyncClient, order: dict[str, Any]
) -> None:
    public_code = (await send(api, order["id"]))["resultData"]["publicCode"]

    other = await answer(api, order["id"], "pay", pay_request(public_code, payer=THRIFTY_PAYER))
    nobody = await answer(api, order["id"], "pay", pay_request(public_code, payer=None))
    right = await answer(api, order["id"], "pay", pay_request(public_code))

    assert other["result"] == "error"
    assert other["resultData"]["message"]["message"].startswith("Код был отправлен другому")
    assert nobody["result"] == "error"
    assert right["result"] == "success"  # the refusals took no tries


# --- production ------------------------------------------------------------------------------


async def test_production_has_no_registered_payers(
    database_url: str, db: Database, order: dict[str, Any]
) -> None:
    settings = make_settings(database_url, mode="production", session_secret="s" * 32)
    app = create_app(settings, db=db, migrate=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=TEST_PUBLIC_URL, headers=DEMO_AUTH
    ) as http:
        validated = await answer(http, order["id"], "validate", request())
        sent = await answer(http, order["id"], "send-code", request())

    assert validated["result"] == "notRegistered"
    assert sent["result"] == "error"
    assert sent["resultData"]["publicCode"] is None


# --- refusals --------------------------------------------------------------------------------

ACTION_NAMES = ("validate", "send-code", "pay")


def any_request(action: str) -> dict[str, Any]:
    return pay_request(UNKNOWN_ID) if action == "pay" else request()


@pytest.mark.parametrize("action", ACTION_NAMES)
async def test_another_merchants_order_is_404(
    client: httpx.AsyncClient, db: Database, action: str
) -> None:
    async with db.transaction() as conn:
        other = await merchants_service.create_merchant(conn, name="Другой магазин")
    other_auth = {"Authorization": f"Bearer {other.token}"}
    created = await client.post(
        ORDERS, content=body(order_payload(merchant_id=other.id)), headers=other_auth
    )
    foreign = read(created)["data"]

    response = await client.post(
        url(foreign["id"], action), content=body(any_request(action)), headers=DEMO_AUTH
    )

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


@pytest.mark.parametrize("action", ACTION_NAMES)
@pytest.mark.parametrize("order_id", [UNKNOWN_ID, "not-a-uuid"])
async def test_an_unknown_order_is_404(api: httpx.AsyncClient, action: str, order_id: str) -> None:
    response = await act(api, order_id, action, any_request(action))

    assert response.status_code == 404


@pytest.mark.parametrize("action", ACTION_NAMES)
@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}], ids=["no-token", "unknown-token"]
)
async def test_a_merchant_token_is_required(
    app: Any, order: dict[str, Any], action: str, headers: dict[str, str]
) -> None:
    # A client of its own: the `api` fixture behind `order` put the demo token on `client`.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=TEST_PUBLIC_URL, headers=headers
    ) as anonymous:
        response = await anonymous.post(url(order["id"], action), content=body(any_request(action)))

    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"


@pytest.mark.parametrize("action", ACTION_NAMES)
async def test_a_canceled_order_is_wrong_order_status(
    api: httpx.AsyncClient, order: dict[str, Any], action: str
) -> None:
    assert (await api.delete(f"{ORDERS}/{order['id']}")).status_code == 200

    response = await act(api, order["id"], action, any_request(action))

    assert response.status_code == 422
    assert error_of(response)["code"] == "wrong_order_status"


@pytest.mark.parametrize("action", ACTION_NAMES)
async def test_an_expired_order_is_wrong_order_status(
    api: httpx.AsyncClient, order: dict[str, Any], action: str, pinned: list[datetime]
) -> None:
    pinned[0] += timedelta(days=2)

    response = await act(api, order["id"], action, any_request(action))

    assert response.status_code == 422
    assert error_of(response)["code"] == "wrong_order_status"
    assert await order_status(api, order["id"]) == "expired"


@pytest.mark.parametrize("hold", [False, True], ids=["completed", "hold"])
@pytest.mark.parametrize("action", ["validate", "send-code"])
async def test_a_paid_order_is_wrong_order_status(
    api: httpx.AsyncClient, db: Database, order: dict[str, Any], action: str, hold: bool
) -> None:
    async with db.transaction() as conn:
        await payments_service.pay_container(
            conn,
            container_id=order["orderContainerId"],
            method="card",
            hold=hold,
        )

    response = await act(api, order["id"], action, request())

    assert response.status_code == 422
    assert error_of(response)["code"] == "wrong_order_status"


async def test_pay_of_an_order_paid_on_the_payment_page_is_already_paid(
    api: httpx.AsyncClient, db: Database, order: dict[str, Any]
) -> None:
    public_code = (await send(api, order["id"]))["resultData"]["publicCode"]
    async with db.transaction() as conn:
        await payments_service.pay_container(
            conn, container_id=order["orderContainerId"], method="card"
        )

    data = await answer(api, order["id"], "pay", pay_request(public_code))

    assert data["result"] == "alreadyPaid"


@pytest.mark.parametrize("action", ACTION_NAMES)
async def test_a_non_processable_order_is_wrong_order_status(
    api: httpx.AsyncClient, action: str
) -> None:
    manual = await create(api, processable=False)

    response = await act(api, manual["id"], action, any_request(action))

    assert response.status_code == 422
    assert error_of(response)["code"] == "wrong_order_status"


@pytest.mark.parametrize("action", ACTION_NAMES)
async def test_an_add_on_order_is_wrong_order_status(
    api: httpx.AsyncClient, db: Database, action: str
) -> None:
    main = await create(api, merchant_order_id="MAIN")
    addon = await create(api, merchant_order_id="ADDON", orderContainerId=main["orderContainerId"])
    async with db.transaction() as conn:
        await conn.execute(
            update(orders).where(orders.c.id == addon["id"]).values(joined_as="addon")
        )

    response = await act(api, addon["id"], action, any_request(action))

    assert response.status_code == 422
    assert error_of(response)["code"] == "wrong_order_status"


@pytest.mark.parametrize("action", ACTION_NAMES)
@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"paymentMethodId": "12345"}, "paymentMethodId", "validation_error"),
        ({"paymentMethodId": "x" * 37}, "paymentMethodId", "validation_error"),
        ({"paymentMethodId": True}, "paymentMethodId", "validation_error"),
        ({"paymentMethodId": None}, "paymentMethodId", "validation_error"),
        ({"customer": None}, "customer", "validation_error"),
        ({"customer": {"type": "legal", "vatNumber": "0001047186"}}, "customer.vatNumber", None),
        ({"customer": {"vatNumber": "٠٠٠١٠٤٧١٨٥"}}, "customer.vatNumber", None),
        ({"languageId": "de"}, "languageId", "language_not_found"),
    ],
)
async def test_a_bad_request_is_422_naming_the_field(
    api: httpx.AsyncClient,
    order: dict[str, Any],
    action: str,
    change: dict[str, Any],
    field: str,
    code: str | None,
) -> None:
    payload = {**any_request(action), **change}

    response = await act(api, order["id"], action, payload)

    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == (code or "validation_error")
    assert field in [f["name"] for f in error["fields"]]


async def test_a_numeric_payment_method_id_is_read_as_its_digits(
    api: httpx.AsyncClient, order: dict[str, Any]
) -> None:
    data = await answer(api, order["id"], "validate", request(method=int(GUARANTEE_FUND)))  # type: ignore[arg-type]

    assert data["result"] == "available"


@pytest.mark.parametrize(
    "payment_data",
    [None, {"publicCode": UNKNOWN_ID}, {"code": "000000"}, {"publicCode": "", "code": "1"}],
)
async def test_pay_needs_customer_payment_data(
    api: httpx.AsyncClient, order: dict[str, Any], payment_data: dict[str, Any] | None
) -> None:
    payload = request(customerPaymentData=payment_data)

    response = await act(api, order["id"], "pay", payload)

    assert response.status_code == 422
    assert any(f["name"].startswith("customerPaymentData") for f in error_of(response)["fields"])


# --- cancel: a full reversal while nothing was shipped (api.md §8.6) -------------------------


async def guarantee_paid(api: httpx.AsyncClient, order: dict[str, Any]) -> None:
    public_code = (await send(api, order["id"]))["resultData"]["publicCode"]
    paid = await answer(api, order["id"], "pay", pay_request(public_code))
    assert paid["result"] == "success", paid


async def test_a_guarantee_paid_order_with_nothing_shipped_is_canceled_in_full(
    api: httpx.AsyncClient, db: Database, order: dict[str, Any]
) -> None:
    await guarantee_paid(api, order)

    response = await api.delete(f"{ORDERS}/{order['id']}")

    assert response.status_code == 200, response.text
    assert read(response)["data"]["status"] == "canceled"
    async with db.transaction() as conn:
        events = [
            r.event
            for r in (
                await conn.execute(
                    select(notifications.c.event)
                    .where(notifications.c.order_id == order["id"])
                    .order_by(notifications.c.created_at)
                )
            ).all()
        ]
    assert events == ["paid", "canceled"]  # the shop learns of the reversal
    # The income receipt of the payment is returned in full (54-FZ, docs/receipts.md).
    receipts = read(await api.get(f"{ORDERS}/{order['id']}/receipt"))["data"]
    assert [(r["purpose"], r["kind"], r["amount"]) for r in receipts] == [
        ("payment", "income", Decimal("1500.00")),
        ("reversal", "income_return", Decimal("1500.00")),
    ]


async def test_a_guarantee_paid_order_once_shipped_or_refunded_is_not_canceled(
    api: httpx.AsyncClient, db: Database
) -> None:
    shipped = await create(api, merchant_order_id="SHIPPED", items=[basket_item(amount=Decimal(1))])
    refunded = await create(
        api, merchant_order_id="REFUNDED", items=[basket_item(amount=Decimal(1))]
    )
    for paid in (shipped, refunded):
        await guarantee_paid(api, paid)
    line = basket_item(amount=Decimal(1))
    shipment = {"orderId": shipped["id"], "basketItems": [line], "final": True}
    assert (await api.post("/v3/billing/api/order/shipment", content=body(shipment))).is_success
    refund = {
        "parentId": refunded["id"],
        "merchantOrderId": "R-1",
        "description": "Возврат",
        "amount": Decimal(1),
        "vatAmount": Decimal(0),
        "basketItems": [line],
    }
    assert (await api.post("/v3/billing/api/order/refund-order", content=body(refund))).is_success

    for paid in (shipped, refunded):
        response = await api.delete(f"{ORDERS}/{paid['id']}")
        assert response.status_code == 422
        assert error_of(response)["code"] == "wrong_order_status"
        assert await order_status(api, paid["id"]) == "completed"


async def test_an_order_paid_by_card_is_refunded_not_canceled(
    api: httpx.AsyncClient, db: Database, order: dict[str, Any]
) -> None:
    async with db.transaction() as conn:
        await payments_service.pay_container(
            conn,
            container_id=order["orderContainerId"],
            method="card",
        )

    response = await api.delete(f"{ORDERS}/{order['id']}")

    assert error_of(response)["code"] == "wrong_order_status"
