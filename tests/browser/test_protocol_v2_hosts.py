"""Protocol v2 in the real host pages (issue 11, item 3; spec/miniapps.md §3.2, §8 and the v2
addendum), in headless Chromium against a live server (SQLite) and a mini-app site on its own
origin:

* the point-of-sale page answers a mini-app's `checkout`: the payment opens in a new tab, a
  visible link stays, the mini-app lives on and gets `paymentResult` `pending` after a decline
  in that tab and `completed` after the payment; the shell says so too;
* the payment page, after an add-on's `checkout` put its order into the invoice, re-draws the
  invoice and re-matches the add-on cards without a reload (a card whose rule holds only now
  appears, one whose rule no longer holds goes), sends `updateData` with the new metaData to
  the open v2 frame (a v1 frame gets none), and the added card shows one line of what was
  ordered, after a reload too;
* the buyer's e-mail typed into the payer form reaches the add-on's init data.

The mini-app site serves our `minapp-client.js` (v2) and a hand-written v1 page; its backend
(`/create`) creates the orders over the platform's API as a shop's backend would.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Frame, Page

from marketbox.marketplace import service as marketplace_service
from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.storage.db import Database
from marketbox.toolkit.formatting import format_phone
from tests.browser.bridge_support import BROWSER_MARKS, STATIC_DIR
from tests.conftest import DEMO_AUTH, body, read
from tests.support.builders import basket_item, order_payload
from tests.support.shops import ORDERS, add_taxi_merchant, create_order

pytestmark = BROWSER_MARKS

TIMEOUT_MS = 15_000
SCREENSHOT_DIR = os.environ.get("MARKETBOX_SCREENSHOT_DIR")

# The v2 mini-app: our client; records init, updateData (with the metaData it can now search)
# and paymentResult in window.__events; «Оформить» asks its backend for an order and sends
# `checkout` with the payment URL.
V2_PAGE = """<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>v2</title></head>
<body>
<button type="button" id="checkout">Оформить</button>
<script type="module">
import { createMinappClient } from '/minapp-client.js';
const kind = new URLSearchParams(location.search).get('kind');
const minapp = createMinappClient();
window.__events = [];
minapp.onPaymentResult((status) => window.__events.push({ action: 'paymentResult', status }));
minapp.onUpdateData(async (data) => {
  const classes = await minapp.getMetaDataValues('transferClass');
  window.__events.push({ action: 'updateData', data, classes });
});
minapp.connect();
const data = await minapp.getInitialData();
window.__events.push({ action: 'init', data });
document.getElementById('checkout').addEventListener('click', async () => {
  const query = new URLSearchParams({ kind, container: data.orderContainerId || '' });
  const answer = await (await fetch('/create?' + query)).json();
  minapp.onCheckout(answer.url);
});
document.body.dataset.ready = 'true';
</script>
</body></html>
"""

# The v1 mini-app, by hand: `init` without a version, every message recorded.
V1_PAGE = """<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>v1</title></head>
<body>
<button type="button" id="checkout">Оформить</button>
<script>
const params = new URLSearchParams(location.search);
const id = params.get('id');
window.__events = [];
let container = '';
window.addEventListener('message', (event) => {
  const message = event.data;
  if (!message || message.id !== id) return;
  window.__events.push({ action: message.action, data: message.data });
  if (message.action === 'init') {
    container = message.data.public.orderContainerId || '';
    document.body.dataset.ready = 'true';
  }
});
window.parent.postMessage({ id, action: 'init' }, '*');
document.getElementById('checkout').addEventListener('click', async () => {
  const query = new URLSearchParams({ kind: params.get('kind'), container });
  const answer = await (await fetch('/create?' + query)).json();
  window.parent.postMessage({ id, action: 'checkout', data: answer.url }, '*');
});
</script>
</body></html>
"""


@dataclass
class MiniAppSite:
    """The mini-apps' origin: the pages, our client, and a backend that creates orders."""

    platform: str = ""
    # kind -> (Authorization header, order payload overrides); the container comes from the app
    kinds: dict[str, tuple[dict[str, str], dict[str, Any]]] = field(default_factory=dict)
    created: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        site = self
        client_js = (STATIC_DIR / "minapp-client.js").read_bytes()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/v2.html":
                    self._send("text/html; charset=utf-8", V2_PAGE.encode())
                elif parts.path == "/v1.html":
                    self._send("text/html; charset=utf-8", V1_PAGE.encode())
                elif parts.path == "/minapp-client.js":
                    self._send("text/javascript; charset=utf-8", client_js)
                elif parts.path == "/create":
                    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                    url = site.create(query.get("kind", ""), query.get("container") or None)
                    self._send("application/json", json.dumps({"url": url}).encode())
                else:
                    self.send_error(404)

            def _send(self, content_type: str, payload: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def create(self, kind: str, container: str | None) -> str:
        auth, overrides = self.kinds[kind]
        payload = order_payload(
            merchant_order_id=f"{kind.upper()}-{len(self.created) + 1}", **overrides
        )
        if container:
            payload["orderContainerId"] = container
        response = httpx.post(f"{self.platform}{ORDERS}", content=body(payload), headers=auth)
        assert response.status_code == 200, response.text
        order = read(response)["data"]
        self.created.append(order)
        return str(order["paymentUrl"])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def site() -> Iterator[MiniAppSite]:
    served = MiniAppSite()
    yield served
    served.close()


def add_point(database_url: str, merchant_id: str, title: str, mini_app: dict[str, Any]) -> int:
    async def create() -> int:
        db = Database(database_url)
        try:
            async with db.transaction() as conn:
                point = await marketplace_service.create_point_of_sale(
                    conn, merchant_id=merchant_id, title=title, mini_app=mini_app
                )
                return int(point["id"])
        finally:
            await db.dispose()

    # On a thread of its own: Playwright's sync API owns the test thread's event loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, create()).result()


def events(frame: Frame) -> list[dict[str, Any]]:
    return list(frame.evaluate("window.__events"))


def app_frame(page: Page, selector: str) -> Frame:
    handle = page.wait_for_selector(f"{selector} iframe[data-miniapp-frame]")
    assert handle is not None
    frame = handle.content_frame()
    assert frame is not None
    frame.wait_for_function("document.body.dataset.ready === 'true'")
    # The bridge's skeleton fades out over the frame after init; a click before it is gone
    # lands on the skeleton, not in the mini-app.
    page.locator(f"{selector} [data-miniapp-skeleton]").wait_for(state="hidden")
    return frame


def pay(tab: Page, card: str) -> None:
    tab.fill("#card_number", card)
    tab.fill("#card_expiry", "12/39")
    tab.fill("#card_cvc", "123")
    tab.click("[data-pay-button]")


@pytest.mark.parametrize("width", [1280, 390], ids=["1280", "390"])
def test_checkout_on_the_point_of_sale_page(
    server: str, sqlite_url: str, browser: Browser, site: MiniAppSite, width: int
) -> None:
    site.platform = server
    site.kinds["coffee"] = (
        DEMO_AUTH,
        {
            "description": "Капучино",
            "items": [basket_item(name="Капучино", amount=Decimal("250.00"))],
        },
    )
    pos_id = add_point(
        sqlite_url,
        DEMO_MERCHANT_ID,
        "Кофейня",
        {"url": f"{site.origin}/v2.html?kind=coffee", "modes": ["order"]},
    )
    page = browser.new_page(viewport={"width": width, "height": 844 if width < 768 else 800})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{server}/marketplace/shop/{pos_id}")
    frame = app_frame(page, "[data-pos-miniapp]")

    # The click in the frame lends its activation: the payment page opens in a new tab.
    with page.context.expect_page() as opened:
        frame.click("#checkout")
    tab = opened.value
    tab.set_default_timeout(TIMEOUT_MS)
    payment_url = site.created[-1]["paymentUrl"]
    tab.wait_for_url(payment_url)
    waiting = page.locator("[data-checkout='waiting']")
    waiting.wait_for()
    # The link stays visible: with noopener a blocked popup cannot be detected.
    assert waiting.locator("[data-checkout-link]").get_attribute("href") == payment_url
    assert page.locator("[data-pos-miniapp] iframe[data-miniapp-frame]").count() == 1
    screenshot(page, f"pos-checkout-waiting-{width}.png", full_page=False)

    pay(tab, "4000 0000 0000 9995")  # insufficient funds
    tab.wait_for_url(f"{payment_url}/fail")
    declined = page.locator("[data-checkout='declined']")
    declined.wait_for()
    assert "недостаточно средств" in declined.inner_text()
    screenshot(page, f"pos-checkout-declined-{width}.png", full_page=False)
    frame.wait_for_function("window.__events.some((e) => e.action === 'paymentResult')")
    assert [e["status"] for e in events(frame) if e["action"] == "paymentResult"] == ["pending"]

    tab.goto(payment_url)
    pay(tab, "4242 4242 4242 4242")
    tab.wait_for_url(f"{payment_url}/success")
    paid = page.locator("[data-checkout='paid']")
    paid.wait_for()
    assert "250,00" in paid.inner_text()
    screenshot(page, f"pos-checkout-paid-{width}.png", full_page=False)
    assert paid.locator("[data-checkout-receipt]").get_attribute("href", timeout=1000)
    frame.wait_for_function(
        "window.__events.filter((e) => e.action === 'paymentResult').length === 2"
    )
    results = [e["status"] for e in events(frame) if e["action"] == "paymentResult"]
    assert results == ["pending", "completed"]
    # An order-mode frame on the marketplace gets no updateData: nothing it was given changed.
    assert not [e for e in events(frame) if e["action"] == "updateData"]
    page.close()
    tab.close()


def test_buyer_details_saved_on_the_point_of_sale_page_reach_the_app(
    server: str, sqlite_url: str, browser: Browser, site: MiniAppSite
) -> None:
    site.platform = server
    v2 = add_point(
        sqlite_url,
        DEMO_MERCHANT_ID,
        "Кофейня",
        {"url": f"{site.origin}/v2.html", "modes": ["order"]},
    )
    v1 = add_point(
        sqlite_url,
        DEMO_MERCHANT_ID,
        "Пекарня",
        {"url": f"{site.origin}/v1.html", "modes": ["order"]},
    )
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    for pos_id, version in ((v2, 2), (v1, 1)):
        page.goto(f"{server}/marketplace/shop/{pos_id}")
        frame = app_frame(page, "[data-pos-miniapp]")
        page.evaluate("window.__sameDocument = true")
        page.click("[data-buyer-edit]")
        sheet = page.locator("[data-buyer-sheet]")
        sheet.locator("input[name=name]").fill("Анна Смирнова")
        sheet.locator("input[name=email]").fill(f"anna{version}@example.org")
        sheet.locator("input[name=phone]").fill("8 900 555 66 77")
        if version == 2:
            screenshot(page, "pos-buyer-sheet-390.png", full_page=False)
        sheet.locator("[data-buyer-save]").click()
        sheet.wait_for(state="hidden")
        summary = page.locator("[data-buyer-summary]")
        phone = format_phone("+79005556677")
        assert summary.inner_text() == f"Анна Смирнова · anna{version}@example.org · {phone}"
        assert page.evaluate("window.__sameDocument") is True  # no reload
        if version == 2:
            frame.wait_for_function("window.__events.some((e) => e.action === 'updateData')")
            update = next(e for e in events(frame) if e["action"] == "updateData")
            assert update["data"]["userName"] == "Анна Смирнова"
            assert update["data"]["userEmail"] == "anna2@example.org"
            assert update["data"]["userPhone"] == "+79005556677"
        else:
            # A v1 app cannot take updateData: the page re-opens it, its init has the new data.
            reopened = app_frame(page, "[data-pos-miniapp]")
            reopened.wait_for_function("window.__events.length > 0")
            assert [e["action"] for e in events(reopened)] == ["init"]
            assert events(reopened)[0]["data"]["public"]["userEmail"] == "anna1@example.org"
    assert problems == []
    context.close()


@dataclass
class AddonShop:
    main: dict[str, Any]
    taxi: int
    seat: int
    aeroexpress: int


def addon_shop(server: str, sqlite_url: str, site: MiniAppSite) -> AddonShop:
    """An airline's invoice and three add-ons: a taxi (v2 app, every invoice), a child seat
    (v1 app, only once a transfer is in the invoice) and an airport express (only while no
    transfer is)."""
    site.platform = server
    taxi_merchant = add_taxi_merchant(sqlite_url)
    taxi_auth = {"Authorization": f"Bearer {taxi_merchant.token}"}
    transfer = {"key": "transferClass"}
    taxi = add_point(
        sqlite_url,
        taxi_merchant.id,
        "Трансфер",
        {"url": f"{site.origin}/v2.html?kind=taxi", "modes": ["suborder"]},
    )
    seat = add_point(
        sqlite_url,
        taxi_merchant.id,
        "Детское кресло",
        {"url": f"{site.origin}/v1.html?kind=seat", "modes": ["suborder"], "addonRule": transfer},
    )
    aeroexpress = add_point(
        sqlite_url,
        taxi_merchant.id,
        "Аэроэкспресс",
        {
            "url": f"{site.origin}/v2.html?kind=aero",
            "modes": ["suborder"],
            "addonRule": {"not": transfer},
        },
    )
    site.kinds["taxi"] = (
        taxi_auth,
        {
            "merchant_id": taxi_merchant.id,
            "shopId": taxi,
            "description": "Трансфер Комфорт",
            "metaData": {"@type": "TaxiReservation", "transferClass": "comfort"},
            "items": [basket_item(name="Трансфер", amount=Decimal("1200.00"))],
        },
    )
    site.kinds["seat"] = (
        taxi_auth,
        {
            "merchant_id": taxi_merchant.id,
            "shopId": seat,
            "description": "Детское кресло",
            "items": [basket_item(name="Кресло", amount=Decimal("300.00"))],
        },
    )
    main = create_order(server, items=[basket_item(name="Авиабилет", amount=Decimal("5000.00"))])
    return AddonShop(main, taxi, seat, aeroexpress)


def cards(page: Page, shop: AddonShop) -> list[str]:
    """The strip's cards of this test's add-ons (the seeded demo shop has its own)."""
    script = "(nodes) => nodes.map((n) => n.dataset.addonCard)"
    ours = {str(shop.taxi), str(shop.seat), str(shop.aeroexpress)}
    found = page.eval_on_selector_all("[data-addons-list] [data-addon-card]", script)
    return [card for card in found if card in ours]


@pytest.mark.parametrize("width", [1280, 390], ids=["1280", "390"])
def test_add_on_checkout_rematches_the_strip_and_updates_v2_only(
    server: str, sqlite_url: str, browser: Browser, site: MiniAppSite, width: int
) -> None:
    shop = addon_shop(server, sqlite_url, site)
    page = browser.new_page(viewport={"width": width, "height": 844 if width < 768 else 800})
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(shop.main["paymentUrl"])
    assert cards(page, shop) == [str(shop.taxi), str(shop.aeroexpress)]
    page.evaluate("window.__sameDocument = true")

    # The e-mail typed into the payer form reaches the add-on's init data.
    page.fill("#payer-email", "anna@example.org")
    page.locator("#payer-email").blur()  # the change event
    # (The page's CSP forbids eval: waits go through locators, not wait_for_function.)
    page.locator("[data-addons][data-refreshed='1']").wait_for(state="attached")

    page.click(f"[data-addon-card='{shop.taxi}'] [data-addon-open]")
    taxi = app_frame(page, "[data-addon-sheet-body]")
    init = events(taxi)[0]
    assert init["action"] == "init"
    assert init["data"]["userEmail"] == "anna@example.org"
    assert init["data"]["orderContainerId"] == shop.main["orderContainerId"]

    taxi.click("#checkout")
    # The sub-order is in the invoice: the page re-draws it and the strip, the frame stays.
    page.locator("[data-addon-checkout]").wait_for()
    taxi.wait_for_function("window.__events.some((e) => e.action === 'updateData')")
    update = next(e for e in events(taxi) if e["action"] == "updateData")
    assert update["classes"] == ["comfort"]  # the new metaData, searchable at once
    assert update["data"]["userEmail"] == "anna@example.org"
    page.locator(f"[data-addon-card='{shop.aeroexpress}']").wait_for(state="detached")
    assert cards(page, shop) == [str(shop.taxi), str(shop.seat)]  # seat appeared, aeroexpress went
    assert "6\u00a0200,00" in page.inner_text("[data-total]")
    assert "Трансфер Комфорт" in page.inner_text("[data-order-list]")
    summary = page.locator(f"[data-addon-card='{shop.taxi}'] [data-addon-summary]")
    assert summary.inner_text() == "Добавлено: Трансфер Комфорт · 1\u00a0200,00\u00a0₽"
    assert page.evaluate("window.__sameDocument") is True  # no reload
    screenshot(page, f"addon-checkout-{width}.png", full_page=False)

    # «К оплате» closes the sheet; the v1 seat app then gets init, and no updateData when
    # the invoice changes again under it.
    page.click("[data-addon-checkout-close]")
    page.click(f"[data-addon-card='{shop.seat}'] [data-addon-open]")
    seat = app_frame(page, "[data-addon-sheet-body]")
    seat.click("#checkout")
    page.locator(f"[data-addon-card='{shop.seat}'] [data-addon-summary]").wait_for()
    page.locator("[data-addons][data-refreshed='3']").wait_for(state="attached")
    assert [e["action"] for e in events(seat)] == ["init"]
    page.click("[data-addon-checkout-close]")
    page.locator("[data-addons]").scroll_into_view_if_needed()
    screenshot(page, f"addon-added-{width}.png", full_page=False)

    # The summary comes from the server: it survives a reload.
    page.reload()
    assert (
        page.locator(f"[data-addon-card='{shop.taxi}'] [data-addon-summary]").inner_text()
        == "Добавлено: Трансфер Комфорт · 1\u00a0200,00\u00a0₽"
    )
    assert cards(page, shop) == [str(shop.taxi), str(shop.seat)]
    assert problems == []
    page.close()


def test_addons_json_answers_the_strip_and_refuses_a_bad_body(
    server: str, sqlite_url: str, site: MiniAppSite
) -> None:
    shop = addon_shop(server, sqlite_url, site)
    url = f"{shop.main['paymentUrl']}/addons.json"
    answer = httpx.post(url, json={"email": "anna@example.org"})
    assert answer.status_code == 200
    fresh = answer.json()
    assert fresh["status"] == "pending"
    assert [i for i in fresh["shopIds"] if i in (shop.taxi, shop.seat, shop.aeroexpress)] == [
        shop.taxi,
        shop.aeroexpress,
    ]
    emails = {f["initData"]["public"]["userEmail"] for f in fresh["frames"]}
    assert emails == {"anna@example.org"}
    assert f'data-addon-card="{shop.taxi}"' in fresh["html"]
    assert answer.headers["cache-control"] == "no-store"

    refused = httpx.post(url, content=b"[1]")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "validation_error"
    missing = httpx.post(f"{server}/order/00000000-0000-7000-8000-000000000000/addons.json")
    assert missing.status_code == 404


def screenshot(page: Page, name: str, *, full_page: bool = True) -> None:
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOT_DIR) / name), full_page=full_page)
