"""A bank's confirmation on PostgreSQL reads the invoice, then writes the payment in one
guarded statement, without a transaction block (payments/service.pay_container_at_once).
What changed between the read and the write must not be paid over: each test makes one
change at the worst moment (after the read; or committed while the write waits for the
invoice's lock) and checks that the payment then saw it, as the locked way would have."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from marketbox.mail.tables import mail_messages
from marketbox.payment_page import repository as page_repository
from marketbox.payments import repository as payments_repository
from marketbox.storage.db import Database, after_commit, staged_hooks
from tests.conftest import DEMO_AUTH, body, read
from tests.integration.test_instrument_api import (
    ORDERS,
    Bank,
    confirmation,
    create_order,
    error_code,
    make_bank,
)
from tests.integration.test_lock_order import end_state
from tests.support.builders import order_payload
from tests.support.statements import statements_sent

# The read-then-write path is PostgreSQL's (SQLite's statement() is a locking transaction).
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
async def bank(db: Database, client: httpx.AsyncClient) -> Bank:
    return await make_bank(db, client)


def after_the_read(monkeypatch: pytest.MonkeyPatch, change: Callable[[], Awaitable[None]]) -> None:
    """Run `change` right after the payment's first read of the invoice, once."""
    real = payments_repository.read_for_payment
    pending = [change]

    async def read_then_change(*args: Any, **kwargs: Any) -> Any:
        found = await real(*args, **kwargs)
        while pending:
            await pending.pop()()
        return found

    monkeypatch.setattr(payments_repository, "read_for_payment", read_then_change)


async def letter_recipients(db: Database, container_id: str) -> list[str]:
    async with db.read() as conn:
        found = await conn.execute(
            select(mail_messages.c.recipient).where(
                mail_messages.c.container_id == container_id,
                mail_messages.c.kind == "buyer_receipt",
            )
        )
        return list(found.scalars())


async def test_a_confirmation_pays_without_a_transaction_block(
    db: Database, client: httpx.AsyncClient, bank: Bank
) -> None:
    order = await create_order(client, merchant_order_id="PLAIN")
    warm_up = await create_order(client, merchant_order_id="WARM")
    assert (await bank.confirm(confirmation(warm_up, "op-0"))).status_code == 200

    with statements_sent(db, transaction_control=True) as sent:
        paid = await bank.confirm(confirmation(order))

    assert paid.status_code == 200, paid.text
    assert not [s for s in sent if s.upper().startswith(("BEGIN", "COMMIT"))], sent
    assert await end_state(db, order["orderContainerId"]) == ("paid", ["completed"], 1)


async def test_an_order_that_joins_after_the_read_is_seen(
    db: Database, client: httpx.AsyncClient, bank: Bank, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The suborder commits after the payment read the invoice and before its write: the
    # write's claim still matches the invoice's row (a joining order locks it, it does not
    # change it), so only the orders' fresh check stands between this and paying the
    # suborder for nothing. The bank confirmed the total it saw: refused, nothing paid.
    main = await create_order(client, merchant_order_id="MAIN")
    container = main["orderContainerId"]

    async def join() -> None:
        suborder = order_payload(merchant_order_id="SUB", orderContainerId=container)
        joined = await client.post(ORDERS, content=body(suborder), headers=DEMO_AUTH)
        assert joined.status_code == 200, joined.text

    after_the_read(monkeypatch, join)
    with statements_sent(db, transaction_control=True) as sent:
        paid = await bank.confirm(confirmation(main))

    assert paid.status_code == 422, paid.text
    assert error_code(paid) == "wrong_total_amount"
    assert await end_state(db, container) == ("pending", ["created", "created"], 0)
    assert any(s.upper().startswith("BEGIN") for s in sent)  # paid the locked way, refused


async def test_an_order_withdrawn_after_the_read_is_seen(
    db: Database, client: httpx.AsyncClient, bank: Bank, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The invoice's suborder is canceled after the read: paying what was read would pay a
    # canceled order. The locked way sees the smaller total: refused, nothing paid.
    main = await create_order(client, merchant_order_id="MAIN")
    container = main["orderContainerId"]
    suborder = order_payload(merchant_order_id="SUB", orderContainerId=container)
    sub = read(await client.post(ORDERS, content=body(suborder), headers=DEMO_AUTH))["data"]
    total = read(await bank.client.get(f"/v3/payment/api/invoice/{container}", headers=bank.auth))

    async def withdraw() -> None:
        canceled = await client.delete(f"{ORDERS}/{sub['id']}", headers=DEMO_AUTH)
        assert canceled.status_code == 200, canceled.text

    after_the_read(monkeypatch, withdraw)
    paid = await bank.confirm(confirmation(main, amount=total["data"]["amount"]))

    assert paid.status_code == 422, paid.text
    assert await end_state(db, container) == ("pending", ["created", "canceled"], 0)


async def test_payer_details_saved_after_the_read_reach_the_letter(
    db: Database, client: httpx.AsyncClient, bank: Bank, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The payment page saves what the payer typed on the invoice's row after the read: the
    # claim no longer matches that row's version, and the payment is made from a fresh read.
    order = await create_order(client, merchant_order_id="PAYER")
    container = order["orderContainerId"]

    async def save_payer() -> None:
        async with db.transaction() as conn:
            await page_repository.save_payer(conn, container, {"email": "late@example.org"})

    after_the_read(monkeypatch, save_payer)
    paid = await bank.confirm(confirmation(order))

    assert paid.status_code == 200, paid.text
    assert await letter_recipients(db, container) == ["late@example.org"]
    assert await end_state(db, container) == ("paid", ["completed"], 1)


async def test_a_change_committed_while_the_write_waits_is_seen(
    db: Database, client: httpx.AsyncClient, bank: Bank, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worst moment: a transaction has changed the invoice's row (the payer's details)
    # and holds it; the payment reads the row as it was, then its write waits for the lock;
    # the change commits. PostgreSQL re-checks the claim's condition on the new row version,
    # which is not the one read: the payment is made again from what is there now.
    order = await create_order(client, merchant_order_id="WAIT")
    container = order["orderContainerId"]
    read_done, commit = asyncio.Event(), asyncio.Event()

    async def signal() -> None:
        read_done.set()

    async def hold_a_change() -> None:
        async with db.transaction() as conn:
            await page_repository.save_payer(conn, container, {"email": "held@example.org"})
            await commit.wait()

    holder = asyncio.create_task(hold_a_change())
    await asyncio.sleep(0.3)  # the row is changed and locked by now
    after_the_read(monkeypatch, signal)
    paying = asyncio.create_task(bank.confirm(confirmation(order)))
    await asyncio.wait_for(read_done.wait(), 10)
    await asyncio.sleep(0.5)  # the write is waiting for the invoice's lock by now
    assert not paying.done()
    commit.set()
    await holder
    paid = await paying

    assert paid.status_code == 200, paid.text
    assert await letter_recipients(db, container) == ["held@example.org"]
    assert await end_state(db, container) == ("paid", ["completed"], 1)


async def test_racing_confirmations_pay_once_and_the_rest_are_told_so(
    db: Database, client: httpx.AsyncClient, bank: Bank
) -> None:
    # Every racing confirmation reads the invoice pending; one write claims it, the others'
    # claims match nothing and they answer from a fresh read: already paid (409).
    for i in range(10):
        order = await create_order(client, merchant_order_id=f"RACE-{i}")
        answers = await asyncio.gather(
            *(bank.confirm(confirmation(order, f"op-{i}-{n}")) for n in range(3))
        )
        codes = sorted(a.status_code for a in answers)
        assert codes == [200, 409, 409], [a.text for a in answers]
        assert await end_state(db, order["orderContainerId"]) == ("paid", ["completed"], 1)


async def test_hooks_of_a_part_that_failed_are_dropped(db: Database) -> None:
    ran: list[str] = []

    def hook(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            ran.append(name)

        return run

    async with db.statement() as conn:
        with pytest.raises(RuntimeError), staged_hooks(conn):
            after_commit(conn, hook("failed"))
            raise RuntimeError("the guarded write found the invoice changed")
        with staged_hooks(conn):
            after_commit(conn, hook("written"))
        assert ran == []  # nothing runs before the unit ends

    assert ran == ["written"]
