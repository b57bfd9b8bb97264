"""The reference shop (examples/demo_shop) against the real platform, both over real HTTP.

The platform app runs under uvicorn and the shop under aiohttp, each on its own port in the
test's event loop; the shop reaches the platform only through the SDK. Payment notifications
are the platform's own: a container is paid with the payments service, and the outbox row it
wrote (body and signature as the dispatcher would send them) is posted to the shop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import httpx
import pytest
import uvicorn
from aiohttp import web
from demo_shop import SERVICES, create_shop_app, demo_points_of_sale
from demo_shop.app import LAUNCH, STORE
from demo_shop.catalog import price_line
from demo_shop.store import OrderStore
from sqlalchemy import select

from marketbox import jsonutil
from marketbox.config import Settings
from marketbox.marketplace import miniapp
from marketbox.marketplace import service as marketplace_service
from marketbox.marketplace.tables import points_of_sale
from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import DEMO_MERCHANT_ID, DEMO_SIGNING_KEY, DEMO_TOKEN
from marketbox.notifications import outbox
from marketbox.notifications.dispatcher import Dispatcher
from marketbox.orders import validation
from marketbox.orders.schemas import BasketItem
from marketbox.payments import service as payments_service
from marketbox.refunds import service as refunds_service
from marketbox.security import signing
from marketbox.storage.db import Database
from marketbox.storage.tables import notifications
from tests.conftest import body, read
from tests.support.builders import order_payload
from tests.support.launch import signed_launch_data

ORDERS = "/v3/billing/api/order/order"
CUSTOMER = {"name": "Анна Смирнова", "email": "anna@example.org", "phone": "+79005556677"}
MINAPP_CLIENT = (
    Path(__file__).parents[2] / "src" / "marketbox" / "miniapp_host" / "static" / "minapp-client.js"
)


# -- servers ----------------------------------------------------------------------------------


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # leave pytest's signal handlers alone
        yield


@pytest.fixture
async def platform_url(app: Any) -> AsyncIterator[str]:
    """The platform app under uvicorn in this event loop (lifespan off: `db` is the fixture's)."""
    sock = _bound_socket()
    server = _Uvicorn(uvicorn.Config(app, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    await task
    sock.close()


# The demo point of sale of each service (demo_points_of_sale).
SERVICE_POINTS = {
    "lounge": "Бизнес-зал Sky Lounge",
    "taxi": "Такси в аэропорт",
    "coffee": "Кофейня «Взлёт»",
}


@dataclasses.dataclass
class Shop:
    url: str
    app: web.Application
    http: httpx.AsyncClient
    db: Database
    points: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def store(self) -> OrderStore:
        return self.app[STORE]

    async def launch(self, payload: dict[str, Any], **overrides: Any) -> str:
        """The signed launch data the host would hand the mini-app for this request: its
        shopId (default: the service's demo point of sale), container, buyer and locale."""
        shop_id = payload.get("shopId")
        if shop_id is None:
            service = str(payload.get("service"))
            if service not in self.points:
                self.points[service] = await create_point(self.db, SERVICE_POINTS[service])
            shop_id = self.points[service]
        values: dict[str, Any] = {
            "order_container_id": payload.get("orderContainerId"),
            "customer": payload.get("customer"),
            "locale": payload.get("locale") or "ru",
        }
        values.update(overrides)
        return signed_launch_data(shop_id, await launch_secret(self.db, shop_id), **values)

    async def order(self, payload: dict[str, Any]) -> httpx.Response:
        """POST /api/orders as the shop's frontend does, with signed launch data."""
        if "signedLaunchData" not in payload:
            payload = {**payload, "signedLaunchData": await self.launch(payload)}
        return await self.http.post("/api/orders", json=payload)

    async def create(self, **payload: Any) -> dict[str, Any]:
        response = await self.order(payload)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    async def notify(self, raw: bytes, signature: str | None) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Signature"] = signature
        response = await self.http.post("/api/invoicebox/notify", content=raw, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def shop(platform_url: str, db: Database) -> AsyncIterator[Shop]:
    sock = _bound_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_shop_app(
        platform_url=platform_url,
        token=DEMO_TOKEN,
        merchant_id=DEMO_MERCHANT_ID,
        signing_key=DEMO_SIGNING_KEY,
        public_url=url,
        platform_origins=[platform_url],
    )
    runner = web.AppRunner(app)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    async with httpx.AsyncClient(base_url=url) as http:
        yield Shop(url, app, http, db)
    await runner.cleanup()
    sock.close()


# -- helpers ----------------------------------------------------------------------------------


async def platform_order(api: httpx.AsyncClient, shop: Shop, merchant_order_id: str) -> dict:
    record = shop.store.get(merchant_order_id)
    assert record is not None and record.platform_order_id
    response = await api.get(f"{ORDERS}/{record.platform_order_id}")
    assert response.status_code == 200, response.text
    return read(response)["data"]


def merchant_order_id_of(created: dict[str, Any]) -> str:
    return str(created["merchantOrderId"])


async def launch_secret(db: Database, shop_id: int) -> str:
    async with db.transaction() as conn:
        query = select(points_of_sale.c.launch_secret).where(points_of_sale.c.id == shop_id)
        return str((await conn.execute(query)).scalar_one())


async def create_point(db: Database, title: str) -> int:
    point = next(p for p in demo_points_of_sale("http://127.0.0.1:9") if p["title"] == title)
    async with db.transaction() as conn:
        created = await marketplace_service.create_point_of_sale(
            conn, merchant_id=DEMO_MERCHANT_ID, **point
        )
    return int(created["id"])


async def pay(db: Database, settings: Settings, container_id: str) -> None:
    async with db.transaction() as conn:
        await payments_service.pay_container(conn, container_id=container_id, method="card")


async def outbox_rows(db: Database, order_id: str) -> list[Any]:
    async with db.transaction() as conn:
        result = await conn.execute(
            select(notifications).where(notifications.c.order_id == order_id)
        )
        return list(result.all())


async def paid_notification(
    db: Database, settings: Settings, shop: Shop, merchant_order_id: str
) -> tuple[bytes, str]:
    """Pay the shop order's container; return the platform's notification (body, signature)."""
    record = shop.store.get(merchant_order_id)
    assert record is not None and record.container_id and record.platform_order_id
    await pay(db, settings, record.container_id)
    (row,) = await outbox_rows(db, record.platform_order_id)
    assert row.url == f"{shop.url}/api/invoicebox/notify"
    return bytes(row.body), row.signature


def resign(raw: bytes, **changes: Any) -> tuple[bytes, str]:
    data = jsonutil.loads(raw)
    data.update(changes)
    new = jsonutil.dumps_php(data)
    return new, signing.sign(new, DEMO_SIGNING_KEY)


async def lounge_order(shop: Shop, **extra: Any) -> str:
    created = await shop.create(
        service="lounge",
        items=[{"sku": "lounge-6h", "quantity": 2}, {"sku": "lounge-shower", "quantity": 1}],
        locale="ru",
        customer=CUSTOMER,
        **extra,
    )
    return merchant_order_id_of(created)


# -- creating orders --------------------------------------------------------------------------


async def test_order_mode_creates_the_platform_order_with_the_shop_urls(
    shop: Shop, api: httpx.AsyncClient, db: Database
) -> None:
    shop_id = await create_point(db, "Бизнес-зал Sky Lounge")
    created = await shop.create(
        service="lounge",
        items=[{"sku": "lounge-6h", "quantity": 2}, {"sku": "lounge-shower", "quantity": 1}],
        locale="ru",
        shopId=shop_id,
        customer=CUSTOMER,
    )
    moid = merchant_order_id_of(created)
    order = await platform_order(api, shop, moid)

    assert created["method"] == "GET"
    assert created["url"] == order["paymentUrl"]
    assert order["paymentUrl"].endswith(f"/order/{order['orderContainerId']}")
    assert order["merchantOrderId"] == moid
    assert order["merchantId"] == DEMO_MERCHANT_ID
    assert order["amount"] == Decimal("6000.00")
    assert order["vatAmount"] == Decimal("1000.00")
    assert order["currencyId"] == "RUB"
    assert order["languageId"] == "ru"
    assert order["shopId"] == shop_id
    assert order["status"] == "created"
    assert order["successUrl"] == f"{shop.url}/success?order={moid}"
    assert order["failUrl"] == f"{shop.url}/fail?order={moid}"
    assert order["notificationUrl"] == f"{shop.url}/api/invoicebox/notify"
    assert order["customer"]["name"] == CUSTOMER["name"]
    assert order["customer"]["email"] == CUSTOMER["email"]
    assert [(i["sku"], i["quantity"], i["totalAmount"], i["totalVatAmount"], i["vatCode"])
            for i in order["basketItems"]] == [
        ("lounge-6h", 2, Decimal("5400.00"), Decimal("900.00"), "RUS_VAT20"),
        ("lounge-shower", 1, Decimal("600.00"), Decimal("100.00"), "RUS_VAT20"),
    ]  # fmt: skip
    record = shop.store.get(moid)
    assert record is not None
    assert (record.status, record.amount, record.mode) == ("created", Decimal("6000.00"), "order")


async def test_suborder_joins_the_buyers_container(
    shop: Shop, api: httpx.AsyncClient, db: Database
) -> None:
    main = await api.post(ORDERS, content=body(order_payload(merchant_order_id="FLIGHT-1")))
    container_id = read(main)["data"]["orderContainerId"]
    shop_id = await create_point(db, "Такси в аэропорт")

    created = await shop.create(
        service="taxi",
        items=[{"sku": "taxi-comfort", "quantity": 1}, {"sku": "taxi-child-seat", "quantity": 1}],
        locale="en",
        shopId=shop_id,
        orderContainerId=container_id,
        customer=CUSTOMER,
        flight={"number": "SU1234", "airport": "SVO"},
    )
    order = await platform_order(api, shop, merchant_order_id_of(created))

    assert order["orderContainerId"] == container_id
    assert created["url"] == read(main)["data"]["paymentUrl"]
    assert order["amount"] == Decimal("2400.00")
    assert order["languageId"] == "en"
    assert order["description"] == "Taxi to the airport SVO, flight SU1234"
    record = shop.store.get(merchant_order_id_of(created))
    assert record is not None and record.mode == "suborder"
    listed = await api.get("/v3/filter/api/order/order", params={"orderContainerId": container_id})
    assert listed.status_code == 200, listed.text
    assert len(read(listed)["data"]) == 2


@pytest.mark.parametrize(
    "items",
    [
        [{"sku": "no-such-thing", "quantity": 1}],
        [{"sku": "lounge-shower", "quantity": 1}],  # no pass chosen
        [{"sku": "lounge-3h", "quantity": 1}, {"sku": "lounge-6h", "quantity": 1}],
        [{"sku": "lounge-3h", "quantity": 7}],
        [{"sku": "lounge-3h", "quantity": 1}, {"sku": "lounge-water", "quantity": -1}],
        [{"sku": "lounge-3h", "quantity": "1"}],
    ],
)
async def test_the_shop_refuses_selections_outside_its_catalogue(
    shop: Shop, items: list[dict[str, Any]]
) -> None:
    response = await shop.order({"service": "lounge", "items": items})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_selection"
    assert shop.store.count() == 0


async def test_a_platform_refusal_becomes_an_error_and_no_record(shop: Shop) -> None:
    response = await shop.order(
        {
            "service": "taxi",
            "items": [{"sku": "taxi-economy", "quantity": 1}],
            "orderContainerId": "0190f0a1-0000-7000-8000-0000000000c1",
        }
    )

    assert response.status_code == 502
    assert response.json()["error"]["code"]
    assert shop.store.count() == 0


# -- signed launch data (demo_shop/launch.py) ----------------------------------------------------

LOUNGE_ITEMS = [{"sku": "lounge-3h", "quantity": 1}]


async def test_the_order_takes_the_buyer_and_container_from_the_signed_data_only(
    shop: Shop, api: httpx.AsyncClient
) -> None:
    main = await api.post(ORDERS, content=body(order_payload(merchant_order_id="FLIGHT-1")))
    container_id = read(main)["data"]["orderContainerId"]
    signed = {"service": "taxi", "orderContainerId": container_id, "customer": CUSTOMER}
    created = await shop.create(
        service="taxi",
        items=[{"sku": "taxi-comfort", "quantity": 1}],
        # What the frontend says beside the signed data does not count.
        customer={"name": "Мэллори", "email": "mallory@example.org"},
        orderContainerId=None,
        signedLaunchData=await shop.launch(signed),
    )
    order = await platform_order(api, shop, merchant_order_id_of(created))

    assert order["orderContainerId"] == container_id
    assert order["shopId"] == shop.points["taxi"]
    assert (order["customer"]["name"], order["customer"]["email"]) == (
        CUSTOMER["name"],
        CUSTOMER["email"],
    )


def _changed(signed: str, name: str, value: str) -> str:
    return "&".join(
        f"{k}={quote(value if k == name else v, safe='')}"
        for k, v in parse_qsl(signed, keep_blank_values=True)
    )


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda s: _changed(s, "userName", "Мэллори"), "launch_data_tampered"),
        (
            lambda s: s + "&orderContainerId=0190f0a1-0000-7000-8000-0000000000c1",
            "launch_data_tampered",
        ),
        (lambda s: _changed(s, "shopId", "999999"), "launch_data_tampered"),
        (lambda s: None, "launch_data_invalid"),
        (lambda s: "shopId=1&hash=00", "launch_data_invalid"),
    ],
)
async def test_tampered_or_missing_launch_data_is_refused(
    shop: Shop, change: Callable[[str], str | None], code: str
) -> None:
    payload: dict[str, Any] = {"service": "lounge", "items": LOUNGE_ITEMS, "customer": CUSTOMER}
    payload["signedLaunchData"] = change(await shop.launch(payload))

    response = await shop.order(payload)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert shop.store.count() == 0


async def test_an_add_on_for_another_invoice_is_refused(shop: Shop, api: httpx.AsyncClient) -> None:
    ours = await api.post(ORDERS, content=body(order_payload(merchant_order_id="FLIGHT-1")))
    other = await api.post(ORDERS, content=body(order_payload(merchant_order_id="FLIGHT-2")))
    container_id = read(ours)["data"]["orderContainerId"]
    other_id = read(other)["data"]["orderContainerId"]
    payload: dict[str, Any] = {
        "service": "taxi",
        "items": [{"sku": "taxi-comfort", "quantity": 1}],
        "orderContainerId": container_id,
    }
    signed = await shop.launch(payload)

    response = await shop.order(
        {**payload, "signedLaunchData": _changed(signed, "orderContainerId", other_id)}
    )

    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "launch_data_tampered", response.text
    assert shop.store.count() == 0


async def test_stale_launch_data_is_refused(shop: Shop) -> None:
    payload: dict[str, Any] = {"service": "lounge", "items": LOUNGE_ITEMS}
    payload["signedLaunchData"] = await shop.launch(payload, issued_at=int(time.time()) - 7200)

    response = await shop.order(payload)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "launch_data_stale"
    assert shop.store.count() == 0


async def test_another_merchants_point_of_sale_is_refused(shop: Shop, db: Database) -> None:
    async with db.transaction() as conn:
        other = await merchants_service.create_merchant(conn, name="Чужой магазин")
        point = await marketplace_service.create_point_of_sale(
            conn, merchant_id=other.id, title="Чужая кофейня"
        )
    payload: dict[str, Any] = {
        "service": "coffee",
        "items": [{"sku": "coffee-latte", "quantity": 1}],
    }
    payload["signedLaunchData"] = signed_launch_data(point["id"], point["launchSecret"])

    response = await shop.order(payload)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "launch_data_tampered"
    assert shop.store.count() == 0


async def test_a_rotated_secret_is_read_again(shop: Shop, api: httpx.AsyncClient) -> None:
    payload: dict[str, Any] = {"service": "lounge", "items": LOUNGE_ITEMS}
    await shop.create(**payload)  # the shop has read and kept the secret
    shop_id = shop.points["lounge"]
    rotated = await api.post(
        f"/v3/marketplace/api/shop/{shop_id}/launch-secret/rotate",
        content=body({"overlapSeconds": 0}),
    )
    assert rotated.status_code == 200, rotated.text
    shop.app[LAUNCH].refresh_seconds = 0  # (default: at most once a minute per point of sale)

    await shop.create(**payload)  # signed with the new secret only

    assert shop.store.count() == 2


def test_every_catalogue_line_passes_the_platforms_basket_rules() -> None:
    for service in SERVICES.values():
        for group in service.groups:
            for option in group.options:
                top = group.quantity.max if group.quantity else option.max
                for quantity in range(1, top + 1):
                    line = price_line(option, quantity, service.vat_code, "ru")
                    item = BasketItem.model_validate(
                        {
                            "sku": line.sku,
                            "name": line.name,
                            "measure": "шт.",
                            "measureCode": "796",
                            "quantity": line.quantity,
                            "amount": line.amount,
                            "amountWoVat": line.amount_wo_vat,
                            "totalAmount": line.total_amount,
                            "totalVatAmount": line.total_vat_amount,
                            "vatCode": line.vat_code,
                            "type": "service",
                            "paymentType": "full_prepayment",
                        }
                    )
                    validation.check_basket([item], round_policy="strict", validate_amounts=True)


# -- notifications ----------------------------------------------------------------------------


async def test_a_signed_payment_notification_marks_the_order_paid_once(
    shop: Shop, db: Database, settings: Settings
) -> None:
    moid = await lounge_order(shop)
    raw, signature = await paid_notification(db, settings, shop, moid)

    assert await shop.notify(raw, signature) == {"status": "success"}
    status = (await shop.http.get(f"/api/orders/{moid}")).json()["data"]
    assert status["status"] == "paid"
    assert status["amount"] == "6000.00"
    assert [line["sku"] for line in status["lines"]] == ["lounge-6h", "lounge-shower"]
    assert status["paymentUrl"] is None
    assert status["number"].startswith("LOUNGE-")

    # A retry of the same notification is a success and changes nothing.
    assert await shop.notify(raw, signature) == {"status": "success"}
    record = shop.store.get(moid)
    assert record is not None and record.paid_notification_id == jsonutil.loads(raw)["id"]

    # Another notification id for the same paid order is a possible double payment.
    other, other_signature = resign(raw, id="0190f0a1-0000-7000-8000-00000000beef")
    assert (await shop.notify(other, other_signature))["code"] == "order_already_paid"


async def test_the_platforms_dispatcher_delivers_the_payment_to_the_shop(
    shop: Shop, db: Database, settings: Settings
) -> None:
    moid = await lounge_order(shop)
    record = shop.store.get(moid)
    assert record is not None and record.container_id and record.platform_order_id
    await pay(db, settings, record.container_id)

    async with Dispatcher(settings, db) as dispatcher:
        assert await dispatcher.run_once() == 1

    (row,) = await outbox_rows(db, record.platform_order_id)
    assert row.status == "delivered"
    assert (await shop.http.get(f"/api/orders/{moid}")).json()["data"]["status"] == "paid"


async def test_bad_notifications_are_refused_without_touching_the_order(
    shop: Shop, db: Database, settings: Settings
) -> None:
    moid = await lounge_order(shop)
    raw, signature = await paid_notification(db, settings, shop, moid)
    wrong_amount = resign(raw, amount=Decimal("1.00"))
    unknown_order = resign(raw, merchantOrderId="ds-lounge-unknown")
    other_merchant = resign(raw, merchantId="00000000-0000-0000-0000-000000000001")

    cases = [
        ((raw, None), "out_of_service"),
        ((raw, "0" * 40), "signature_error"),
        ((raw + b" ", signature), "signature_error"),
        (wrong_amount, "order_wrong_amount"),
        (unknown_order, "order_not_found"),
        (other_merchant, "order_not_found"),
    ]
    for (payload, sig), code in cases:
        reply = await shop.notify(payload, sig)
        assert reply["status"] == "error", code
        assert reply["code"] == code

    record = shop.store.get(moid)
    assert record is not None and record.status == "created"


async def test_the_monitoring_test_notification_succeeds_without_side_effects(
    shop: Shop, db: Database, settings: Settings
) -> None:
    moid = await lounge_order(shop)
    before = shop.store.get(moid)
    async with db.transaction() as conn:
        await outbox.enqueue_test(
            conn,
            merchant_id=DEMO_MERCHANT_ID,
            payment_url=settings.payment_url(outbox.TEST_NOTIFICATION_ORDER_ID),
        )
    (row,) = await outbox_rows(db, outbox.TEST_NOTIFICATION_ORDER_ID)

    assert await shop.notify(bytes(row.body), row.signature) == {"status": "success"}
    assert shop.store.get(moid) == before
    assert shop.store.count() == 1


async def test_a_canceled_order_notification_closes_the_shop_order(shop: Shop) -> None:
    moid = await lounge_order(shop)
    record = shop.store.get(moid)
    assert record is not None
    raw = jsonutil.dumps_php(
        {
            "id": record.platform_order_id,
            "status": "canceled",
            "merchantId": DEMO_MERCHANT_ID,
            "merchantOrderId": moid,
            "amount": record.amount,
            "currencyId": "RUB",
        }
    )

    assert await shop.notify(raw, signing.sign(raw, DEMO_SIGNING_KEY)) == {"status": "success"}
    assert (await shop.http.get(f"/api/orders/{moid}")).json()["data"]["status"] == "canceled"


# -- pages, headers, seeding ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/taxi/", "/coffee/", "/success?order=x", "/fail?order=x"])
async def test_pages_may_be_framed_by_the_platform_only(
    shop: Shop, platform_url: str, path: str
) -> None:
    response = await shop.http.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert f"frame-ancestors 'self' {platform_url}" in csp
    assert "x-frame-options" not in response.headers


async def test_the_first_html_already_shows_the_skeleton(shop: Shop, platform_url: str) -> None:
    page = (await shop.http.get("/taxi/")).text

    assert 'class="skeleton skeleton--cell"' in page
    assert 'aria-busy="true"' in page
    assert 'data-service="taxi"' in page
    assert '<script type="module" src="/static/shop.js">' in page
    assert json.dumps([platform_url]).replace('"', "&quot;") in page
    assert "<script>" not in page  # no inline script: the CSP stays strict


async def test_success_and_fail_screens_speak_the_orders_language(shop: Shop) -> None:
    created = await shop.create(
        service="coffee", items=[{"sku": "coffee-latte", "quantity": 2}], locale="en"
    )
    moid = merchant_order_id_of(created)

    success = (await shop.http.get("/success", params={"order": moid})).text
    fail = (await shop.http.get("/fail", params={"order": moid})).text

    assert 'lang="en"' in success and "Waiting for the payment confirmation" in success
    assert 'lang="en"' in fail and "Payment failed" in fail and 'href="/coffee/"' in fail
    status = (await shop.http.get(f"/api/orders/{moid}")).json()["data"]
    assert status["paymentUrl"] == created["url"]


async def test_static_files_and_the_platforms_minapp_client_are_served(shop: Shop) -> None:
    client = await shop.http.get("/static/minapp-client.js")
    module = await shop.http.get("/static/shop.js")
    css = await shop.http.get("/static/shop.css")

    assert client.status_code == 200
    assert client.content == MINAPP_CLIENT.read_bytes()
    assert "javascript" in client.headers["content-type"]
    assert module.status_code == 200 and "onUnavailable" in module.text
    assert css.status_code == 200
    assert "frame-ancestors" in client.headers["content-security-policy"]


async def test_the_catalogue_keeps_money_exact(shop: Shop) -> None:
    response = await shop.http.get("/api/catalog/taxi")
    data = response.json()["data"]

    assert data["airports"] == ["SVO", "VKO", "DME", "LED"]
    assert data["groups"][0]["options"][0]["price"] == "1500.00"
    assert (await shop.http.get("/api/catalog/nothing")).status_code == 404
    assert (await shop.http.get("/api/orders/nothing")).status_code == 404


async def test_demo_points_of_sale_are_accepted_by_the_marketplace(db: Database) -> None:
    public_url = "http://127.0.0.1:8100"
    flight_svo = [{"reservationFor": {"departureAirport": {"iataCode": "SVO"}}}]
    flight_led = [{"reservationFor": {"departureAirport": {"iataCode": "LED"}}}]

    async with db.transaction() as conn:
        created = [
            await marketplace_service.create_point_of_sale(
                conn, merchant_id=DEMO_MERCHANT_ID, **point
            )
            for point in demo_points_of_sale(public_url + "/")
        ]

    by_title = {p["title"]: p["miniApp"] for p in created}
    assert by_title["Бизнес-зал Sky Lounge"]["url"] == public_url + "/"
    lounge = by_title["Бизнес-зал Sky Lounge"]
    assert lounge["modes"] == ["order", "suborder"]  # also an add-on to a flight from SVO
    assert miniapp.rule_matches(lounge["addonRule"], flight_svo)
    assert not miniapp.rule_matches(lounge["addonRule"], flight_led)
    assert by_title["Бизнес-зал Sky Lounge"]["origins"] == [public_url]
    taxi = by_title["Такси в аэропорт"]
    coffee = by_title["Кофейня «Взлёт»"]
    assert taxi["modes"] == ["suborder"] and coffee["modes"] == ["order", "suborder"]
    assert miniapp.rule_matches(taxi["addonRule"], flight_led)
    assert miniapp.rule_matches(coffee["addonRule"], flight_svo)
    assert not miniapp.rule_matches(coffee["addonRule"], flight_led)


# -- after the payment: shipment of a lounge pass, the refund button --------------------------


async def paid_in_shop(db: Database, settings: Settings, shop: Shop, moid: str) -> None:
    raw, signature = await paid_notification(db, settings, shop, moid)
    assert await shop.notify(raw, signature) == {"status": "success"}


async def test_a_paid_lounge_pass_is_shipped_once(
    shop: Shop, api: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    moid = await lounge_order(shop)
    raw, signature = await paid_notification(db, settings, shop, moid)

    assert await shop.notify(raw, signature) == {"status": "success"}
    assert await shop.notify(raw, signature) == {"status": "success"}  # a redelivery
    status = (await shop.http.get(f"/api/orders/{moid}")).json()["data"]
    record = shop.store.get(moid)
    assert record is not None
    listed = await api.get(
        "/v3/filter/api/order/shipment", params={"orderId": record.platform_order_id}
    )

    (shipment,) = read(listed)["data"]
    assert status["shipment"] == {"status": "completed", "documentNumber": record.number}
    assert shipment["documentNumber"] == record.number
    assert shipment["final"] is True
    assert (shipment["amount"], shipment["vatAmount"]) == (Decimal("6000.00"), Decimal("1000.00"))
    assert [i["sku"] for i in shipment["basketItems"]] == ["lounge-6h", "lounge-shower"]


async def test_coffee_is_not_shipped_on_payment(
    shop: Shop, api: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    created = await shop.create(service="coffee", items=[{"sku": "coffee-latte", "quantity": 2}])
    moid = merchant_order_id_of(created)

    await paid_in_shop(db, settings, shop, moid)

    assert (await shop.http.get(f"/api/orders/{moid}")).json()["data"]["shipment"] is None
    listed = await api.get("/v3/filter/api/order/shipment")
    assert read(listed)["data"] == []


async def test_the_refund_button_refunds_the_paid_order_in_full(
    shop: Shop, api: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    moid = await lounge_order(shop)
    await paid_in_shop(db, settings, shop, moid)
    before = (await shop.http.get(f"/api/orders/{moid}")).json()["data"]

    response = await shop.http.post(f"/api/orders/{moid}/refund")
    again = await shop.http.post(f"/api/orders/{moid}/refund")

    assert before["refundable"] is True and before["refund"] is None
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["refund"] == {"status": "created", "amount": "6000.00"}
    assert data["refundable"] is False
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_refundable"
    record = shop.store.get(moid)
    assert record is not None
    refunds = read(
        await api.get(
            "/v3/filter/api/order/refund-order", params={"parentId": record.platform_order_id}
        )
    )["data"]
    (refund,) = refunds
    assert refund["merchantOrderId"] == f"{moid}-refund"
    assert (refund["amount"], refund["vatAmount"]) == (Decimal("6000.00"), Decimal("1000.00"))
    assert [(i["sku"], i["totalAmount"]) for i in refund["basketItems"]] == [
        ("lounge-6h", Decimal("5400.00")),
        ("lounge-shower", Decimal("600.00")),
    ]

    # The platform pays the refund out and tells the shop; the order page shows it.
    async with db.transaction() as conn:
        assert await refunds_service.pay_out_formed(conn) == 1
    rows = await outbox_rows(db, refund["id"])
    assert [r.event for r in rows] == ["refund", "refund"]  # formed, then paid out
    for row in sorted(rows, key=lambda r: r.created_at):
        assert await shop.notify(bytes(row.body), row.signature) == {"status": "success"}
    status = (await shop.http.get(f"/api/orders/{moid}")).json()["data"]
    assert status["refund"] == {"status": "completed", "amount": "6000.00"}
    assert status["status"] == "paid"


async def test_only_a_paid_order_has_a_refund_button(shop: Shop) -> None:
    created = await shop.create(service="coffee", items=[{"sku": "coffee-latte", "quantity": 1}])
    moid = merchant_order_id_of(created)

    unpaid = await shop.http.post(f"/api/orders/{moid}/refund")
    unknown = await shop.http.post("/api/orders/ds-coffee-nothing/refund")

    assert unpaid.status_code == 409
    assert unpaid.json()["error"]["code"] == "not_refundable"
    assert unknown.status_code == 404
    status = (await shop.http.get(f"/api/orders/{moid}")).json()["data"]
    assert status["refundable"] is False and status["refund"] is None


async def test_a_refund_made_elsewhere_is_acknowledged_and_shown(
    shop: Shop, api: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    moid = await lounge_order(shop)
    await paid_in_shop(db, settings, shop, moid)
    record = shop.store.get(moid)
    assert record is not None and record.platform_order_id
    items = read(await api.get(f"{ORDERS}/{record.platform_order_id}/refund-basket-item"))["data"]
    shower = next(i for i in items if i["sku"] == "lounge-shower")
    shower = {k: v for k, v in shower.items() if not k.startswith("available")}
    made = await api.post(
        "/v3/billing/api/order/refund-order",
        content=body(
            {
                "parentId": record.platform_order_id,
                "merchantOrderId": "mcp-20261207-0badcafe",
                "description": "Возврат душа",
                "amount": shower["totalAmount"],
                "vatAmount": shower["totalVatAmount"],
                "basketItems": [shower],
            }
        ),
    )
    assert made.status_code == 200, made.text

    (row,) = await outbox_rows(db, read(made)["data"]["id"])
    assert await shop.notify(bytes(row.body), row.signature) == {"status": "success"}

    status = (await shop.http.get(f"/api/orders/{moid}")).json()["data"]
    assert status["refund"] == {"status": "created", "amount": "600.00"}
    assert status["refundable"] is False
