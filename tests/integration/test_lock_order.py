"""Every path that touches a container and its orders locks the container first, then its
orders (docs/security.md "Lock order"), so racing changes of one invoice queue instead of
deadlocking. Each test races two changes of the same invoice for ROUNDS rounds, on SQLite and
PostgreSQL (where the old order - order row, then container - deadlocked 9 rounds in 10):
never a 5xx, and the invoice ends consistent - paid or canceled, never both, and a payment
row only for a paid invoice."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from marketbox.orders import service as orders_service
from marketbox.storage.db import Database
from marketbox.storage.tables import order_containers, orders, payments
from tests.conftest import body, read
from tests.integration.test_instrument_api import Bank, confirmation, make_bank
from tests.integration.test_payment_page import create, open_page, page_path, pay_form
from tests.support.builders import order_payload

ROUNDS = 50
ORDERS = "/v3/billing/api/order/order"


async def end_state(db: Database, container_id: str) -> tuple[str, list[str], int]:
    """(container status, order statuses, succeeded payments)."""
    async with db.transaction() as conn:
        container = (
            await conn.execute(
                select(order_containers.c.status).where(order_containers.c.id == container_id)
            )
        ).scalar_one()
        statuses = (
            await conn.execute(
                select(orders.c.status)
                .where(orders.c.container_id == container_id)
                .order_by(orders.c.created_at, orders.c.id)
            )
        ).scalars()
        paid = (
            await conn.execute(
                select(payments.c.id).where(
                    payments.c.container_id == container_id, payments.c.status == "succeeded"
                )
            )
        ).all()
    return container, list(statuses), len(paid)


def assert_consistent(state: tuple[str, list[str], int], *, paid_won: bool) -> None:
    container, statuses, payments_made = state
    if paid_won:
        assert container == "paid"
        assert payments_made == 1
        assert set(statuses) <= {"completed", "canceled"}
        assert statuses[0] == "completed"
    else:
        assert container == "canceled"
        assert payments_made == 0
        assert set(statuses) == {"canceled"}


async def test_page_payment_races_cancel(api: httpx.AsyncClient, db: Database) -> None:
    outcomes = []
    for i in range(ROUNDS):
        order = await create(api, merchant_order_id=f"RACE-{i}")
        page = await open_page(api, page_path(order))

        paid, canceled = await asyncio.gather(
            api.post(f"{page_path(order)}/pay", data=pay_form(page)),
            api.delete(f"{ORDERS}/{order['id']}"),
        )

        assert paid.status_code in (303, 409), paid.text
        assert canceled.status_code in (200, 422), canceled.text
        paid_won = paid.status_code == 303
        assert paid_won != (canceled.status_code == 200)
        assert_consistent(await end_state(db, order["orderContainerId"]), paid_won=paid_won)
        outcomes.append(paid_won)
    assert len(outcomes) == ROUNDS


async def test_bank_confirmation_races_cancel(
    api: httpx.AsyncClient, client: httpx.AsyncClient, db: Database
) -> None:
    bank: Bank = await make_bank(db, client)
    for i in range(ROUNDS):
        order = await create(api, merchant_order_id=f"RACE-{i}")

        confirmed, canceled = await asyncio.gather(
            bank.confirm(confirmation(order, operation_id=f"op-{i}")),
            api.delete(f"{ORDERS}/{order['id']}"),
        )

        assert confirmed.status_code in (200, 422), confirmed.text
        assert canceled.status_code in (200, 422), canceled.text
        paid_won = confirmed.status_code == 200
        assert paid_won != (canceled.status_code == 200)
        assert_consistent(await end_state(db, order["orderContainerId"]), paid_won=paid_won)


@pytest.mark.parametrize("payer", ["page", "bank"])
async def test_a_payment_waiting_for_a_joining_suborder_sees_it(
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    payer: str,
) -> None:
    # The worst interleaving, made certain: the suborder's transaction holds the invoice's lock
    # with the new order written, the payment's claim starts and waits for that lock, then the
    # suborder commits. The payment must then see the suborder (the payer saw a smaller total:
    # refused, nothing paid), never pay the main order and leave the joined one unpaid.
    bank = await make_bank(db, client)
    main = await create(api, merchant_order_id="MAIN")
    page = await open_page(api, page_path(main))
    written, commit = asyncio.Event(), asyncio.Event()
    real = orders_service.create_order

    async def held_open(*args: Any, **kwargs: Any) -> Any:
        result = await real(*args, **kwargs)
        if kwargs["request"].orderContainerId:
            written.set()
            await commit.wait()
        return result

    monkeypatch.setattr(orders_service, "create_order", held_open)
    suborder = order_payload(merchant_order_id="SUB", orderContainerId=main["orderContainerId"])
    joining = asyncio.create_task(api.post(ORDERS, content=body(suborder)))
    await asyncio.wait_for(written.wait(), 10)
    if payer == "page":
        paying = asyncio.create_task(api.post(f"{page_path(main)}/pay", data=pay_form(page)))
    else:
        paying = asyncio.create_task(bank.confirm(confirmation(main)))
    await asyncio.sleep(0.5)  # the payment is waiting for the invoice's lock by now
    assert not paying.done()
    commit.set()
    joined, paid = await joining, await paying

    assert joined.status_code == 200, joined.text
    assert paid.status_code == (409 if payer == "page" else 422), paid.text
    assert await end_state(db, main["orderContainerId"]) == ("pending", ["created", "created"], 0)


async def test_joining_races_payment(api: httpx.AsyncClient, db: Database) -> None:
    for i in range(ROUNDS):
        main = await create(api, merchant_order_id=f"MAIN-{i}")
        page = await open_page(api, page_path(main))
        suborder: dict[str, Any] = {
            "merchant_order_id": f"SUB-{i}",
            "orderContainerId": main["orderContainerId"],
        }

        paid, joined = await asyncio.gather(
            api.post(f"{page_path(main)}/pay", data=pay_form(page)),
            api.post(ORDERS, content=body(order_payload(**suborder))),
        )

        assert paid.status_code in (303, 409), paid.text
        assert joined.status_code in (200, 422), joined.text
        container, statuses, payments_made = await end_state(db, main["orderContainerId"])
        if paid.status_code == 303:
            # Paid first: the late suborder was refused (the invoice is closed) ...
            assert joined.status_code == 422
            assert read(joined)["error"]["code"] == "wrong_order_status"
            assert (container, statuses, payments_made) == ("paid", ["completed"], 1)
        else:
            # ... or joined first: the payment saw a changed total and paid nothing.
            assert joined.status_code == 200
            assert (container, statuses, payments_made) == ("pending", ["created", "created"], 0)
