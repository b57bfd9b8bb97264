"""Card attempts on the payment page are throttled per invoice and per client, counted in the
database (so every API process shares the counts), and every attempt is kept."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from marketbox import clock
from marketbox.app import create_app
from marketbox.config import Settings
from marketbox.storage.db import Database
from marketbox.storage.tables import payment_attempts
from tests.conftest import DEMO_AUTH, TEST_PUBLIC_URL, make_settings
from tests.integration.test_payment_page import (
    CARD_DECLINED,
    CARD_OK,
    container_row,
    create,
    open_page,
    page_path,
    pay,
    pay_form,
    payment_rows,
)

PER_CONTAINER = 3
PER_CLIENT = 4
CONTAINER_WINDOW = 900
THROTTLED_RU = "Слишком много неудачных попыток оплаты"
THROTTLED_EN = "Too many failed payment attempts"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url,
        pay_declines_per_container=PER_CONTAINER,
        pay_container_window_seconds=CONTAINER_WINDOW,
        pay_declines_per_client=PER_CLIENT,
        pay_client_window_seconds=3600,
    )


@pytest.fixture
def pinned_clock() -> Iterator[list[datetime]]:
    now = [datetime.now(UTC)]
    clock.set_now(lambda: now[0])
    yield now
    clock.set_now(None)


def client_at(app: Any, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url=TEST_PUBLIC_URL, headers=DEMO_AUTH)


async def attempts(db: Database, container_id: str) -> list[tuple[str, str]]:
    async with db.transaction() as conn:
        rows = await conn.execute(
            select(payment_attempts.c.outcome, payment_attempts.c.client)
            .where(payment_attempts.c.container_id == container_id)
            .order_by(payment_attempts.c.id)
        )
        return [(r.outcome, r.client) for r in rows]


async def decline(client: httpx.AsyncClient, order: dict[str, Any]) -> None:
    response = await pay(client, order, card_number=CARD_DECLINED)
    assert response.status_code == 303, response.text


def test_defaults_are_the_documented_limits() -> None:
    defaults = Settings(database_url="sqlite+aiosqlite:///unused.db")
    assert (defaults.pay_declines_per_container, defaults.pay_container_window_seconds) == (5, 900)
    assert (defaults.pay_declines_per_client, defaults.pay_client_window_seconds) == (20, 3600)


async def test_declines_on_one_invoice_are_throttled_with_a_clear_message(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await create(api, merchant_order_id="T-1")
    container = order["orderContainerId"]
    for _ in range(PER_CONTAINER):
        await decline(api, order)

    refused = await pay(api, order, card_number=CARD_OK)
    english = await api.post(
        f"{page_path(order)}/pay?lang=en",
        data=pay_form(await open_page(api, page_path(order)), card_number=CARD_OK),
    )

    assert refused.status_code == 429
    assert THROTTLED_RU in refused.text
    assert 'name="card_number"' in refused.text  # the form is shown again
    assert 1 <= int(refused.headers["retry-after"]) <= CONTAINER_WINDOW
    assert english.status_code == 429 and THROTTLED_EN in english.text
    # The bank was not asked: nothing was paid, only the declines are payments.
    assert (await container_row(db, container))["status"] == "pending"
    assert [p["status"] for p in await payment_rows(db, container)] == ["declined"] * 3
    assert [outcome for outcome, _ in await attempts(db, container)] == [
        *["declined"] * PER_CONTAINER,
        "throttled",
        "throttled",
    ]


async def test_a_clients_declines_across_invoices_are_throttled(app: Any, db: Database) -> None:
    async with client_at(app, "203.0.113.7") as buyer, client_at(app, "203.0.113.8") as other:
        orders = [await create(buyer, merchant_order_id=f"C-{i}") for i in range(PER_CLIENT + 1)]
        for order in orders[:PER_CLIENT]:
            await decline(buyer, order)
        last = orders[PER_CLIENT]

        refused = await pay(buyer, last, card_number=CARD_OK)
        elsewhere = await pay(other, last, card_number=CARD_OK)

    assert refused.status_code == 429 and THROTTLED_RU in refused.text
    assert elsewhere.status_code == 303  # another client is not affected: it paid
    assert (await container_row(db, last["orderContainerId"]))["status"] == "paid"
    assert await attempts(db, last["orderContainerId"]) == [
        ("throttled", "203.0.113.7"),
        ("approved", "203.0.113.8"),
    ]


async def test_the_counts_are_shared_by_every_process(settings: Settings, db: Database) -> None:
    # Two apps with their own engines on one database, as two API processes would be.
    other_db = Database(settings.database_url)
    first = create_app(settings, db=db, migrate=False)
    second = create_app(settings, db=other_db, migrate=False)
    try:
        async with (
            client_at(first, "198.51.100.1") as one,
            client_at(second, "198.51.100.2") as two,
        ):
            order = await create(one, merchant_order_id="P-1")
            for client in (one, two, one):
                await decline(client, order)
            refused = await pay(two, order, card_number=CARD_OK)
    finally:
        await other_db.dispose()
    assert refused.status_code == 429


async def test_concurrent_attempts_cannot_slip_under_the_limit(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await create(api, merchant_order_id="R-1")
    path = page_path(order)
    form = pay_form(await open_page(api, path), card_number=CARD_DECLINED)

    answers = await asyncio.gather(*(api.post(f"{path}/pay", data=form) for _ in range(12)))

    assert sorted(a.status_code for a in answers) == [303] * PER_CONTAINER + [429] * 9
    assert len(await payment_rows(db, order["orderContainerId"])) == PER_CONTAINER
    assert len(await attempts(db, order["orderContainerId"])) == 12


async def test_a_clients_concurrent_attempts_across_invoices_cannot_slip_under_the_limit(
    app: Any, db: Database
) -> None:
    # The bank is asked outside any transaction, so an attempt still with the bank counts as
    # a decline until it is answered: the client's fifth attempt waits for the first four.
    async with client_at(app, "203.0.113.9") as buyer:
        orders = [await create(buyer, merchant_order_id=f"CC-{i}") for i in range(2 * PER_CLIENT)]
        forms = [
            pay_form(await open_page(buyer, page_path(o)), card_number=CARD_DECLINED)
            for o in orders
        ]
        answers = await asyncio.gather(
            *(
                buyer.post(f"{page_path(o)}/pay", data=form)
                for o, form in zip(orders, forms, strict=True)
            )
        )

    assert sorted(a.status_code for a in answers) == [303] * PER_CLIENT + [429] * PER_CLIENT
    outcomes = [outcome for o in orders for outcome, _ in await attempts(db, o["orderContainerId"])]
    assert sorted(outcomes) == ["declined"] * PER_CLIENT + ["throttled"] * PER_CLIENT


async def test_declines_age_out_of_their_window(
    api: httpx.AsyncClient, db: Database, pinned_clock: list[datetime]
) -> None:
    order = await create(api, merchant_order_id="W-1", expires_in=timedelta(days=2))
    for _ in range(PER_CONTAINER):
        await decline(api, order)
    assert (await pay(api, order, card_number=CARD_OK)).status_code == 429

    pinned_clock[0] += timedelta(seconds=CONTAINER_WINDOW + 1)
    paid = await pay(api, order, card_number=CARD_OK)

    assert paid.status_code == 303
    assert (await container_row(db, order["orderContainerId"]))["status"] == "paid"
