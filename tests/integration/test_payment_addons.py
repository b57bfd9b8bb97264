"""The add-on services strip of the payment page (suborder mode) on SQLite and PostgreSQL: which
add-ons a container is offered, the frame configuration handed to the bridge, the page CSP,
the order-list fragment and totals after a suborder joined through the API, and one payment
that completes every order with one notification per order to its own merchant."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import httpx
import pytest
from demo_shop import demo_points_of_sale
from sqlalchemy import select, update

from marketbox.cli.demo import FLIGHT_META_DATA
from marketbox.marketplace import service as marketplace_service
from marketbox.marketplace.tables import points_of_sale
from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.storage.db import Database
from marketbox.storage.tables import notifications
from marketbox.web.assets import ASSETS
from tests.conftest import DEMO_AUTH, body, read
from tests.integration.test_payment_page import api_order, open_page, page_path, pay_form
from tests.support.builders import basket_item, order_payload

ORDERS = "/v3/billing/api/order/order"
SHOP_URL = "http://127.0.0.1:8100"
SHOP_ORIGIN = "http://127.0.0.1:8100"
FLIGHT_NOTIFY = "https://airline.example/notify"
TAXI_NOTIFY = "https://taxi.example/notify"


@pytest.fixture
async def points(db: Database) -> dict[str, dict[str, Any]]:
    """The demo shop's three points of sale, by title."""
    created = {}
    async with db.transaction() as conn:
        for point in demo_points_of_sale(SHOP_URL):
            row = await marketplace_service.create_point_of_sale(
                conn, merchant_id=DEMO_MERCHANT_ID, **point
            )
            created[point["title"]] = row
    return created


def taxi(points: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return points["Такси в аэропорт"]


async def create_flight(api: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"metaData": FLIGHT_META_DATA, "notificationUrl": FLIGHT_NOTIFY}
    values.update(overrides)
    payload = order_payload(
        merchant_order_id="FLIGHT-1",
        items=[basket_item(sku="SU1234-Y", name="Авиабилет SVO — LED", amount=Decimal("12480.00"))],
        **values,
    )
    response = await api.post(ORDERS, content=body(payload))
    assert response.status_code == 200, response.text
    return read(response)["data"]


def addons_config(html: str) -> dict[str, Any]:
    match = re.search(
        r'<script type="application/json" id="addons-config">(.*?)</script>', html, re.S
    )
    assert match, "no add-ons configuration on the page"
    return json.loads(match.group(1))


def card_ids(html: str) -> list[int]:
    return [int(m) for m in re.findall(r'data-addon-card="(\d+)"', html)]


def frame_src(response: httpx.Response) -> list[str]:
    policy = response.headers["content-security-policy"]
    directive = next(d.strip() for d in policy.split(";") if d.strip().startswith("frame-src"))
    return directive.split()[1:]


# --- the strip --------------------------------------------------------------------------------


async def test_a_flight_from_svo_is_offered_the_matching_add_ons(
    api: httpx.AsyncClient, points: dict[str, dict[str, Any]]
) -> None:
    flight = await create_flight(api)
    response = await api.get(page_path(flight))
    assert response.status_code == 200
    html = response.text

    # Taxi (SVO, VKO, DME, LED), the coffee shop (SVO, VKO) and the lounge (SVO), oldest first.
    lounge, coffee = points["Бизнес-зал Sky Lounge"], points["Кофейня «Взлёт»"]
    assert card_ids(html) == [taxi(points)["id"], coffee["id"], lounge["id"]]
    assert "Такси в аэропорт" in html
    assert "Бизнес-зал Sky Lounge" in html
    assert "Добавить услугу" in html
    assert f'<script type="module" src="{ASSETS.url("addons.js")}"></script>' in html
    # Every button inside the payment form is type=button: a card never submits the payment.
    strip = html[html.index("data-addons-list") : html.index("data-addons-message")]
    assert re.findall(r"<button(?![^>]*type=\"button\")", strip) == []

    config = addons_config(html)
    assert config["shopIds"] == card_ids(html)
    assert config["ordersUrl"] == f"/order/{flight['orderContainerId']}/orders.html"
    frame = config["frames"][0]
    assert frame["url"] == f"{SHOP_URL}/taxi/"
    assert frame["origins"] == [SHOP_ORIGIN]
    assert frame["mode"] == "suborder"
    assert frame["fullHeight"] is False
    assert frame["paymentUrlPrefix"] == "http://testserver/order/"
    public = frame["initData"]["public"]
    assert public["minappType"] == "suborder"
    assert public["orderContainerId"] == flight["orderContainerId"]
    assert public["shopId"] == taxi(points)["id"]
    assert public["fullHeight"] is False
    # The buyer known to the invoice (the main order's customer) goes to the mini-app.
    assert (public["userName"], public["userEmail"], public["userPhone"]) == (
        "Иван",
        "ivan@example.com",
        "+79990001122",
    )
    assert frame["initData"]["private"]["metaData"] == [FLIGHT_META_DATA]


async def test_the_page_csp_frames_the_add_on_origins(
    api: httpx.AsyncClient, points: dict[str, dict[str, Any]]
) -> None:
    flight = await create_flight(api)
    response = await api.get(page_path(flight))
    assert frame_src(response) == ["'self'", SHOP_ORIGIN]


async def test_a_container_without_flight_meta_data_gets_no_add_ons(
    api: httpx.AsyncClient, points: dict[str, dict[str, Any]]
) -> None:
    plain = await api.post(ORDERS, content=body(order_payload(merchant_order_id="PLAIN-1")))
    response = await api.get(page_path(read(plain)["data"]))
    assert response.status_code == 200
    assert card_ids(response.text) == []
    assert 'id="addons-config"' not in response.text
    assert ASSETS.url("addons.js") not in response.text
    assert frame_src(response) == ["'self'"]


async def test_a_flight_from_another_airport_gets_only_the_matching_add_on(
    api: httpx.AsyncClient, points: dict[str, dict[str, Any]]
) -> None:
    meta = json.loads(json.dumps(FLIGHT_META_DATA).replace('"SVO"', '"AER"'))
    flight = await create_flight(api, metaData=meta)  # AER -> LED: only the taxi serves LED
    response = await api.get(page_path(flight))
    assert card_ids(response.text) == [taxi(points)["id"]]


async def test_a_paid_invoice_shows_no_strip(
    api: httpx.AsyncClient, points: dict[str, dict[str, Any]]
) -> None:
    flight = await create_flight(api)
    page = await open_page(api, page_path(flight))
    paid = await api.post(f"{page_path(flight)}/pay", data=pay_form(page))
    assert paid.status_code == 303
    response = await api.get(page_path(flight))
    assert "data-addon-card" not in response.text
    assert frame_src(response) == ["'self'"]


# --- a suborder joins ---------------------------------------------------------------------------


async def create_taxi_merchant(
    db: Database, points: dict[str, dict[str, Any]]
) -> merchants_service.Credentials:
    """A taxi company that owns the demo's taxi point of sale (an approved add-on)."""
    async with db.transaction() as conn:
        taxi_merchant = await merchants_service.create_merchant(
            conn, name="Такси", legal_name="ООО «Такси»", notification_url=None
        )
        await conn.execute(
            update(points_of_sale)
            .where(points_of_sale.c.id == taxi(points)["id"])
            .values(merchant_id=taxi_merchant.id)
        )
    return taxi_merchant


async def create_taxi_suborder(
    client: httpx.AsyncClient,
    token: str,
    merchant_id: str,
    container_id: str,
    shop_id: int,
) -> dict[str, Any]:
    payload = order_payload(
        merchant_id=merchant_id,
        merchant_order_id="TAXI-1",
        items=[basket_item(sku="taxi-comfort", name="Такси «Комфорт»", amount=Decimal("2100.00"))],
        orderContainerId=container_id,
        shopId=shop_id,
        notificationUrl=TAXI_NOTIFY,
    )
    response = await client.post(
        ORDERS, content=body(payload), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    return read(response)["data"]


async def test_a_suborder_shows_in_the_fragment_summary_and_card(
    client: httpx.AsyncClient, db: Database, points: dict[str, dict[str, Any]]
) -> None:
    client.headers.update(DEMO_AUTH)
    flight = await create_flight(client)
    container_id = flight["orderContainerId"]
    before = await client.get(f"/order/{container_id}/orders.html")
    assert before.status_code == 200
    assert "Авиабилет SVO — LED" in before.text
    assert "Такси «Комфорт»" not in before.text

    taxi_merchant = await create_taxi_merchant(db, points)
    sub = await create_taxi_suborder(
        client, taxi_merchant.token, taxi_merchant.id, container_id, taxi(points)["id"]
    )
    assert sub["orderContainerId"] == container_id

    fragment = await client.get(f"/order/{container_id}/orders.html")
    assert fragment.status_code == 200
    assert fragment.headers["content-type"].startswith("text/html")
    assert fragment.headers["cache-control"] == "no-store"
    html = fragment.text
    assert html.lstrip().startswith('<div class="order-list" data-order-list')
    assert "<html" not in html
    assert "Авиабилет SVO — LED" in html
    assert "Такси «Комфорт»" in html
    assert "ООО «Такси»" in html
    assert "Доп. услуга" in html
    assert "14\u00a0580,00\u00a0₽" in html  # the «Итого» line

    summary = read(await client.get(f"/order/{container_id}/summary.json"))
    assert summary["amount"] == Decimal("14580.00")
    assert [o["merchantOrderId"] for o in summary["orders"]] == ["FLIGHT-1", "TAXI-1"]

    # The taxi card now reads «Добавлено» / «Добавить ещё».
    page = await client.get(page_path(flight))
    card = re.search(
        rf'<article class="service-card service-card--added" data-addon-card="{taxi(points)["id"]}"'
        r".*?</article>",
        page.text,
        re.S,
    )
    assert card is not None
    assert "Добавить ещё" in card.group(0)
    assert "Добавлено" in card.group(0)
    # The new order's merchant is not the main order's: the main order's page settings stay.
    assert page.text.count("data-addon-card=") == 3  # taxi, coffee shop, lounge


async def test_orders_fragment_of_an_unknown_invoice_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/order/0190f0a1-0000-7000-8000-0000000000c1/orders.html")
    assert response.status_code == 404


async def test_one_payment_completes_both_orders_and_notifies_each_merchant(
    client: httpx.AsyncClient, db: Database, points: dict[str, dict[str, Any]]
) -> None:
    client.headers.update(DEMO_AUTH)
    flight = await create_flight(client)
    container_id = flight["orderContainerId"]
    taxi_merchant = await create_taxi_merchant(db, points)
    sub = await create_taxi_suborder(
        client, taxi_merchant.token, taxi_merchant.id, container_id, taxi(points)["id"]
    )

    page = await open_page(client, page_path(flight))
    assert page.expected_amount == "14580.00"
    paid = await client.post(f"{page_path(flight)}/pay", data=pay_form(page))
    assert paid.status_code == 303

    assert (await api_order(client, flight["id"]))["status"] == "completed"
    taxi_order = await client.get(
        f"{ORDERS}/{sub['id']}", headers={"Authorization": f"Bearer {taxi_merchant.token}"}
    )
    assert read(taxi_order)["data"]["status"] == "completed"

    async with db.transaction() as conn:
        rows = (
            await conn.execute(select(notifications).where(notifications.c.event == "paid"))
        ).all()
    sent = sorted((r.order_id, r.merchant_id, r.url) for r in rows)
    assert sent == sorted(
        [
            (flight["id"], DEMO_MERCHANT_ID, FLIGHT_NOTIFY),
            (sub["id"], taxi_merchant.id, TAXI_NOTIFY),
        ]
    )
    bodies = {r.order_id: json.loads(r.body) for r in rows}
    assert bodies[sub["id"]]["merchantId"] == taxi_merchant.id
    assert bodies[sub["id"]]["merchantOrderId"] == "TAXI-1"
    assert Decimal(str(bodies[sub["id"]]["amount"])) == Decimal("2100.00")
