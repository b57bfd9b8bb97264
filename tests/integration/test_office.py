"""The merchant office (docs/office.md) over HTTP on SQLite and PostgreSQL: log-in and log-out,
wrong passwords, CSRF, tenancy, invites, the log-in rate limit, the order list's search and
filters, and an order's actions and timeline."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.office import service as office_service
from marketbox.payments import sandbox
from marketbox.payments import service as payments_service
from marketbox.storage.db import Database
from tests.conftest import body, read
from tests.support.builders import basket_item, order_payload
from tests.support.office import PASSWORD, csrf_of, log_in, office_user

ORDERS = "/v3/billing/api/order/order"
EMAIL = "owner@shop.test"


async def create_order(api: httpx.AsyncClient, number: str, **overrides: Any) -> dict[str, Any]:
    response = await api.post(
        ORDERS, content=body(order_payload(merchant_order_id=number, **overrides))
    )
    assert response.status_code == 200, response.text
    return dict(read(response)["data"])


async def pay(db: Database, order: dict[str, Any]) -> None:
    async with db.transaction() as conn:
        await payments_service.pay_container(
            conn, container_id=order["orderContainerId"], method="card"
        )


async def test_log_in_see_orders_and_log_out(api: httpx.AsyncClient, db: Database) -> None:
    await office_user(db, DEMO_MERCHANT_ID, EMAIL)
    order = await create_order(api, "SHOP-100")
    api.headers.pop("Authorization")

    logged_in = await log_in(api, EMAIL.upper())  # an e-mail in any case

    assert logged_in.status_code == 303
    assert logged_in.headers["location"] == "/office/orders"
    cookie = logged_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/office" in cookie
    listing = await api.get("/office/orders")
    assert listing.status_code == 200
    assert f'href="/office/orders/{order["id"]}"' in listing.text
    logout = await api.post("/office/logout", data={"csrf": csrf_of(listing.text)})
    assert logout.status_code == 303
    after = await api.get("/office/orders")
    assert after.status_code == 303
    assert after.headers["location"].startswith("/office/login?next=")


async def test_wrong_password_and_unknown_email_are_refused_alike(
    client: httpx.AsyncClient, db: Database
) -> None:
    await office_user(db, DEMO_MERCHANT_ID, EMAIL)

    wrong_password = await log_in(client, EMAIL, "not the password")
    unknown = await log_in(client, "nobody@shop.test")

    for response in (wrong_password, unknown):
        assert response.status_code == 401
        assert "Неверная почта или пароль" in response.text
    assert (await client.get("/office/orders")).status_code == 303


async def test_a_form_without_its_csrf_token_changes_nothing(
    api: httpx.AsyncClient, db: Database
) -> None:
    await office_user(db, DEMO_MERCHANT_ID, EMAIL)
    order = await create_order(api, "SHOP-101")
    await log_in(api, EMAIL)

    forged = await api.post(f"/office/orders/{order['id']}/cancel", data={"csrf": "forged"})
    missing = await api.post(f"/office/orders/{order['id']}/cancel")

    assert forged.status_code == missing.status_code == 403
    still = read(await api.get(f"{ORDERS}/{order['id']}"))["data"]
    assert still["status"] == "created"


async def test_log_in_without_the_login_pages_token_is_refused(
    client: httpx.AsyncClient, db: Database
) -> None:
    await office_user(db, DEMO_MERCHANT_ID, EMAIL)

    response = await client.post("/office/login", data={"email": EMAIL, "password": PASSWORD})

    assert response.status_code == 403
    assert (await client.get("/office/orders")).status_code == 303


async def test_another_merchants_order_is_not_found(api: httpx.AsyncClient, db: Database) -> None:
    order = await create_order(api, "SHOP-102")
    async with db.transaction() as conn:
        other = await merchants_service.create_merchant(conn, name="Другой магазин")
    await office_user(db, other.id, "other@shop.test")
    await log_in(api, "other@shop.test")

    page = await api.get(f"/office/orders/{order['id']}")
    cancel = await api.post(
        f"/office/orders/{order['id']}/cancel", data={"csrf": csrf_of(page.text)}
    )
    listing = await api.get("/office/orders", params={"q": "SHOP-102"})

    assert page.status_code == cancel.status_code == 404
    assert order["id"] not in listing.text
    assert read(await api.get(f"{ORDERS}/{order['id']}"))["data"]["status"] == "created"


async def test_an_invite_sets_the_password_once(client: httpx.AsyncClient, db: Database) -> None:
    async with db.transaction() as conn:
        token = await office_service.invite(
            conn, email="new@shop.test", merchant_id=DEMO_MERCHANT_ID
        )
    link = f"/office/invite/{token}"

    form = await client.get(link)
    short = await client.post(
        link, data={"csrf": csrf_of(form.text), "password": "short", "password2": "short"}
    )
    accepted = await client.post(
        link, data={"csrf": csrf_of(form.text), "password": PASSWORD, "password2": PASSWORD}
    )
    again = await client.get(link)

    assert form.status_code == 200 and "new@shop.test" in form.text
    assert short.status_code == 422
    assert accepted.status_code == 303
    assert (await client.get("/office/orders")).status_code == 200  # logged in by the link
    assert again.status_code == 404
    client.cookies.clear()
    assert (await log_in(client, "new@shop.test")).status_code == 303


async def test_log_in_is_rate_limited(client: httpx.AsyncClient, db: Database) -> None:
    from marketbox.office.views import LOGIN_LIMIT

    await office_user(db, DEMO_MERCHANT_ID, EMAIL)
    answers = [(await log_in(client, EMAIL, "guess")).status_code for _ in range(LOGIN_LIMIT)]

    refused = await log_in(client, EMAIL)  # the right password, too late

    assert answers == [401] * LOGIN_LIMIT
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ({"q": "SHOP-201"}, ["SHOP-201"]),
        ({"q": "maria@"}, ["SHOP-202"]),
        ({"status": "completed"}, ["SHOP-202"]),
        ({"min": "1000"}, ["SHOP-202"]),
        ({"max": "999,99"}, ["SHOP-201"]),
    ],
)
async def test_orders_are_found_by_search_and_filters(
    api: httpx.AsyncClient, db: Database, query: dict[str, str], found: list[str]
) -> None:
    await office_user(db, DEMO_MERCHANT_ID, EMAIL)
    await create_order(api, "SHOP-201", items=[basket_item(amount=Decimal("100.00"))])
    maria = {
        "type": "private",
        "name": "Мария",
        "email": "maria@example.com",
        "phone": "79990002233",
    }
    paid = await create_order(
        api, "SHOP-202", items=[basket_item(amount=Decimal("1500.00"))], customer=maria
    )
    await pay(db, paid)
    await log_in(api, EMAIL)

    listing = await api.get("/office/orders", params=query)

    shown = [n for n in ("SHOP-201", "SHOP-202") if f">{n}</a>" in listing.text]
    assert shown == found


async def test_refund_from_the_order_page_shows_on_its_timeline(
    api: httpx.AsyncClient, db: Database
) -> None:
    await office_user(db, DEMO_MERCHANT_ID, EMAIL)
    order = await create_order(api, "SHOP-300", items=[basket_item(amount=Decimal("250.00"))])
    await pay(db, order)
    await log_in(api, EMAIL)
    page = await api.get(f"/office/orders/{order['id']}")
    assert 'data-event="paid"' in page.text

    refunded = await api.post(
        f"/office/orders/{order['id']}/refund", data={"csrf": csrf_of(page.text), "line": "0"}
    )

    assert refunded.status_code == 303
    after = await api.get(refunded.headers["location"])
    assert 'data-event="refunded"' in after.text
    assert "SHOP-300-refund-1" in after.text
    refunds = read(
        await api.get("/v3/filter/api/order/refund-order", params={"parentId": order["id"]})
    )["data"]
    assert [(r["merchantOrderId"], r["amount"]) for r in refunds] == [
        ("SHOP-300-refund-1", Decimal("250.00"))
    ]


async def test_a_refused_action_is_explained_on_the_page(
    api: httpx.AsyncClient, db: Database
) -> None:
    await office_user(db, DEMO_MERCHANT_ID, EMAIL)
    order = await create_order(api, "SHOP-301")
    await log_in(api, EMAIL)
    page = await api.get(f"/office/orders/{order['id']}", params={"lang": "en"})

    shipped = await api.post(
        f"/office/orders/{order['id']}/shipment", data={"csrf": csrf_of(page.text)}
    )

    assert shipped.status_code == 422
    assert "The order&#39;s status does not allow this." in shipped.text


@pytest.mark.parametrize(
    ("asked", "landing"),
    [
        ("/office/orders?status=completed", "/office/orders?status=completed"),
        ("//evil.example/office/", "/office/orders"),
        ("https://evil.example/", "/office/orders"),
        ("/marketplace/buyer", "/office/orders"),
    ],
)
async def test_log_in_returns_only_to_an_office_page(
    client: httpx.AsyncClient, db: Database, asked: str, landing: str
) -> None:
    await office_user(db, DEMO_MERCHANT_ID, EMAIL)
    page = await client.get("/office/login", params={"next": asked})

    response = await client.post(
        "/office/login",
        data={
            "csrf": csrf_of(page.text),
            "email": EMAIL,
            "password": PASSWORD,
            "next": asked,
        },
    )

    assert response.status_code == 303
    assert response.headers["location"] == landing


async def test_cancel_from_the_order_page(api: httpx.AsyncClient, db: Database) -> None:
    await office_user(db, DEMO_MERCHANT_ID, EMAIL)
    order = await create_order(api, "SHOP-302")
    await log_in(api, EMAIL)
    page = await api.get(f"/office/orders/{order['id']}")

    canceled = await api.post(
        f"/office/orders/{order['id']}/cancel", data={"csrf": csrf_of(page.text)}
    )

    assert canceled.status_code == 303
    after = await api.get(canceled.headers["location"])
    assert 'data-event="canceled"' in after.text
    assert "/cancel" not in after.text  # no cancel button any more
    assert read(await api.get(f"{ORDERS}/{order['id']}"))["data"]["status"] == "canceled"


async def test_a_held_order_is_shipped_from_its_page(api: httpx.AsyncClient, db: Database) -> None:
    await office_user(db, DEMO_MERCHANT_ID, EMAIL)
    order = await create_order(api, "SHOP-303", items=[basket_item(amount=Decimal("800.00"))])
    async with db.transaction() as conn:
        await payments_service.pay_container(
            conn,
            container_id=order["orderContainerId"],
            method=sandbox.METHOD_CARD_HOLD,
            hold=True,
        )
    await log_in(api, EMAIL)
    page = await api.get(f"/office/orders/{order['id']}")
    assert 'data-event="held"' in page.text

    shipped = await api.post(
        f"/office/orders/{order['id']}/shipment", data={"csrf": csrf_of(page.text)}
    )

    assert shipped.status_code == 303
    after = await api.get(shipped.headers["location"])
    assert 'data-event="shipped"' in after.text
    shipments = read(
        await api.get("/v3/filter/api/order/shipment", params={"orderId": order["id"]})
    )["data"]
    assert [(s["amount"], s["final"]) for s in shipments] == [(Decimal("800.00"), True)]


async def test_the_session_cookie_is_secure_behind_https(database_url: str, db: Database) -> None:
    from marketbox.app import create_app
    from tests.conftest import make_settings

    settings = make_settings(database_url, public_url="https://pay.example")
    app = create_app(settings, db=db, migrate=False)
    await office_user(db, DEMO_MERCHANT_ID, EMAIL)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://pay.example") as client:
        response = await log_in(client, EMAIL)

    assert response.status_code == 303
    assert "Secure" in response.headers["set-cookie"]
