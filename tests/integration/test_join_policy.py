"""Who may join an invoice (docs/security.md, "Who may join an invoice"), on SQLite and
PostgreSQL: a suborder comes only from the invoice's own merchants or from an approved add-on
point of sale the payment page offers for it; the owner can turn add-ons off; an add-on can
neither shorten the owner's deadline nor block the payment of the rest; the buyer can remove
it before paying; fields naming other objects name the merchant's own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from marketbox import clock
from marketbox.app import create_app
from marketbox.cli.demo import FLIGHT_META_DATA
from marketbox.marketplace import addons as marketplace_addons
from marketbox.marketplace import service as marketplace_service
from marketbox.merchants import service as merchants_service
from marketbox.storage.db import Database
from marketbox.storage.tables import notifications, order_containers, orders
from tests.conftest import TEST_PUBLIC_URL, body, make_settings, read
from tests.integration.test_payment_page import open_page, page_path, pay_form
from tests.support.builders import basket_item, order_payload

ORDERS = "/v3/billing/api/order/order"
SHOPS = "/v3/marketplace/api/shop"
TAXI_APP = {
    "url": "https://taxi.example/app",
    "modes": ["suborder"],
    "addonRule": {"any": [{"key": "iataCode", "values": ["SVO"]}]},
}
TAXI_PRICE = Decimal("2100.00")


@dataclass
class Merchant:
    id: str
    http: httpx.AsyncClient

    async def order(self, **overrides: Any) -> httpx.Response:
        overrides.setdefault("notificationUrl", f"https://{self.id[:8]}.example/notify")
        return await self.http.post(
            ORDERS, content=body(order_payload(merchant_id=self.id, **overrides))
        )

    async def created(self, **overrides: Any) -> dict[str, Any]:
        response = await self.order(**overrides)
        assert response.status_code == 200, response.text
        return read(response)["data"]


@pytest.fixture
async def merchant_factory(app: Any, db: Database) -> AsyncIterator[Any]:
    clients: list[httpx.AsyncClient] = []

    async def make(name: str) -> Merchant:
        async with db.transaction() as conn:
            credentials = await merchants_service.create_merchant(conn, name=name)
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=TEST_PUBLIC_URL,
            headers={"Authorization": f"Bearer {credentials.token}"},
        )
        clients.append(http)
        return Merchant(credentials.id, http)

    yield make
    for http in clients:
        await http.aclose()


@pytest.fixture
async def airline(merchant_factory: Any) -> Merchant:
    return await merchant_factory("Авиакомпания")


@pytest.fixture
async def taxi(merchant_factory: Any) -> Merchant:
    return await merchant_factory("Такси")


async def flight(airline: Merchant, **overrides: Any) -> dict[str, Any]:
    overrides.setdefault("metaData", FLIGHT_META_DATA)
    items = [basket_item(sku="SU1234", name="Авиабилет", amount=Decimal("12480.00"))]
    return await airline.created(merchant_order_id="FLIGHT", items=items, **overrides)


async def taxi_point(db: Database, taxi: Merchant, *, approve: bool = True, **app: Any) -> int:
    async with db.transaction() as conn:
        point = await marketplace_service.create_point_of_sale(
            conn,
            merchant_id=taxi.id,
            title="Такси в аэропорт",
            mini_app={**TAXI_APP, **app},
            auto_approve_addons=approve,
        )
    return int(point["id"])


async def taxi_order(taxi: Merchant, container_id: str, **overrides: Any) -> httpx.Response:
    items = [basket_item(sku="comfort", name="Такси «Комфорт»", amount=TAXI_PRICE)]
    overrides.setdefault("merchant_order_id", "TAXI-1")
    return await taxi.order(items=items, orderContainerId=container_id, **overrides)


async def container_orders(db: Database, container_id: str) -> list[Any]:
    async with db.transaction() as conn:
        query = select(orders).where(orders.c.container_id == container_id)
        return list((await conn.execute(query.order_by(orders.c.created_at))).all())


async def events(db: Database, order_id: str) -> list[str]:
    async with db.transaction() as conn:
        query = select(notifications.c.event).where(notifications.c.order_id == order_id)
        return list((await conn.execute(query)).scalars())


def refused(response: httpx.Response, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    error = read(response)["error"]
    assert field in [f["name"] for f in error["fields"]], error


# --- who may join -------------------------------------------------------------------------------


async def test_a_merchant_without_an_add_on_cannot_join_a_foreign_invoice(
    db: Database, airline: Merchant, taxi: Merchant
) -> None:
    main = await flight(airline)

    response = await taxi_order(taxi, main["orderContainerId"])

    refused(response, 403, "orderContainerId")
    assert read(response)["error"]["code"] == "forbidden"
    assert len(await container_orders(db, main["orderContainerId"])) == 1


async def test_an_approved_add_on_whose_rule_holds_joins(
    db: Database, airline: Merchant, taxi: Merchant
) -> None:
    main = await flight(airline)
    shop_id = await taxi_point(db, taxi)

    response = await taxi_order(taxi, main["orderContainerId"])

    assert response.status_code == 200, response.text
    joined = read(response)["data"]
    assert joined["shopId"] == shop_id  # the add-on it joined through, found without shopId
    rows = await container_orders(db, main["orderContainerId"])
    assert [r.joined_as for r in rows] == ["main", "addon"]


async def test_an_add_on_whose_rule_does_not_hold_is_refused(
    db: Database, airline: Merchant, taxi: Merchant
) -> None:
    main = await flight(airline, metaData={"@type": "Flight", "iataCode": "LED"})
    shop_id = await taxi_point(db, taxi)

    response = await taxi_order(taxi, main["orderContainerId"], shopId=shop_id)

    refused(response, 403, "orderContainerId")
    assert len(await container_orders(db, main["orderContainerId"])) == 1


async def test_an_add_on_waits_for_the_operator_in_production(
    db: Database, airline: Merchant, taxi: Merchant
) -> None:
    main = await flight(airline)
    shop_id = await taxi_point(db, taxi, approve=False, addonRule=None)
    async with db.transaction() as conn:
        offered = await marketplace_addons.addons_for_container(conn, main["orderContainerId"])
    assert offered == []
    refused(await taxi_order(taxi, main["orderContainerId"]), 403, "orderContainerId")

    async with db.transaction() as conn:
        await marketplace_addons.set_addon_status(conn, shop_id, "approved")
        offered = await marketplace_addons.addons_for_container(conn, main["orderContainerId"])
    assert [a.shop_id for a in offered] == [shop_id]
    assert (await taxi_order(taxi, main["orderContainerId"])).status_code == 200

    async with db.transaction() as conn:
        await marketplace_addons.set_addon_status(conn, shop_id, "revoked")
    second = await taxi_order(taxi, main["orderContainerId"], merchant_order_id="TAXI-2")
    refused(second, 403, "orderContainerId")


async def test_the_api_approves_in_sandbox_and_waits_in_production(
    database_url: str, db: Database
) -> None:
    shop = {"title": "Такси", "miniApp": {"url": "https://taxi.example/app", "modes": ["suborder"]}}
    answers = {}
    for mode in ("sandbox", "production"):
        settings = make_settings(database_url, mode=mode, session_secret="test-secret")
        headers = {"Authorization": f"Bearer {merchants_service.DEMO_TOKEN}"}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings, db=db, migrate=False)),
            base_url=TEST_PUBLIC_URL,
            headers=headers,
        ) as http:
            created = read(await http.post(SHOPS, content=body(shop)))["data"]
            answers[mode] = created["addonStatus"]
            # Saving the same mini-app again keeps the operator's decision ...
            same = await http.post(
                f"{SHOPS}/{created['id']}", content=body({"miniApp": shop["miniApp"]})
            )
            assert read(same)["data"]["addonStatus"] == answers[mode]
            if mode == "production":
                async with db.transaction() as conn:
                    await marketplace_addons.set_addon_status(conn, created["id"], "approved")
                # ... and a changed one goes back to the operator.
                wider = {**shop["miniApp"], "url": "https://taxi.example/v2"}
                changed = await http.post(
                    f"{SHOPS}/{created['id']}", content=body({"miniApp": wider})
                )
                assert read(changed)["data"]["addonStatus"] == "pending"

    assert answers == {"sandbox": "approved", "production": "pending"}


async def test_the_owner_can_turn_add_ons_off(
    client: httpx.AsyncClient, db: Database, airline: Merchant, taxi: Merchant
) -> None:
    main = await flight(airline, orderSetting={"allowAddons": False})
    await taxi_point(db, taxi)

    refused(await taxi_order(taxi, main["orderContainerId"]), 403, "orderContainerId")
    page = await client.get(page_path(main))
    assert "data-addon-card" not in page.text
    assert main["orderSetting"] == {"allowAddons": False}


async def test_the_invoices_own_merchant_adds_suborders_freely(
    db: Database, airline: Merchant
) -> None:
    main = await flight(airline)

    extra = await airline.created(
        merchant_order_id="BAGGAGE", orderContainerId=main["orderContainerId"]
    )

    assert extra["orderContainerId"] == main["orderContainerId"]
    rows = await container_orders(db, main["orderContainerId"])
    assert [r.joined_as for r in rows] == ["main", "own"]


@pytest.mark.parametrize("main_processable", [True, False])
async def test_a_suborder_is_processable_exactly_when_its_invoice_is(
    db: Database, airline: Merchant, main_processable: bool
) -> None:
    main = await flight(airline, processable=main_processable)

    response = await airline.order(
        merchant_order_id="ODD",
        orderContainerId=main["orderContainerId"],
        processable=not main_processable,
    )

    refused(response, 422, "processable")
    assert len(await container_orders(db, main["orderContainerId"])) == 1


# --- deadlines and payment ------------------------------------------------------------------------


async def test_an_add_on_cannot_shorten_the_owners_deadline(
    client: httpx.AsyncClient, db: Database, airline: Merchant, taxi: Merchant
) -> None:
    main = await flight(airline, expires_in=timedelta(hours=2))
    await taxi_point(db, taxi)
    short = await taxi_order(taxi, main["orderContainerId"], expires_in=timedelta(seconds=3))
    assert short.status_code == 200, short.text
    addon = read(short)["data"]

    real_now = clock.now()
    clock.set_now(lambda: real_now + timedelta(minutes=5))
    try:
        page = await open_page(client, page_path(main))
        assert page.status_code == 200
        assert page.expected_amount == "12480.00"  # the add-on expired alone
        paid = await client.post(f"{page_path(main)}/pay", data=pay_form(page))
        assert paid.status_code == 303, paid.text
    finally:
        clock.set_now(None)

    rows = {r.id: r for r in await container_orders(db, main["orderContainerId"])}
    assert rows[main["id"]].status == "completed"
    assert rows[addon["id"]].status == "expired"
    assert await events(db, main["id"]) == ["paid"]
    assert await events(db, addon["id"]) == ["expired"]


async def test_the_main_orders_deadline_closes_the_invoice(
    api: httpx.AsyncClient, db: Database, airline: Merchant
) -> None:
    main = await flight(airline, expires_in=timedelta(hours=1))
    sub = await airline.created(
        merchant_order_id="SUB",
        orderContainerId=main["orderContainerId"],
        expires_in=timedelta(days=3),
    )
    real_now = clock.now()
    clock.set_now(lambda: real_now + timedelta(hours=2))
    try:
        async with db.transaction() as conn:
            from marketbox.orders import service as orders_service

            await orders_service.expire_due(conn)
    finally:
        clock.set_now(None)

    rows = {r.id: r.status for r in await container_orders(db, main["orderContainerId"])}
    assert rows == {main["id"]: "expired", sub["id"]: "expired"}


# --- the buyer removes an add-on ----------------------------------------------------------------


async def test_the_buyer_removes_an_add_on_before_paying(
    client: httpx.AsyncClient, db: Database, airline: Merchant, taxi: Merchant
) -> None:
    main = await flight(airline)
    await taxi_point(db, taxi)
    addon = read(await taxi_order(taxi, main["orderContainerId"]))["data"]
    page = await open_page(client, page_path(main))
    assert page.expected_amount == "14580.00"
    assert f'name="order_id" value="{addon["id"]}"' in page.html
    assert f'name="order_id" value="{main["id"]}"' not in page.html  # only add-ons

    removed = await client.post(
        f"{page_path(main)}/remove", data={"csrf_token": page.token or "", "order_id": addon["id"]}
    )

    assert removed.status_code == 303
    assert removed.headers["location"] == page_path(main)
    after = await open_page(client, page_path(main))
    assert after.expected_amount == "12480.00"
    assert await events(db, addon["id"]) == ["canceled"]
    assert await events(db, main["id"]) == []


@pytest.mark.parametrize("what", ["main order", "no csrf token"])
async def test_removing_anything_but_an_add_on_changes_nothing(
    client: httpx.AsyncClient, db: Database, airline: Merchant, taxi: Merchant, what: str
) -> None:
    main = await flight(airline)
    await taxi_point(db, taxi)
    addon = read(await taxi_order(taxi, main["orderContainerId"]))["data"]
    page = await open_page(client, page_path(main))
    form = {"csrf_token": page.token or "", "order_id": addon["id"]}
    if what == "main order":
        form["order_id"] = main["id"]
    else:
        form["csrf_token"] = "forged"

    response = await client.post(f"{page_path(main)}/remove", data=form)

    assert response.status_code == 303
    statuses = [r.status for r in await container_orders(db, main["orderContainerId"])]
    assert statuses == ["created", "created"]


async def test_canceling_the_main_order_withdraws_the_invoice(
    db: Database, airline: Merchant, taxi: Merchant
) -> None:
    main = await flight(airline)
    await taxi_point(db, taxi)
    addon = read(await taxi_order(taxi, main["orderContainerId"]))["data"]

    canceled = await airline.http.delete(f"{ORDERS}/{main['id']}")

    assert read(canceled)["data"]["status"] == "canceled"
    statuses = [r.status for r in await container_orders(db, main["orderContainerId"])]
    assert statuses == ["canceled", "canceled"]
    assert await events(db, addon["id"]) == ["canceled"]
    async with db.transaction() as conn:
        status = (
            await conn.execute(
                select(order_containers.c.status).where(
                    order_containers.c.id == main["orderContainerId"]
                )
            )
        ).scalar_one()
    assert status == "canceled"


async def test_an_add_on_keeps_the_point_of_sale_it_joined_through(
    db: Database, airline: Merchant, taxi: Merchant
) -> None:
    main = await flight(airline)
    await taxi_point(db, taxi)
    addon = read(await taxi_order(taxi, main["orderContainerId"]))["data"]
    async with db.transaction() as conn:
        other = await marketplace_service.create_point_of_sale(
            conn, merchant_id=taxi.id, title="Другая касса"
        )

    response = await taxi.http.put(f"{ORDERS}/{addon['id']}", content=body({"shopId": other["id"]}))

    refused(response, 422, "shopId")


# --- fields naming other objects ----------------------------------------------------------------


async def test_shop_id_must_name_one_of_the_merchants_points_of_sale(
    db: Database, airline: Merchant, taxi: Merchant
) -> None:
    foreign = await taxi_point(db, taxi)
    async with db.transaction() as conn:
        own = (
            await marketplace_service.create_point_of_sale(
                conn, merchant_id=airline.id, title="Касса"
            )
        )["id"]

    refused(await airline.order(shopId=foreign), 422, "shopId")
    refused(await airline.order(shopId=987654), 422, "shopId")
    order = await airline.created(shopId=own)
    refused(
        await airline.http.put(f"{ORDERS}/{order['id']}", content=body({"shopId": foreign})),
        422,
        "shopId",
    )
    async with db.transaction() as conn:
        count = (await conn.execute(select(func.count()).select_from(orders))).scalar_one()
    assert count == 1


async def test_parent_id_must_name_one_of_the_merchants_orders(
    airline: Merchant, taxi: Merchant
) -> None:
    foreign = await taxi.created(merchant_order_id="T-1")
    own = await airline.created(merchant_order_id="A-1")

    refused(await airline.order(merchant_order_id="A-2", parentId=foreign["id"]), 422, "parentId")
    refused(await airline.order(merchant_order_id="A-3", parentId="not-an-id"), 422, "parentId")
    child = await airline.created(merchant_order_id="A-4", parentId=own["id"])
    assert child["parentId"] == own["id"]


async def test_a_settled_non_processable_invoice_takes_no_suborder(
    db: Database, airline: Merchant
) -> None:
    main = await flight(airline, processable=False)
    settled = await airline.http.put(
        f"/v3/billing/api/order/{main['id']}/status", content=body({"status": "completed"})
    )
    assert settled.status_code == 200, settled.text

    response = await airline.order(
        merchant_order_id="LATE", orderContainerId=main["orderContainerId"], processable=False
    )

    refused(response, 422, "orderContainerId")
    assert read(response)["error"]["code"] == "wrong_order_status"
    assert len(await container_orders(db, main["orderContainerId"])) == 1
