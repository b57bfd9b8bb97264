"""The payment gateway seam (docs/payments.md) on SQLite and PostgreSQL.

* the gateway is never called with a database transaction open: a test double of the bank,
  registered by configuration (tests/support/gateway.py), checks the pool and the database on
  every call;
* an approved authorization the invoice can no longer take (paid meanwhile, an add-on joined)
  is voided, and the invoice is paid once;
* crash recovery for each gap (after recording the attempt, after the gateway answered, after
  the answer was recorded, after deciding to void): the worker's recovery pass ends the invoice
  paid exactly once or not at all and voids what cannot be used;
* capture, void and refund are idempotent by the gateway reference; the sandbox answers from
  its own books after a restart;
* the configuration that chooses the gateway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from marketbox import clock
from marketbox.app import create_app
from marketbox.config import Settings
from marketbox.notifications import worker
from marketbox.payments import attempts, sandbox
from marketbox.payments import gateway as gw
from marketbox.payments import service as payments_service
from marketbox.payments.sandbox_gateway import SandboxGateway
from marketbox.storage.db import Database
from marketbox.storage.tables import payment_attempts, sandbox_authorizations
from tests.conftest import DEMO_AUTH, TEST_PUBLIC_URL, body, make_settings
from tests.integration.test_instrument_api import confirmation, make_bank
from tests.integration.test_payment_page import (
    CARD_DECLINED,
    CARD_HOLD,
    CARD_OK,
    FUTURE_EXPIRY,
    ORDERS,
    api_order,
    container_row,
    create,
    open_page,
    page_path,
    paid_notifications,
    pay,
    pay_form,
    payment_rows,
)
from tests.support.builders import basket_item, order_payload
from tests.support.gateway import CheckingGateway, database_is_free

CHECKING = "tests.support.gateway:checking"
RECOVERY_AFTER = 120
ABANDON_AFTER = 3600


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url,
        payment_gateway=CHECKING,
        payment_recovery_after_seconds=RECOVERY_AFTER,
        payment_abandon_after_seconds=ABANDON_AFTER,
    )


@pytest.fixture
def bank_double(app: Any) -> CheckingGateway:
    gateway = app.state.ctx.gateway
    assert isinstance(gateway, CheckingGateway)
    return gateway


@pytest.fixture
def pinned_clock() -> Iterator[list[datetime]]:
    now = [datetime.now(UTC)]
    clock.set_now(lambda: now[0])
    yield now
    clock.set_now(None)


def a_card(number: str = CARD_OK) -> sandbox.Card:
    card, errors = sandbox.check_card(number, FUTURE_EXPIRY, "123", now=clock.now())
    assert card is not None, errors
    return card


async def attempt_rows(db: Database, container_id: str) -> list[Any]:
    async with db.transaction() as conn:
        query = (
            select(payment_attempts)
            .where(payment_attempts.c.container_id == container_id)
            .order_by(payment_attempts.c.id)
        )
        return [r._mapping for r in (await conn.execute(query)).all()]


def succeeded(rows: list[Any]) -> list[Any]:
    return [p for p in rows if p["status"] == "succeeded"]


def assert_no_transaction_was_open(gateway: CheckingGateway) -> None:
    assert gateway.calls, "the gateway was never called"
    for call in gateway.calls:
        assert call.connections_checked_out == 0, call
        assert call.database_free, call


# --- no gateway call inside a transaction ------------------------------------------------------


async def test_the_gateway_is_called_with_no_transaction_open(
    api: httpx.AsyncClient, db: Database, bank_double: CheckingGateway
) -> None:
    paid = await create(api, merchant_order_id="G-1")
    held = await create(api, merchant_order_id="G-2")
    declined = await create(api, merchant_order_id="G-3")
    raced = await create(api, merchant_order_id="G-4")

    async def pay_elsewhere(request: gw.AuthorizeRequest) -> None:
        if request.card.last4 == "5556":
            async with db.transaction() as conn:
                await payments_service.pay_container(
                    conn,
                    container_id=raced["orderContainerId"],
                    method="card",
                )

    bank_double.during_authorize = pay_elsewhere
    assert (await pay(api, paid)).status_code == 303
    assert (await pay(api, held, card_number=CARD_HOLD)).status_code == 303
    assert (await pay(api, declined, card_number=CARD_DECLINED)).status_code == 303
    assert (await pay(api, raced, card_number="4000 0566 5566 5556")).status_code == 409

    assert [c.method for c in bank_double.calls] == ["authorize"] * 4 + ["void"]
    assert_no_transaction_was_open(bank_double)


async def test_the_payment_row_names_the_gateway_and_its_reference(
    api: httpx.AsyncClient, db: Database, bank_double: CheckingGateway
) -> None:
    sale = await create(api, merchant_order_id="R-1")
    hold = await create(api, merchant_order_id="R-2")
    await pay(api, sale)
    await pay(api, hold, card_number=CARD_HOLD)

    for order, state, method in ((sale, "captured", "card"), (hold, "authorized", "card_hold")):
        [payment] = await payment_rows(db, order["orderContainerId"])
        [attempt] = await attempt_rows(db, order["orderContainerId"])
        assert payment["gateway"] == "checking"
        assert payment["gateway_reference"] == attempt["gateway_reference"]
        assert (payment["method"], attempt["method"]) == (method, method)
        assert (attempt["status"], attempt["outcome"]) == ("paid", "approved")
        assert attempt["payment_id"] == payment["id"]
        authorization = await bank_double.get(payment["gateway_reference"])
        assert authorization is not None
        assert (authorization.state, authorization.amount) == (state, Decimal("100.00"))
    # A decline is recorded with the gateway's reference too.
    declined = await create(api, merchant_order_id="R-3")
    await pay(api, declined, card_number=CARD_DECLINED)
    [row] = await payment_rows(db, declined["orderContainerId"])
    authorization = await bank_double.get(row["gateway_reference"])
    assert authorization is not None and authorization.state == "declined"


async def test_the_sandbox_is_the_default_gateway_and_is_named_on_the_payment(
    database_url: str, db: Database
) -> None:
    app = create_app(make_settings(database_url), db=db, migrate=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=TEST_PUBLIC_URL, headers=DEMO_AUTH
    ) as client:
        order = await create(client)
        assert (await pay(client, order)).status_code == 303
    [payment] = await payment_rows(db, order["orderContainerId"])
    assert payment["gateway"] == "sandbox"
    assert payment["gateway_reference"].startswith("sbx_")


# --- an authorization the invoice can no longer take is voided ----------------------------------


async def test_an_approved_authorization_for_an_invoice_paid_meanwhile_is_voided(
    api: httpx.AsyncClient, client: httpx.AsyncClient, db: Database, bank_double: CheckingGateway
) -> None:
    order = await create(api)
    bank = await make_bank(db, client)

    async def bank_transfer_arrives(request: gw.AuthorizeRequest) -> None:
        confirmed = await bank.confirm(confirmation(order, operation_id="transfer-1"))
        assert confirmed.status_code == 200, confirmed.text

    bank_double.during_authorize = bank_transfer_arrives
    response = await pay(api, order)

    assert response.status_code == 409
    assert 'data-status="paid"' in response.text
    [payment] = succeeded(await payment_rows(db, order["orderContainerId"]))
    assert (payment["method"], payment["gateway"]) == ("instrument", None)
    [attempt] = await attempt_rows(db, order["orderContainerId"])
    assert (attempt["status"], attempt["release_reason"], attempt["release"]) == (
        "voided",
        "already_paid",
        "void",
    )
    authorization = await bank_double.get(attempt["gateway_reference"])
    assert authorization is not None and authorization.state == "voided"
    assert await paid_notifications(db, order["id"]) == 1


async def test_an_authorization_for_a_total_changed_meanwhile_is_voided(
    api: httpx.AsyncClient, db: Database, bank_double: CheckingGateway
) -> None:
    main = await create(api)

    async def addon_joins(request: gw.AuthorizeRequest) -> None:
        joined = await api.post(
            ORDERS,
            content=body(
                order_payload(
                    merchant_order_id="ADDON-1",
                    orderContainerId=main["orderContainerId"],
                    items=[basket_item(amount=Decimal("25.00"))],
                )
            ),
        )
        assert joined.status_code == 200, joined.text

    bank_double.during_authorize = addon_joins
    response = await pay(api, main, card_number=CARD_HOLD)

    assert response.status_code == 409
    assert "Сумма счёта изменилась" in response.text
    assert await payment_rows(db, main["orderContainerId"]) == []
    [attempt] = await attempt_rows(db, main["orderContainerId"])
    assert (attempt["status"], attempt["release_reason"]) == ("voided", "amount_changed")
    authorization = await bank_double.get(attempt["gateway_reference"])
    assert authorization is not None and authorization.state == "voided"
    assert (await api_order(api, main["id"]))["status"] == "created"


async def test_concurrent_payments_of_one_invoice_ask_the_bank_once(
    api: httpx.AsyncClient, db: Database, bank_double: CheckingGateway
) -> None:
    order = await create(api)
    path = page_path(order)
    form = pay_form(await open_page(api, path))

    answers = await asyncio.gather(*(api.post(f"{path}/pay", data=form) for _ in range(8)))

    assert sorted(a.status_code for a in answers) == [303] + [409] * 7
    assert [c.method for c in bank_double.calls] == ["authorize"]
    assert len(succeeded(await payment_rows(db, order["orderContainerId"]))) == 1


# --- the gateway does not answer ---------------------------------------------------------------


async def test_a_lost_answer_is_recovered_and_a_second_attempt_waits_for_it(
    database_url: str, db: Database, pinned_clock: list[datetime]
) -> None:
    settings = make_settings(
        database_url,
        payment_gateway=CHECKING,
        payment_gateway_timeout_seconds=0.5,
        payment_recovery_after_seconds=RECOVERY_AFTER,
    )
    app = create_app(settings, db=db, migrate=False)
    bank_double: CheckingGateway = app.state.ctx.gateway
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=TEST_PUBLIC_URL, headers=DEMO_AUTH
    ) as client:
        order = await create(client)
        page = await open_page(client, page_path(order))
        bank_double.lose_answers = {"authorize"}
        first = asyncio.create_task(client.post(f"{page_path(order)}/pay", data=pay_form(page)))
        while not bank_double.calls:
            await asyncio.sleep(0.01)
        second = await client.post(f"{page_path(order)}/pay", data=pay_form(page))
        first_answer = await first

    # The bank authorized, but its answer never came: the buyer is told to wait ...
    assert first_answer.status_code == 503
    assert "Банк не ответил вовремя" in first_answer.text
    # ... and a second attempt meanwhile is not sent to the bank while the first may pay.
    assert second.status_code == 409 and "уже выполняется" in second.text
    assert [c.method for c in bank_double.calls] == ["authorize"]
    [attempt] = await attempt_rows(db, order["orderContainerId"])
    assert attempt["status"] == "authorizing"
    assert (await container_row(db, order["orderContainerId"]))["status"] == "pending"

    bank_double.lose_answers = set()
    pinned_clock[0] += timedelta(seconds=RECOVERY_AFTER + 1)
    recovered = await attempts.recover(db, bank_double, settings)

    assert recovered.by_status == {"paid": 1}
    assert (await container_row(db, order["orderContainerId"]))["status"] == "paid"
    assert len(succeeded(await payment_rows(db, order["orderContainerId"]))) == 1


# --- crash recovery, gap by gap ------------------------------------------------------------------


async def step_1(
    db: Database, settings: Settings, order: dict[str, Any], card: sandbox.Card
) -> Any:
    """Record the attempt (what the page does before asking the bank) and stop."""
    async with db.transaction() as conn:
        begun = await attempts.begin(
            conn,
            settings,
            gateway="checking",
            container_id=order["orderContainerId"],
            client="198.51.100.9",
            amount=Decimal(order["amount"]),
            currency="RUB",
            card_last4=card.last4,
        )
    assert isinstance(begun, attempts.Attempt)
    return begun


async def step_2(
    db: Database, settings: Settings, gateway: CheckingGateway, order: dict[str, Any], card_no: str
) -> tuple[attempts.Attempt, gw.Authorization]:
    card = a_card(card_no)
    attempt = await step_1(db, settings, order, card)
    authorization = await attempts.ask(gateway, attempt, card, timeout=5)
    assert authorization is not None
    return attempt, authorization


async def recover(
    db: Database, gateway: CheckingGateway, settings: Settings, now: list[datetime]
) -> dict[str, int]:
    now[0] += timedelta(seconds=RECOVERY_AFTER + 1)
    return (await attempts.recover(db, gateway, settings)).by_status


async def assert_paid_once(db: Database, order: dict[str, Any], reference: str | None) -> None:
    assert (await container_row(db, order["orderContainerId"]))["status"] == "paid"
    [payment] = succeeded(await payment_rows(db, order["orderContainerId"]))
    assert payment["gateway_reference"] == reference
    assert await paid_notifications(db, order["id"]) == 1


async def test_crash_after_recording_the_attempt(
    api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    bank_double: CheckingGateway,
    pinned_clock: list[datetime],
) -> None:
    order = await create(api, expires_in=timedelta(days=2))
    attempt = await step_1(db, settings, order, a_card())

    # The bank never heard of it: recovery waits (it may still be on its way) ...
    assert await recover(db, bank_double, settings, pinned_clock) == {"authorizing": 1}
    assert (await container_row(db, order["orderContainerId"]))["status"] == "pending"
    # ... and it no longer holds up the invoice: the buyer pays again.
    assert (await pay(api, order)).status_code == 303
    # After the abandon horizon it is given up; the invoice was paid once, by the second try.
    pinned_clock[0] += timedelta(seconds=ABANDON_AFTER)
    assert await recover(db, bank_double, settings, pinned_clock) == {"abandoned": 1}
    rows = await attempt_rows(db, order["orderContainerId"])
    assert [(r["status"], r["outcome"]) for r in rows] == [
        ("abandoned", "none"),
        ("paid", "approved"),
    ]
    assert await bank_double.find(attempt.idempotency_key) is None
    await assert_paid_once(db, order, rows[1]["gateway_reference"])


@pytest.mark.parametrize("card", [CARD_OK, CARD_HOLD])
async def test_crash_after_the_gateway_approved(
    api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    bank_double: CheckingGateway,
    pinned_clock: list[datetime],
    card: str,
) -> None:
    order = await create(api)
    _, authorization = await step_2(db, settings, bank_double, order, card)

    # Two workers recover at once: the invoice is paid once.
    pinned_clock[0] += timedelta(seconds=RECOVERY_AFTER + 1)
    passes = await asyncio.gather(*(attempts.recover(db, bank_double, settings) for _ in "ab"))

    assert {status for p in passes for status in p.by_status} == {"paid"}
    await assert_paid_once(db, order, authorization.reference)
    [attempt] = await attempt_rows(db, order["orderContainerId"])
    assert attempt["status"] == "paid"
    expected = "completed" if card == CARD_OK else "hold"
    assert (await api_order(api, order["id"]))["status"] == expected


async def test_crash_after_the_gateway_declined(
    api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    bank_double: CheckingGateway,
    pinned_clock: list[datetime],
) -> None:
    order = await create(api)
    await step_2(db, settings, bank_double, order, CARD_DECLINED)

    assert await recover(db, bank_double, settings, pinned_clock) == {"declined": 1}

    assert (await container_row(db, order["orderContainerId"]))["status"] == "pending"
    [declined] = await payment_rows(db, order["orderContainerId"])
    assert (declined["status"], declined["failure_code"]) == ("declined", "card_declined")
    [attempt] = await attempt_rows(db, order["orderContainerId"])
    assert (attempt["status"], attempt["outcome"]) == ("declined", "declined")


async def test_crash_after_the_gateway_approved_an_invoice_canceled_meanwhile(
    api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    bank_double: CheckingGateway,
    pinned_clock: list[datetime],
) -> None:
    order = await create(api)
    _, authorization = await step_2(db, settings, bank_double, order, CARD_OK)
    assert (await api.delete(f"{ORDERS}/{order['id']}")).status_code == 200

    assert await recover(db, bank_double, settings, pinned_clock) == {"voided": 1}

    assert (await container_row(db, order["orderContainerId"]))["status"] == "canceled"
    assert succeeded(await payment_rows(db, order["orderContainerId"])) == []
    [attempt] = await attempt_rows(db, order["orderContainerId"])
    assert (attempt["status"], attempt["release_reason"]) == ("voided", "canceled")
    voided = await bank_double.get(authorization.reference)
    assert voided is not None and voided.state == "voided"


@pytest.mark.parametrize("meanwhile", ["nothing", "paid_elsewhere"])
async def test_crash_after_recording_the_answer(
    api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    bank_double: CheckingGateway,
    pinned_clock: list[datetime],
    meanwhile: str,
) -> None:
    order = await create(api)
    attempt, authorization = await step_2(db, settings, bank_double, order, CARD_OK)
    recorded = await attempts.record(db, attempt.id, authorization)
    assert recorded.status == "authorized"
    if meanwhile == "paid_elsewhere":
        async with db.transaction() as conn:
            await payments_service.pay_container(
                conn,
                container_id=order["orderContainerId"],
                method="card",
            )

    ended = await recover(db, bank_double, settings, pinned_clock)

    [row] = await attempt_rows(db, order["orderContainerId"])
    if meanwhile == "nothing":
        assert ended == {"paid": 1}
        await assert_paid_once(db, order, authorization.reference)
    else:
        assert ended == {"voided": 1}
        assert (row["status"], row["release_reason"]) == ("voided", "already_paid")
        await assert_paid_once(db, order, None)
        voided = await bank_double.get(authorization.reference)
        assert voided is not None and voided.state == "voided"


async def test_crash_after_deciding_to_void(
    api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    bank_double: CheckingGateway,
    pinned_clock: list[datetime],
) -> None:
    order = await create(api)
    attempt, authorization = await step_2(db, settings, bank_double, order, CARD_OK)
    await attempts.record(db, attempt.id, authorization)
    assert (await api.delete(f"{ORDERS}/{order['id']}")).status_code == 200
    bank_double.unreachable = {"void"}  # the page decided to void; the bank did not answer

    stuck = await attempts.settle(db, bank_double, attempt.id, timeout=5)
    assert stuck.status == "voiding"

    bank_double.unreachable = set()
    assert await recover(db, bank_double, settings, pinned_clock) == {"voided": 1}
    assert await recover(db, bank_double, settings, pinned_clock) == {}  # nothing left to do
    voided = await bank_double.get(authorization.reference)
    assert voided is not None and voided.state == "voided"
    assert succeeded(await payment_rows(db, order["orderContainerId"])) == []


async def test_the_worker_runs_the_recovery_pass(database_url: str, db: Database) -> None:
    settings = make_settings(
        database_url,
        payment_gateway=CHECKING,
        payment_gateway_timeout_seconds=0.05,
        payment_recovery_after_seconds=0.1,
        dispatcher_poll_seconds=0.05,
        expiry_sweep_seconds=0.05,
    )
    app = create_app(settings, db=db, migrate=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=TEST_PUBLIC_URL, headers=DEMO_AUTH
    ) as client:
        order = await create(client)
    _, authorization = await step_2(db, settings, app.state.ctx.gateway, order, CARD_OK)

    stop = asyncio.Event()
    running = asyncio.create_task(worker.run_worker(settings, db, stop))
    try:
        for _ in range(200):
            if (await container_row(db, order["orderContainerId"]))["status"] == "paid":
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)

    await assert_paid_once(db, order, authorization.reference)


# --- capture, void and refund are idempotent by the reference ---------------------------------


async def sandbox_authorization(
    gateway: SandboxGateway, card: str, key: str, amount: str = "100.00"
) -> gw.Authorization:
    request = gw.AuthorizeRequest(key, Decimal(amount), "RUB", a_card(card))
    return await gateway.authorize(request)


async def test_capture_and_refund_are_idempotent(db: Database) -> None:
    gateway = SandboxGateway(db)
    held = await sandbox_authorization(gateway, CARD_HOLD, "key-hold")
    ref = held.reference
    assert (held.state, held.captured) == ("authorized", False)

    first = await gateway.capture(ref, Decimal("60.00"))
    again = await gateway.capture(ref, Decimal("60.00"))
    other = await gateway.capture(ref, Decimal("70.00"))
    assert (first.succeeded, first.replayed) == (True, False)
    assert (again.succeeded, again.replayed) == (True, True)
    assert (other.succeeded, other.failure_code) == (False, "already_captured")

    refund = await gateway.refund(ref, Decimal("20.00"))
    repeat = await gateway.refund(ref, Decimal("20.00"))
    reused = await gateway.refund(ref, Decimal("5.00"))
    second = await gateway.refund(ref, Decimal("20.00"), key="refund-2")
    too_much = await gateway.refund(ref, Decimal("30.00"), key="refund-3")
    rest = await gateway.refund(ref, Decimal("20.00"), key="refund-3")
    assert (refund.succeeded, repeat.replayed) == (True, True)
    assert (reused.succeeded, reused.failure_code) == (False, "key_reused")
    assert second.succeeded and rest.succeeded
    assert (too_much.succeeded, too_much.failure_code) == (False, "amount_exceeds_captured")

    final = await gateway.get(ref)
    assert final is not None
    assert (final.state, final.captured_amount, final.refunded_amount) == (
        "refunded",
        Decimal("60.00"),
        Decimal("60.00"),
    )
    assert (await gateway.void(ref)).failure_code == "already_refunded"


async def test_void_is_idempotent_and_final(db: Database) -> None:
    gateway = SandboxGateway(db)
    sale = await sandbox_authorization(gateway, CARD_OK, "key-sale")
    assert (sale.state, sale.captured_amount) == ("captured", Decimal("100.00"))

    voids = await asyncio.gather(*(gateway.void(sale.reference) for _ in range(6)))

    assert all(v.succeeded for v in voids)
    assert sorted(v.replayed for v in voids) == [False] + [True] * 5
    assert (await gateway.capture(sale.reference, Decimal("1.00"))).failure_code == "voided"
    assert (await gateway.refund(sale.reference, Decimal("1.00"))).failure_code == "voided"


async def test_concurrent_refunds_with_one_key_refund_once(db: Database) -> None:
    gateway = SandboxGateway(db)
    sale = await sandbox_authorization(gateway, CARD_OK, "key-refunds")

    answers = await asyncio.gather(
        *(gateway.refund(sale.reference, Decimal("40.00"), key="r-1") for _ in range(6))
    )

    assert all(a.succeeded for a in answers)
    assert sorted(a.replayed for a in answers) == [False] + [True] * 5
    after = await gateway.get(sale.reference)
    assert after is not None and after.refunded_amount == Decimal("40.00")


async def test_what_the_sandbox_cannot_do_changes_nothing(db: Database) -> None:
    gateway = SandboxGateway(db)
    declined = await sandbox_authorization(gateway, CARD_DECLINED, "key-declined")
    held = await sandbox_authorization(gateway, CARD_HOLD, "key-held")

    assert (declined.state, declined.failure_code) == ("declined", "card_declined")
    assert (await gateway.void(declined.reference)).failure_code == "declined"
    assert (await gateway.capture(declined.reference, Decimal(1))).failure_code == "declined"
    assert (await gateway.refund(held.reference, Decimal(1))).failure_code == "not_captured"
    over = await gateway.capture(held.reference, Decimal("100.01"))
    assert over.failure_code == "amount_exceeds_authorized"
    assert (await gateway.capture(held.reference, Decimal("0.001"))).failure_code == (
        "invalid_amount"
    )
    assert (await gateway.void("sbx_unknown")).failure_code == "unknown_reference"
    unchanged = await gateway.get(held.reference)
    assert unchanged is not None and unchanged.state == "authorized"


async def test_the_sandbox_answers_from_its_books_after_a_restart(
    db: Database, settings: Settings
) -> None:
    first = await sandbox_authorization(SandboxGateway(db), CARD_OK, "key-restart")
    repeated = await sandbox_authorization(SandboxGateway(db), CARD_OK, "key-restart")
    assert repeated.reference == first.reference

    other_process = Database(settings.database_url)
    try:
        found = await SandboxGateway(other_process).find("key-restart")
    finally:
        await other_process.dispose()

    assert found == first
    async with db.transaction() as conn:
        count = await conn.execute(select(func.count()).select_from(sandbox_authorizations))
        assert count.scalar_one() == 1
    with pytest.raises(gw.GatewayError):
        await sandbox_authorization(SandboxGateway(db), CARD_OK, "key-restart", amount="5.00")


# --- configuration -------------------------------------------------------------------------------


def test_the_gateway_is_chosen_by_configuration(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/unused.db"
    db = Database(url)
    sandbox_mode = Settings(database_url=url)
    production = Settings(database_url=url, mode="production", session_secret="s")
    plugged = Settings(database_url=url, payment_gateway=CHECKING)

    assert gw.gateway_name(sandbox_mode) == "sandbox"
    assert gw.gateway_name(production) == "unavailable"
    assert isinstance(gw.create_gateway(sandbox_mode, db), SandboxGateway)
    assert isinstance(gw.create_gateway(production, db), gw.UnavailableGateway)
    assert isinstance(gw.create_gateway(plugged, db), CheckingGateway)
    with pytest.raises(gw.GatewayError):
        gw.create_gateway(Settings(database_url=url, payment_gateway="tests.nowhere:x"), db)


@pytest.mark.parametrize(
    "values",
    [
        {"payment_gateway": "sandbox", "mode": "production", "session_secret": "s"},
        {"payment_gateway": "my bank"},
        {"payment_gateway_timeout_seconds": 60, "payment_recovery_after_seconds": 30},
        {"payment_recovery_after_seconds": 600, "payment_abandon_after_seconds": 300},
    ],
)
def test_unsafe_gateway_settings_stop_start_up(values: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Settings(database_url="sqlite+aiosqlite:///unused.db", **values)


async def test_the_bank_double_sees_an_open_transaction(db: Database) -> None:
    """The proof above is not vacuous: inside a transaction both checks fail."""
    async with db.transaction() as conn:
        await conn.execute(select(func.count()).select_from(payment_attempts))
        assert db.engine.pool.checkedout() == 1
        assert not await database_is_free(db)
    assert db.engine.pool.checkedout() == 0
    assert await database_is_free(db)


def test_the_card_on_its_way_to_the_gateway_never_shows_its_number() -> None:
    card = a_card(CARD_OK)
    text = f"{card!r} {card} {gw.AuthorizeRequest('k', Decimal(1), 'RUB', card)!r}"
    assert "4242424242424242" not in text and "'123'" not in text
    assert card.last4 == "4242" and card.number == "4242424242424242"
