"""The whole flow in headless Chromium (spec README "The 9 steps", both modes): the platform under
uvicorn with its notification dispatcher, the reference shop (examples/demo_shop) under aiohttp
on its own origin, SQLite.

* order mode: marketplace search → point of sale → buyer details → lounge mini-app → payment
  page → card → signed notification to the shop → the shop's success screen;
* suborder mode: a flight invoice → «Добавить услугу» (taxi) in the sheet → the total updates
  without a reload → one payment → both orders completed, one notification per order;
* the official npm SDK mini-app in our real point-of-sale page, with a tiny backend of its own;
* a hostile mini-app in the real point-of-sale page.

Set MARKETBOX_SCREENSHOT_DIR to keep screenshots (the strip and the open sheet at 390 and
1280 px)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import httpx
import pytest
from aiohttp import web
from demo_shop import create_shop_app, demo_points_of_sale
from playwright.sync_api import Browser, BrowserContext, Page, Route
from sqlalchemy import select

from marketbox.cli.demo import FLIGHT_META_DATA
from marketbox.marketplace import service as marketplace_service
from marketbox.merchants.service import DEMO_MERCHANT_ID, DEMO_SIGNING_KEY, DEMO_TOKEN
from marketbox.payments import service as payments_service
from marketbox.storage.db import Database
from marketbox.storage.tables import notifications
from marketbox_sdk import (
    AsyncClient,
    BasketItem,
    Customer,
    InvalidLaunchData,
    LaunchData,
    LaunchDataError,
    NotFound,
    TamperedLaunchData,
    verify_launch_data,
)
from tests.browser.bridge_support import (
    BROWSER_MARKS,
    NpmUnavailableError,
    Sites,
    build_npm_miniapp,
    start_sites,
    typecheck_npm_miniapp,
)
from tests.conftest import DEMO_AUTH, body, read
from tests.support.builders import basket_item, order_payload
from tests.support.databases import SQLiteTemplate
from tests.support.launch import signed_launch_data
from tests.support.live_server import live_server

pytestmark = BROWSER_MARKS

ORDERS = "/v3/billing/api/order/order"
TIMEOUT_MS = 15_000
WAIT_SECONDS = 20.0
NBSP = "\u00a0"
SCREENSHOT_DIR = os.environ.get("MARKETBOX_SCREENSHOT_DIR")
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
BUYER = {"name": "Анна Смирнова", "email": "anna@example.org", "phone": "+7 900 555 66 77"}

T = TypeVar("T")


# --- servers ----------------------------------------------------------------------------------


class LoopThread:
    """An asyncio loop in a daemon thread, for the aiohttp servers next to sync Playwright."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = WAIT_SECONDS) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class AioSite:
    """An aiohttp application served from the loop thread on its own 127.0.0.1 port."""

    url: str
    runner: web.AppRunner


def serve(loop: LoopThread, build: Callable[[str], web.Application]) -> AioSite:
    sock = free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def start() -> web.AppRunner:
        runner = web.AppRunner(build(url), access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        return runner

    return AioSite(url, loop.run(start()))


@dataclass
class Receiver:
    """A shop endpoint that answers every notification with success and keeps the bodies."""

    bodies: list[dict[str, Any]] = field(default_factory=list)

    def app(self, _url: str) -> web.Application:
        async def notify(request: web.Request) -> web.Response:
            self.bodies.append(json.loads(await request.read()))
            return web.json_response({"status": "success"})

        app = web.Application()
        app.router.add_post("/notify", notify)
        return app


async def verified_launch(client: AsyncClient, signed: object) -> LaunchData:
    """The mini-app backend's check: the point of sale named in the signed launch data must be
    one of ours, and the data must verify with its launch secret (read with our token)."""
    if not isinstance(signed, str) or not signed:
        raise InvalidLaunchData("No signed launch data was sent")
    try:
        shop_id = int(dict(parse_qsl(signed)).get("shopId", ""))
        shop = await client.get_shop(shop_id)
    except (ValueError, NotFound):
        raise TamperedLaunchData("Not launched by one of our points of sale") from None
    if not shop.launch_secret:
        raise InvalidLaunchData("The point of sale has no launch secret")
    return verify_launch_data(signed, shop.launch_secret)


def npm_backend_app(
    platform: str, dist: Path, created: list[str] | None = None
) -> Callable[[str], web.Application]:
    """Serves the npm-SDK mini-app under /npm/ and creates its orders with the SDK
    (`POST /npm/api/order`, the init data in the body; answers `{"url": paymentUrl}`). It
    trusts only the signed launch data (`verified_launch`): the buyer, `shopId` and
    `orderContainerId` of the order come from it, and anything that does not verify is refused
    with 403 and `{"error": {"code", "message"}}`. `created` collects the ids of its orders."""

    def build(url: str) -> web.Application:
        async def create(request: web.Request) -> web.Response:
            data = await request.json()
            price = Decimal("990.00")
            async with AsyncClient(DEMO_TOKEN, base_url=platform) as client:
                try:
                    launch = await verified_launch(client, data.get("signedLaunchData"))
                except LaunchDataError as exc:
                    error = {"code": exc.code, "message": exc.message}
                    return web.json_response({"error": error}, status=403)
                order = await client.create_order(
                    merchant_id=DEMO_MERCHANT_ID,
                    merchant_order_id=f"npm-{uuid.uuid4().hex}",
                    description="Заказ из мини-приложения на npm SDK",
                    amount=price,
                    vat_amount=Decimal(0),
                    currency_id="RUB",
                    expiration_date=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
                    basket_items=[
                        BasketItem(
                            sku="npm-1",
                            name="Подписка на месяц",
                            measure="шт.",
                            measure_code="796",
                            quantity=Decimal(1),
                            amount=price,
                            amount_wo_vat=price,
                            total_amount=price,
                            total_vat_amount=Decimal(0),
                            vat_code="VATNONE",
                            type="service",
                            payment_type="full_prepayment",
                        )
                    ],
                    customer=Customer(
                        type="private",
                        name=launch.user_name or None,
                        email=launch.user_email or None,
                        phone=launch.user_phone or None,
                    ),
                    order_container_id=launch.order_container_id,
                    shop_id=launch.shop_id,
                )
            if created is not None:
                created.append(order.id)
            return web.json_response({"url": order.payment_url})

        app = web.Application()
        app.router.add_post("/npm/api/order", create)
        app.router.add_static("/npm/", dist)
        return app

    return build


@dataclass
class World:
    platform: str
    database_url: str
    shop: str
    loop: LoopThread
    points: dict[str, dict[str, Any]]

    def db_run(self, work: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
        """Run `work(conn)` in one transaction of a fresh engine on the loop thread."""

        async def run() -> T:
            db = Database(self.database_url)
            try:
                async with db.transaction() as conn:
                    return await work(conn)
            finally:
                await db.dispose()

        return self.loop.run(run())

    def add_point_of_sale(self, **fields: Any) -> dict[str, Any]:
        async def create(conn: Any) -> dict[str, Any]:
            return await marketplace_service.create_point_of_sale(
                conn, merchant_id=DEMO_MERCHANT_ID, **fields
            )

        return self.db_run(create)


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(scope="module")
def world(sqlite_template: SQLiteTemplate, loop: LoopThread) -> Iterator[World]:
    database_url = sqlite_template.new_database()
    with live_server(database_url, run_worker=True) as platform:
        shop = serve(
            loop,
            lambda url: create_shop_app(
                platform_url=platform,
                token=DEMO_TOKEN,
                merchant_id=DEMO_MERCHANT_ID,
                signing_key=DEMO_SIGNING_KEY,
                public_url=url,
                platform_origins=[platform],
            ),
        )
        world = World(platform, database_url, shop.url, loop, {})
        try:
            for point in demo_points_of_sale(shop.url):
                world.points[point["title"]] = world.add_point_of_sale(**point)
            yield world
        finally:
            loop.run(shop.runner.cleanup())


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    ctx.set_default_timeout(TIMEOUT_MS)
    ctx.set_default_navigation_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


# --- helpers ----------------------------------------------------------------------------------


def page_errors(page: Page) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    return problems


def wait_until(check: Callable[[], T | None], what: str, timeout: float = WAIT_SECONDS) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def api_get(world: World, path: str) -> dict[str, Any]:
    response = httpx.get(f"{world.platform}{path}", headers=DEMO_AUTH, timeout=10)
    assert response.status_code == 200, response.text
    return read(response)["data"]


def shop_order(world: World, merchant_order_id: str) -> dict[str, Any]:
    response = httpx.get(f"{world.shop}/api/orders/{merchant_order_id}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def notification_rows(world: World, order_ids: list[str]) -> list[Any]:
    async def rows(conn: Any) -> list[Any]:
        query = select(notifications).where(notifications.c.order_id.in_(order_ids))
        return list((await conn.execute(query)).all())

    return world.db_run(rows)


def pay_with_card(page: Page) -> None:
    page.locator("#card_number").press_sequentially("4242424242424242")
    page.locator("#card_expiry").press_sequentially("1239")
    page.fill("#card_cvc", "123")
    page.locator("[data-pay-button]").click()


def screenshot(page: Page, name: str) -> None:
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOT_DIR) / name))


# --- order mode: the 9 steps --------------------------------------------------------------------


def test_order_mode_the_nine_steps(world: World, context: BrowserContext) -> None:
    page = context.new_page()
    problems = page_errors(page)

    # 1. The buyer finds the lounge by a Russian word form and opens it.
    page.goto(f"{world.platform}/")
    page.fill("input[name=q]", "бизнес-залы")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"\?q="))
    cards = page.locator("[data-pos-card]")
    assert cards.count() == 1
    cards.first.click()
    lounge = world.points["Бизнес-зал Sky Lounge"]
    page.wait_for_url(f"{world.platform}/marketplace/shop/{lounge['id']}")

    # Contact details, kept by the marketplace and handed to the mini-app: saved in the buyer
    # card's sheet, they reach the open mini-app as updateData (docs/miniapps.md).
    page.wait_for_selector("[data-pos-miniapp][data-ready]")
    page.locator("[data-buyer] a.btn").click()
    sheet = page.locator("[data-buyer-sheet]")
    for name, value in BUYER.items():
        sheet.locator(f"input[name={name}]").fill(value)
    sheet.locator("[data-buyer-save]").click()
    sheet.wait_for(state="hidden")
    assert page.url == f"{world.platform}/marketplace/shop/{lounge['id']}"
    assert "Анна Смирнова" in page.inner_text("[data-buyer-summary]")

    # 2–3. Handshake, then the buyer chooses in the mini-app (inside the frame).
    page.wait_for_selector("[data-pos-miniapp][data-ready]")
    app = page.frame_locator("[data-pos-miniapp] iframe")
    app.get_by_text("Премиум, 6 часов").click()
    submit = app.get_by_role("button", name=re.compile("Оформить заказ"))
    assert f"2{NBSP}700{NBSP}₽" in submit.inner_text()

    # 4–5. The shop's backend creates the order; done(paymentUrl) → top-level payment page.
    submit.click()
    page.wait_for_url(re.compile(rf"^{re.escape(world.platform)}/order/{UUID}$"))
    container_id = page.url.rsplit("/", 1)[1]

    # The order carries the buyer the mini-app received in init (and the page prefills it).
    summary = httpx.get(f"{world.platform}/order/{container_id}/summary.json", timeout=10).json()
    (order_ref,) = summary["orders"]
    order = api_get(world, f"{ORDERS}/{order_ref['id']}")
    assert order["customer"]["name"] == BUYER["name"]
    assert order["customer"]["email"] == BUYER["email"]
    assert re.sub(r"\D", "", order["customer"]["phone"]) == "79005556677"
    assert order["shopId"] == lounge["id"]
    assert page.input_value("#payer-name") == BUYER["name"]
    assert page.input_value("#payer-email") == BUYER["email"]
    assert "Премиум, 6 часов" in page.inner_text("[data-order-list]")
    assert page.locator("[data-addon-card]").count() == 0  # no flight, no add-ons

    # 6. The buyer pays the invoice.
    pay_with_card(page)

    # 8. Back to the mini-app: its successUrl opens inside the marketplace shell, hosted again.
    merchant_order_id = order["merchantOrderId"]
    page.wait_for_url(
        re.compile(rf"^{re.escape(world.platform)}/marketplace/shop/{lounge['id']}\?path=")
    )
    page.wait_for_selector("[data-pos-miniapp][data-ready]")
    frame_url = page.locator("[data-pos-miniapp] iframe").get_attribute("src") or ""
    assert frame_url.startswith(f"{world.shop}/success?order={merchant_order_id}")

    # 7. The shop received the signed notification and marked its order paid.
    paid = wait_until(
        lambda: (o := shop_order(world, merchant_order_id))["status"] == "paid" and o,
        "the shop to record the notification",
    )
    assert Decimal(str(paid["amount"])) == Decimal("2700.00")
    assert api_get(world, f"{ORDERS}/{order['id']}")["status"] == "completed"

    # 9. The mini-app's success screen shows the paid order (after its own polling).
    app = page.frame_locator("[data-pos-miniapp] iframe")
    app.get_by_text("Заказ оплачен").wait_for(timeout=WAIT_SECONDS * 1000)
    assert "Премиум, 6 часов" in app.locator("body").inner_text()
    assert problems == []


LAUNCH_REFUSED = "Магазин не смог проверить данные площадки"


def test_the_demo_shop_refuses_changed_or_missing_launch_data(
    world: World, context: BrowserContext
) -> None:
    lounge = world.points["Бизнес-зал Sky Lounge"]
    page = context.new_page()
    problems = page_errors(page)
    sent: list[str] = []

    def rename_buyer(route: Route) -> None:
        # The order request leaves the mini-app with the buyer's name changed in the signed data.
        data = json.loads(route.request.post_data or "{}")
        data["signedLaunchData"] = re.sub(
            r"userName=[^&]*", "userName=%D0%9C%D1%8D%D0%BB", data["signedLaunchData"]
        )
        sent.append(data["signedLaunchData"])
        route.continue_(post_data=json.dumps(data))

    page.route(f"{world.shop}/api/orders", rename_buyer)
    page.goto(f"{world.platform}/marketplace/shop/{lounge['id']}")
    page.wait_for_selector("[data-pos-miniapp][data-ready]")
    app = page.frame_locator("[data-pos-miniapp] iframe")
    app.get_by_text("Премиум, 6 часов").click()
    app.get_by_role("button", name=re.compile("Оформить заказ")).click()

    # The host shows the shop's reason; no payment page, the buyer may try again.
    page.locator(".toast--error", has_text=LAUNCH_REFUSED).wait_for()
    screenshot(page, "launch-refused-host.png")
    assert len(sent) == 1 and "userName=%D0%9C%D1%8D%D0%BB" in sent[0]
    assert page.url == f"{world.platform}/marketplace/shop/{lounge['id']}"
    app.locator("button[type=submit]:enabled").wait_for()

    # Outside a host there is no signed launch data at all: the shop says so in its own banner.
    alone = context.new_page()
    alone.goto(f"{world.shop}/")
    alone.get_by_text("Премиум, 6 часов").click()
    alone.get_by_role("button", name=re.compile("Оформить заказ")).click()
    alone.locator("[role=alert]", has_text=LAUNCH_REFUSED).wait_for()
    screenshot(alone, "launch-refused-standalone.png")
    assert alone.url == f"{world.shop}/"
    assert problems == []


# --- suborder mode: an add-on on the payment page -----------------------------------------------


@pytest.mark.parametrize("width", [390, 1280])
def test_suborder_mode_add_on_joins_and_one_payment_pays_both(
    world: World, browser: Browser, width: int
) -> None:
    receiver = Receiver()
    airline = serve(world.loop, receiver.app)
    try:
        payload = order_payload(
            merchant_order_id=f"FLIGHT-{uuid.uuid4().hex[:8]}",
            items=[
                basket_item(sku="SU1234-Y", name="Авиабилет SVO — LED", amount=Decimal("12480"))
            ],
            metaData=FLIGHT_META_DATA,
            notificationUrl=f"{airline.url}/notify",
        )
        created = httpx.post(
            f"{world.platform}{ORDERS}", content=body(payload), headers=DEMO_AUTH, timeout=10
        )
        assert created.status_code == 200, created.text
        flight = read(created)["data"]

        context = browser.new_context(viewport={"width": width, "height": 900}, locale="ru-RU")
        context.set_default_timeout(TIMEOUT_MS)
        try:
            run_suborder_flow(world, context, flight, receiver, width)
        finally:
            context.close()
    finally:
        world.loop.run(airline.runner.cleanup())


def run_suborder_flow(
    world: World, context: BrowserContext, flight: dict[str, Any], receiver: Receiver, width: int
) -> None:
    page = context.new_page()
    problems = page_errors(page)
    navigations: list[str] = []
    page.on("framenavigated", lambda f: navigations.append(f.url) if f == page.main_frame else None)
    page.goto(flight["paymentUrl"])
    taxi = world.points["Такси в аэропорт"]

    # 1. The strip offers the taxi (SVO), the coffee shop and the lounge (an add-on for SVO).
    strip = page.locator("[data-addons]")
    strip.wait_for(state="visible")
    card = page.locator(f'[data-addon-card="{taxi["id"]}"]')
    assert "Такси в аэропорт" in card.inner_text()
    assert page.locator("[data-addon-card]").count() == 3
    lounge = world.points["Бизнес-зал Sky Lounge"]
    assert "Бизнес-зал Sky Lounge" in page.inner_text(f'[data-addon-card="{lounge["id"]}"]')
    total = f"12{NBSP}480,00{NBSP}₽"
    assert page.inner_text("#summary-title") == total
    page.evaluate("window.__sameDocument = true")
    strip.scroll_into_view_if_needed()
    screenshot(page, f"addons-strip-{width}.png")

    # 2. «Добавить услугу» opens the taxi in the sheet (suborder mode, the flight from init).
    card.get_by_role("button", name="Добавить услугу").click()
    sheet = page.locator("[data-addon-sheet]")
    sheet.wait_for(state="visible")
    assert page.inner_text("[data-addon-sheet-title]") == "Такси в аэропорт"
    page.wait_for_selector("[data-addon-sheet] [data-miniapp-host][data-ready]")
    app = page.frame_locator("[data-addon-sheet] iframe")
    app.get_by_text("SU1234").first.wait_for()
    button = app.get_by_role("button", name=re.compile("Добавить к заказу"))
    button.wait_for()
    # The frame follows the mini-app's height messages.
    page.wait_for_function(
        "() => parseInt(document.querySelector('[data-addon-sheet] iframe').style.height) > 300"
    )
    page.wait_for_timeout(400)  # the sheet's entry animation
    screenshot(page, f"addons-sheet-{width}.png")

    # 3–5. The buyer orders; the suborder joins the container; the sheet closes.
    button.click()
    sheet.wait_for(state="hidden")
    page.get_by_text("Услуга добавлена").wait_for()
    new_total = f"14{NBSP}580,00{NBSP}₽"
    page.wait_for_function(
        "(total) => document.querySelector('#summary-title').textContent === total", arg=new_total
    )
    assert page.evaluate("window.__sameDocument") is True  # no reload
    assert navigations == [flight["paymentUrl"]]
    assert page.inner_text("[data-pay-button] [data-total]") == new_total
    assert Decimal(page.input_value("[data-expected-amount]")) == Decimal("14580.00")
    orders_text = page.inner_text("[data-order-list]")
    assert "Авиабилет SVO — LED" in orders_text
    assert "Такси «Комфорт»" in orders_text or "Комфорт" in orders_text
    assert "Доп. услуга" in orders_text
    assert card.get_attribute("data-added") == ""
    assert card.get_by_text("Добавлено", exact=True).is_visible()
    assert card.get_by_role("button", name="Добавить ещё").is_visible()
    screenshot(page, f"addons-added-{width}.png")

    summary = httpx.get(
        f"{world.platform}/order/{flight['orderContainerId']}/summary.json", timeout=10
    ).json()
    order_ids = [o["id"] for o in summary["orders"]]
    assert order_ids[0] == flight["id"] and len(order_ids) == 2
    taxi_order = api_get(world, f"{ORDERS}/{order_ids[1]}")
    assert taxi_order["orderContainerId"] == flight["orderContainerId"]
    assert taxi_order["shopId"] == taxi["id"]

    # 6. One payment for everything.
    pay_with_card(page)
    page.wait_for_url(f"{flight['paymentUrl']}/success")
    assert "14" in page.inner_text("main")
    assert api_get(world, f"{ORDERS}/{flight['id']}")["status"] == "completed"
    assert api_get(world, f"{ORDERS}/{taxi_order['id']}")["status"] == "completed"

    # 7. One notification per order, each to its own shop, both delivered.
    rows = wait_until(
        lambda: (
            (r := notification_rows(world, order_ids))
            and len(r) == 2
            and all(row.status == "delivered" for row in r)
            and r
        ),
        "both notifications to be delivered",
    )
    urls = {row.order_id: row.url for row in rows}
    assert urls[taxi_order["id"]] == f"{world.shop}/api/invoicebox/notify"
    assert urls[flight["id"]].endswith("/notify") and not urls[flight["id"]].startswith(world.shop)
    assert [b["merchantOrderId"] for b in receiver.bodies] == [flight["merchantOrderId"]]
    assert shop_order(world, taxi_order["merchantOrderId"])["status"] == "paid"
    assert problems == []


# --- the official npm SDK in our real host ------------------------------------------------------

# What a man in the middle (or a curious buyer) might do to the request of the mini-app: change
# the buyer's name, or slip a container id in, inside the signed launch data.
TAMPER_NAME = (
    "(p) => ({...p, signedLaunchData: p.signedLaunchData.replace(/userName=[^&]*/,"
    " 'userName=' + encodeURIComponent('Мэллори'))})"
)
TAMPER_CONTAINER = (
    "(p) => ({...p, signedLaunchData: p.signedLaunchData +"
    " '&orderContainerId=0190f0a1-0000-7000-8000-0000000000c1'})"
)


@pytest.mark.slow
def test_npm_sdk_mini_app_orders_through_the_marketplace(
    world: World, context: BrowserContext
) -> None:
    try:
        dist = build_npm_miniapp()
    except NpmUnavailableError as exc:
        if os.environ.get("MARKETBOX_REQUIRE_BROWSER") == "1":
            raise  # in CI the official-SDK check must run, never skip
        pytest.skip(str(exc))
    typecheck_npm_miniapp(dist)  # the SDK's own types accept public.signedLaunchData
    created: list[str] = []
    backend = serve(world.loop, npm_backend_app(world.platform, dist, created))
    try:
        point = world.add_point_of_sale(
            title="Подписки на npm SDK",
            description="Мини-приложение на официальном SDK",
            mini_app={
                "url": f"{backend.url}/npm/index.html",
                "origins": [backend.url],
                "modes": ["order"],
            },
        )
        page = context.new_page()
        problems = page_errors(page)
        page.goto(f"{world.platform}/marketplace/shop/{point['id']}")

        # Handshake: the SDK got our init data.
        page.wait_for_selector("[data-pos-miniapp][data-ready]")
        app = page.frame_locator("[data-pos-miniapp] iframe")
        app.get_by_text(f"Магазин {point['id']}").wait_for()
        frame = next(f for f in page.frames if f.url.startswith(backend.url))
        initial = frame.evaluate("() => window.__initial")
        assert initial["minappType"] == "order"
        assert initial["fullHeight"] is True
        assert "orderContainerId" not in initial
        assert initial["signedLaunchData"].startswith("authDate=")

        # Its backend refuses launch data that was changed on the way, or none at all; the
        # host shows the backend's reason and nothing is ordered.
        for name, tamper, reason in (
            ("buyer name", TAMPER_NAME, "signature does not match"),
            ("container id", TAMPER_CONTAINER, "signature does not match"),
            ("missing", "(p) => ({...p, signedLaunchData: undefined})", "No signed launch data"),
        ):
            frame.evaluate(f"() => {{ window.__tamper = {tamper}; }}")
            app.get_by_role("button", name="Оформить заказ").click()
            toast = page.locator(".toast--error", has_text=reason)
            toast.wait_for()
            assert created == [], name
            toast.evaluate("node => node.remove()")
            app.locator("[data-order]:enabled").wait_for()
        frame.evaluate("() => { window.__tamper = null; }")

        # Order created by its backend → onDone(paymentUrl) → the payment page, top level.
        app.get_by_role("button", name="Оформить заказ").click()
        page.wait_for_url(re.compile(rf"^{re.escape(world.platform)}/order/{UUID}$"))
        assert "Подписка на месяц" in page.inner_text("[data-order-list]")
        container_id = page.url.rsplit("/", 1)[1]
        summary = httpx.get(f"{world.platform}/order/{container_id}/summary.json").json()
        order = api_get(world, f"{ORDERS}/{summary['orders'][0]['id']}")
        assert order["shopId"] == point["id"]
        assert created == [order["id"]]
        assert problems == []
    finally:
        world.loop.run(backend.runner.cleanup())


TAMPER_OTHER_CONTAINER = (
    "(p) => ({...p, signedLaunchData: p.signedLaunchData.replace(/orderContainerId=[^&]*/,"
    " 'orderContainerId=0190f0a1-0000-7000-8000-0000000000c1')})"
)


@pytest.mark.slow
def test_npm_sdk_add_on_with_a_changed_container_is_refused_then_joins(
    world: World, context: BrowserContext
) -> None:
    try:
        dist = build_npm_miniapp()
    except NpmUnavailableError as exc:
        if os.environ.get("MARKETBOX_REQUIRE_BROWSER") == "1":
            raise
        pytest.skip(str(exc))
    created: list[str] = []
    backend = serve(world.loop, npm_backend_app(world.platform, dist, created))
    try:
        # Offered only for invoices whose metadata says npmAddon (no other test's flight does).
        point = world.add_point_of_sale(
            title="Доп. услуга на npm SDK",
            mini_app={
                "url": f"{backend.url}/npm/index.html",
                "origins": [backend.url],
                "modes": ["suborder"],
                "addonRule": {"key": "npmAddon"},
            },
        )
        payload = order_payload(
            merchant_order_id=f"FLIGHT-{uuid.uuid4().hex[:8]}",
            metaData={"npmAddon": True},
            customer={"type": "private", "name": "Иван Петров", "email": "ivan@example.org"},
        )
        answer = httpx.post(
            f"{world.platform}{ORDERS}", content=body(payload), headers=DEMO_AUTH, timeout=10
        )
        assert answer.status_code == 200, answer.text
        flight = read(answer)["data"]
        page = context.new_page()
        problems = page_errors(page)
        page.goto(flight["paymentUrl"])
        card = page.locator(f'[data-addon-card="{point["id"]}"]')
        card.get_by_role("button", name="Добавить услугу").click()
        page.wait_for_selector("[data-addon-sheet] [data-miniapp-host][data-ready]")
        app = page.frame_locator("[data-addon-sheet] iframe")
        app.get_by_text(f"Магазин {point['id']}").wait_for()
        frame = next(f for f in page.frames if f.url.startswith(backend.url))
        assert (
            frame.evaluate("() => window.__initial.orderContainerId")
            == (flight["orderContainerId"])
        )

        # A click lands where the button is when it is sent: on a quick machine the mini-app is
        # ready before the sheet has finished sliding in, and a click then could miss it.
        page.wait_for_function(
            "() => document.querySelector('[data-addon-sheet]').getAnimations()"
            ".every((a) => a.playState === 'finished')"
        )

        # The container id changed on the way: refused, shown, nothing joins.
        frame.evaluate(f"() => {{ window.__tamper = {TAMPER_OTHER_CONTAINER}; }}")
        app.get_by_role("button", name="Оформить заказ").click()
        page.locator(".toast--error", has_text="signature does not match").wait_for()
        assert created == []

        # Untouched: the suborder joins the buyer's invoice, with the buyer the platform signed.
        frame.evaluate("() => { window.__tamper = null; }")
        app.locator("[data-order]:enabled").click()
        page.locator("[data-addon-sheet]").wait_for(state="hidden")
        (order_id,) = created
        order = api_get(world, f"{ORDERS}/{order_id}")
        assert order["orderContainerId"] == flight["orderContainerId"]
        assert order["shopId"] == point["id"]
        assert order["customer"]["name"] == "Иван Петров"
        assert problems == []
    finally:
        world.loop.run(backend.runner.cleanup())


# --- a hostile mini-app in the real point-of-sale page ------------------------------------------


@pytest.fixture(scope="module")
def sites() -> Iterator[Sites]:
    started = start_sites()
    yield started
    started.close()


def test_hostile_mini_app_gets_nothing_from_the_point_of_sale_page(
    world: World, context: BrowserContext, sites: Sites
) -> None:
    pay = f"{world.platform}/order/{uuid.uuid4()}"
    hostile_url = str(
        httpx.URL(sites.app.url("/hostile.html"), params={"pay": pay, "evil": sites.evil.origin})
    )
    point = world.add_point_of_sale(
        title="Подозрительный магазин",
        mini_app={"url": hostile_url, "origins": [sites.app.origin], "modes": ["order"]},
    )
    page = context.new_page()
    problems = page_errors(page)
    dialogs: list[str] = []
    popups: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    context.on("page", lambda p: popups.append(p.url))
    pos_url = f"{world.platform}/marketplace/shop/{point['id']}"
    page.goto(pos_url)

    # The hostile page finishes with an accepted error("hostile-finished"): every trick before
    # it (wrong id, no id, a string, foreign and malformed done URLs, evil checkout,
    # javascript:/data: links, an unknown action, done from nested frames of another and of
    # its own origin) has been delivered by then.
    page.wait_for_selector("[data-pos-miniapp][data-ready]")
    page.locator(".toast--error", has_text="hostile-finished").wait_for()
    page.wait_for_timeout(500)

    assert page.url == pos_url  # no done was accepted: no navigation
    assert dialogs == []  # javascript:alert(1) never ran
    assert popups == []  # no link was opened
    assert page.locator("[data-miniapp-link-fallback]").is_hidden()
    nested = [r for r in sites.evil.requests if r.startswith("/nested.html")]
    assert nested, "the other-origin nested frame was loaded and posted"
    assert problems == []


def test_add_on_error_foreign_done_and_unavailable(
    world: World, context: BrowserContext, sites: Sites
) -> None:
    # A suborder mini-app that speaks the protocol by hand (bridge_support RAW_PAGE), offered
    # only for flights booked as RAW-1.
    point = world.add_point_of_sale(
        title="Страховка от задержки",
        description="Выплата, если рейс задержат больше чем на 3 часа",
        min_order_sum=Decimal("350"),
        mini_app={
            "url": sites.app.url("/raw.html"),
            "origins": [sites.app.origin],
            "modes": ["suborder"],
            "addonRule": {"key": "reservationId", "values": ["RAW-1"]},
        },
    )
    meta = json.loads(json.dumps(FLIGHT_META_DATA).replace('"ABC123"', '"RAW-1"'))
    created = httpx.post(
        f"{world.platform}{ORDERS}",
        content=body(order_payload(merchant_order_id=f"RAW-{uuid.uuid4().hex[:8]}", metaData=meta)),
        headers=DEMO_AUTH,
        timeout=10,
    )
    assert created.status_code == 200, created.text
    flight = read(created)["data"]

    page = context.new_page()
    problems = page_errors(page)
    page.goto(flight["paymentUrl"])
    card = page.locator(f'[data-addon-card="{point["id"]}"]')
    assert f"от 350{NBSP}₽" in card.inner_text()
    assert page.locator("[data-addon-card]").count() == 4  # with the taxi, coffee shop, lounge
    page.locator("[data-addons]").scroll_into_view_if_needed()
    screenshot(page, "addons-strip-price-1280.png")
    card.get_by_role("button", name="Добавить услугу").click()
    page.wait_for_selector("[data-addon-sheet] [data-miniapp-host][data-ready]")
    frame = next(f for f in page.frames if f.url.startswith(sites.app.origin))
    received = frame.evaluate("() => window.__received.map((m) => m.data)")
    public = received[0]["data"]["public"]
    assert public["minappType"] == "suborder"
    assert public["orderContainerId"] == flight["orderContainerId"]

    # error → a toast inside the sheet; the mini-app stays open.
    frame.evaluate(
        "() => window.__post({id: window.__id, action: 'error', data: 'Тариф не найден'})"
    )
    page.locator("[data-addon-sheet] .toast--error", has_text="Тариф не найден").wait_for()
    assert page.locator("[data-addon-sheet]").is_visible()

    # done with another container's payment URL → refused by the bridge: nothing happens.
    foreign = f"{world.platform}/order/{uuid.uuid4()}"
    frame.evaluate(f"() => window.__post({{id: window.__id, action: 'done', data: '{foreign}'}})")
    page.wait_for_timeout(300)
    assert page.locator("[data-addon-sheet]").is_visible()
    assert page.get_by_text("Услуга добавлена").count() == 0
    assert page.url == flight["paymentUrl"]

    # unavailable → the sheet closes, the card is removed, the strip says why.
    frame.evaluate("() => window.__post({id: window.__id, action: 'unavailable', data: null})")
    page.locator("[data-addon-sheet]").wait_for(state="hidden")
    assert card.count() == 0
    assert page.locator("[data-addon-card]").count() == 3  # the other three stay
    message = page.locator("[data-addons-message]")
    assert message.inner_text() == "Услуга недоступна для этого заказа: Страховка от задержки"
    assert page.inner_text("#summary-title") == f"100,00{NBSP}₽"
    assert problems == []


# --- after the payment: the order page's refund button, the lounge pass shipment ------------------


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1280, 800)])
def test_the_order_page_refunds_a_paid_lounge_pass(
    world: World, browser: Browser, width: int, height: int
) -> None:
    lounge = world.points["Бизнес-зал Sky Lounge"]
    created = httpx.post(
        f"{world.shop}/api/orders",
        json={
            "service": "lounge",
            "items": [{"sku": "lounge-3h", "quantity": 2}],
            "locale": "ru",
            "signedLaunchData": signed_launch_data(lounge["id"], lounge["launchSecret"]),
        },
        timeout=10,
    )
    assert created.status_code == 200, created.text
    merchant_order_id = created.json()["data"]["merchantOrderId"]
    container_id = created.json()["data"]["url"].rsplit("/", 1)[1]

    async def pay(conn: Any) -> None:
        await payments_service.pay_container(conn, container_id=container_id, method="card")

    world.db_run(pay)  # the platform's worker then notifies the shop, which ships the pass
    wait_until(
        lambda: shop_order(world, merchant_order_id)["shipment"], "the shop to ship the pass"
    )

    context = browser.new_context(viewport={"width": width, "height": height}, locale="ru-RU")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems = page_errors(page)
    page.goto(f"{world.shop}/success?order={merchant_order_id}")
    page.get_by_text("Заказ оплачен").wait_for()
    assert "Пропуск в зал выдан" in page.inner_text("[data-shipment]")
    screenshot(page, f"order-paid-{width}.png")

    refund = page.locator("[data-refund]")
    refund.click()  # the first press only asks to confirm: no money moves on one tap
    assert refund.inner_text() == f"Подтвердить возврат 2{NBSP}400,00{NBSP}₽"
    assert shop_order(world, merchant_order_id)["refund"] is None
    screenshot(page, f"order-refund-confirm-{width}.png")
    refund.click()

    banner = page.locator("[data-refund-status]")
    banner.wait_for()
    assert (
        f"Возврат 2{NBSP}400,00{NBSP}₽" in banner.inner_text() and "оформлен" in banner.inner_text()
    )
    assert page.locator("[data-refund]").count() == 0
    screenshot(page, f"order-refunded-{width}.png")
    assert shop_order(world, merchant_order_id)["refund"]["amount"] == "2400.00"
    assert problems == []
    context.close()
