"""The office's mail view, sandbox panel and operator pages (docs/office.md) over HTTP on SQLite
and PostgreSQL: the buyer's letter after a sandbox payment, the clock moved and reset from the
panel, triggers from the panel and from an order's page, the reset's confirm step, everything
sandbox refused in production, and the operator's pages closed to a merchant's user."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from marketbox import clock
from marketbox.app import create_app
from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.office import service as office_service
from marketbox.storage.db import Database
from tests.conftest import make_settings
from tests.integration.test_office import create_order
from tests.support.office import PASSWORD, csrf_of, log_in

EMAIL = "owner@shop.test"
OPERATOR = "ops@platform.test"


@pytest.fixture(autouse=True)
def true_clock() -> Iterator[None]:
    """The panel moves this process's clock: every test starts and ends on the real time."""
    clock.set_offset(timedelta(0))
    yield
    clock.set_offset(timedelta(0))


async def logged_in(client: httpx.AsyncClient, db: Database, role: str = "merchant") -> str:
    """Log `client` in as a new user of the demo shop; the CSRF token of its session."""
    email = OPERATOR if role == "operator" else EMAIL
    async with db.transaction() as conn:
        await office_service.create_user(
            conn, email=email, merchant_id=DEMO_MERCHANT_ID, role=role, password=PASSWORD
        )
    client.headers.pop("Authorization", None)
    assert (await log_in(client, email)).status_code == 303
    return csrf_of((await client.get("/office/orders")).text)


async def test_a_sandbox_payment_leaves_the_buyers_letter_in_the_mail_view(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await create_order(api, "MAIL-1")
    csrf = await logged_in(api, db)

    paid = await api.post(
        "/office/sandbox/trigger",
        data={"csrf": csrf, "order_id": order["id"], "action": "pay", "back": "order"},
    )

    assert paid.status_code == 303
    assert paid.headers["location"] == f"/office/orders/{order['id']}?done=paid"
    page = await api.get(paid.headers["location"])
    assert "Заказ оплачен тестовой картой." in page.text
    assert "data-sandbox-triggers" not in page.text  # paid: no more triggers
    mail = await api.get("/office/mail")
    assert mail.status_code == 200
    assert 'data-mail="buyer_receipt"' in mail.text
    assert "ivan@example.com" in mail.text
    letter_id = mail.text.split('href="/office/mail/')[1].split('"')[0]
    letter = await api.get(f"/office/mail/{letter_id}")
    assert letter.status_code == 200
    assert "ivan@example.com" in letter.text
    assert f"/order/{order['orderContainerId']}/receipt" in letter.text
    english = await api.get("/office/mail?lang=en")
    assert (
        "Buyer's payment confirmation" in english.text
        or "Buyer&#39;s payment confirmation" in english.text
    )
    assert "1 letter found" in english.text
    # Filtered by a status it does not have: not listed.
    assert 'data-mail="buyer_receipt"' not in (await api.get("/office/mail?status=failed")).text


async def test_another_merchants_letter_is_not_found(api: httpx.AsyncClient, db: Database) -> None:
    order = await create_order(api, "MAIL-2")
    csrf = await logged_in(api, db)
    await api.post(
        "/office/sandbox/trigger", data={"csrf": csrf, "order_id": order["id"], "action": "pay"}
    )
    letter_id = (await api.get("/office/mail")).text.split('href="/office/mail/')[1].split('"')[0]
    async with db.transaction() as conn:
        other = await merchants_service.create_merchant(conn, name="Other shop")
        await office_service.create_user(
            conn, email="other@shop.test", merchant_id=other.id, password=PASSWORD
        )
    await api.post("/office/logout", data={"csrf": csrf})
    await log_in(api, "other@shop.test")

    assert (await api.get(f"/office/mail/{letter_id}")).status_code == 404
    assert 'data-total="0"' in (await api.get("/office/mail")).text


async def test_the_panel_moves_the_clock_expiring_orders_and_resets_it(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await create_order(
        api, "CLOCK-1", expirationDate=(clock.now() + timedelta(hours=1)).isoformat()
    )
    csrf = await logged_in(api, db)

    moved = await api.post("/office/sandbox/clock", data={"csrf": csrf, "advance": "2h"})

    assert moved.status_code == 303
    panel = await api.get("/office/sandbox")
    assert "data-sandbox-clock" in panel.text  # the strip every page shows
    assert 'data-offset="7200"' in panel.text
    assert "data-sandbox-clock" in (await api.get("/office/orders")).text
    assert 'data-event="expired"' in (await api.get(f"/office/orders/{order['id']}")).text
    wrong = await api.post("/office/sandbox/clock", data={"csrf": csrf, "custom": "soon"})
    assert wrong.status_code == 422
    assert "30m, 2h, 1d" in wrong.text
    custom = await api.post("/office/sandbox/clock", data={"csrf": csrf, "custom": "1d12h"})
    assert custom.status_code == 303
    assert 'data-offset="136800"' in (await api.get("/office/sandbox")).text
    reset = await api.post("/office/sandbox/clock", data={"csrf": csrf, "reset": "1"})
    assert reset.status_code == 303
    assert "data-sandbox-clock" not in (await api.get("/office/sandbox")).text
    assert clock.offset() == timedelta(0)


async def test_triggers_from_the_panel_and_their_refusals(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await create_order(api, "TRIG-1")
    csrf = await logged_in(api, db)

    expired = await api.post(
        "/office/sandbox/trigger", data={"csrf": csrf, "order_id": order["id"], "action": "expire"}
    )

    assert expired.status_code == 303
    assert expired.headers["location"].startswith("/office/sandbox?done=expired")
    assert "Срок оплаты заказа истёк." in (await api.get(expired.headers["location"])).text
    again = await api.post(
        "/office/sandbox/trigger", data={"csrf": csrf, "order_id": order["id"], "action": "pay"}
    )
    assert again.status_code == 409
    assert "Не выполнено" in again.text
    unknown = await api.post(
        "/office/sandbox/trigger", data={"csrf": csrf, "order_id": "nope", "action": "pay"}
    )
    assert unknown.status_code == 404
    no_csrf = await api.post(
        "/office/sandbox/trigger", data={"order_id": order["id"], "action": "pay"}
    )
    assert no_csrf.status_code == 403


async def test_a_declined_trigger_on_the_order_page_leaves_it_unpaid(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await create_order(api, "TRIG-2")
    csrf = await logged_in(api, db)
    page = await api.get(f"/office/orders/{order['id']}")
    assert "Оплатить (песочница)" in page.text

    declined = await api.post(
        "/office/sandbox/trigger",
        data={"csrf": csrf, "order_id": order["id"], "action": "decline", "back": "order"},
    )

    after = await api.get(declined.headers["location"])
    assert "Банк отклонил платёж" in after.text
    assert 'data-event="payment_declined"' in after.text
    assert "data-sandbox-triggers" in after.text  # still unpaid


async def test_the_reset_asks_first_then_empties_the_sandbox(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await create_order(api, "RESET-1")
    csrf = await logged_in(api, db)
    confirm = await api.get("/office/sandbox/reset")
    assert confirm.status_code == 200
    assert 'name="confirm" value="yes"' in confirm.text

    unconfirmed = await api.post("/office/sandbox/reset", data={"csrf": csrf})
    assert unconfirmed.headers["location"] == "/office/sandbox/reset"
    assert (await api.get(f"/office/orders/{order['id']}")).status_code == 200
    done = await api.post("/office/sandbox/reset", data={"csrf": csrf, "confirm": "yes"})

    assert done.headers["location"] == "/office/sandbox?done=reset"
    assert (await api.get(f"/office/orders/{order['id']}")).status_code == 404
    assert (await api.get("/office/orders")).status_code == 200  # office users are kept


@pytest.fixture
async def production(database_url: str, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url, mode="production", session_secret="s" * 32)
    app = create_app(settings, db=db, migrate=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=settings.public_url
    ) as http:
        yield http


async def test_production_has_no_sandbox_panel(
    api: httpx.AsyncClient, production: httpx.AsyncClient, db: Database
) -> None:
    order = await create_order(api, "PROD-1")
    csrf = await logged_in(production, db)

    orders = await production.get(f"/office/orders/{order['id']}")
    assert 'href="/office/sandbox"' not in orders.text
    assert "data-sandbox-triggers" not in orders.text
    assert (await production.get("/office/sandbox")).status_code == 404
    assert (await production.get("/office/sandbox/reset")).status_code == 404
    posts: list[tuple[str, dict[str, Any]]] = [
        ("/office/sandbox/trigger", {"order_id": order["id"], "action": "pay"}),
        ("/office/sandbox/clock", {"advance": "2h"}),
        ("/office/sandbox/reset", {"confirm": "yes"}),
    ]
    for path, data in posts:
        assert (await production.post(path, data={"csrf": csrf, **data})).status_code == 404
    assert (await production.get(f"/office/orders/{order['id']}")).status_code == 200
    assert clock.offset() == timedelta(0)


async def test_the_operator_sees_merchants_instruments_and_health(
    api: httpx.AsyncClient, db: Database
) -> None:
    await create_order(api, "OPS-1")
    await create_order(api, "OPS-2")
    async with db.transaction() as conn:
        await merchants_service.create_instrument(conn, name="Test bank")
    await logged_in(api, db, role="operator")

    orders = await api.get("/office/orders")
    assert 'href="/office/operator"' in orders.text
    page = await api.get("/office/operator")
    assert page.status_code == 200
    row = page.text.split(f'data-merchant="{DEMO_MERCHANT_ID}"')[1].split("</tr>")[0]
    assert '<td data-label="Заказов" class="num">2</td>' in row
    assert "Test bank" in page.text
    health = await api.get("/office/operator/health")
    assert health.status_code == 200
    assert 'data-ready="yes"' in health.text
    assert '<dd data-check="database">ok</dd>' in health.text
    assert "data-pending" in health.text


async def test_a_merchants_user_cannot_open_the_operator_pages(
    api: httpx.AsyncClient, db: Database
) -> None:
    await logged_in(api, db)

    assert 'href="/office/operator"' not in (await api.get("/office/orders")).text
    for path in ("/office/operator", "/office/operator/health"):
        assert (await api.get(path)).status_code == 404
