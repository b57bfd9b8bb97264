"""Every page says who may frame it and forbids sniffing; JSON answers forbid sniffing too.

The walk covers every GET route the app serves (a new page fails the walk until it is added
to `urls`), the static files, and the HTML and JSON 404s.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi.routing import APIWebSocketRoute, iter_route_contexts
from starlette.routing import WebSocketRoute

from marketbox.config import Settings
from marketbox.marketplace import service as marketplace_service
from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.storage.db import Database
from tests.conftest import body, make_settings, read
from tests.support.builders import order_payload
from tests.support.office import log_in, office_user

ORDERS = "/v3/billing/api/order/order"
PAYMENT_FRAMER = "https://shop.example"
MINIAPP_ORIGIN = "https://lounge.example"
UNKNOWN_ID = "00000000-0000-7000-8000-000000000000"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, extra_frame_ancestors=[PAYMENT_FRAMER])


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


async def urls(api: httpx.AsyncClient, db: Database) -> dict[str, list[str]]:
    """Route path -> concrete URLs that render it (pages of a payable and of a paid invoice)."""
    pending = read(await api.post(ORDERS, content=body(order_payload(merchant_order_id="A"))))
    paid = read(await api.post(ORDERS, content=body(order_payload(merchant_order_id="B"))))
    paid_container = paid["data"]["orderContainerId"]
    page = await api.get(f"/order/{paid_container}")
    form = {
        name: value
        for name, value in (
            ("csrf_token", _hidden(page.text, "csrf_token")),
            ("expected_amount", _hidden(page.text, "expected_amount")),
        )
    }
    form |= {
        "customer_type": "private",
        "name": "Иван",
        "email": "ivan@example.com",
        "phone": "79990001122",
        "card_number": "4242 4242 4242 4242",
        "card_expiry": "12/40",
        "card_cvc": "123",
    }
    assert (await api.post(f"/order/{paid_container}/pay", data=form)).status_code == 303
    async with db.transaction() as conn:
        shop = await marketplace_service.create_point_of_sale(
            conn,
            merchant_id=DEMO_MERCHANT_ID,
            title="Лаунж",
            mini_app={"url": f"{MINIAPP_ORIGIN}/app"},
        )
    container = pending["data"]["orderContainerId"]
    order_id = pending["data"]["id"]
    await office_user(db, DEMO_MERCHANT_ID, "walk@shop.test")
    assert (await log_in(api, "walk@shop.test")).status_code == 303
    notification_id = read(await api.get("/v3/notification/api/notification"))["data"][0]["id"]
    letter_id = read(await api.get("/v3/mail/api/message"))["data"][0]["id"]
    return {
        "/openapi.json": ["/openapi.json"],
        "/healthz": ["/healthz"],
        "/readyz": ["/readyz"],
        "/metrics": ["/metrics"],  # 404 unless MARKETBOX_METRICS_ENABLED
        "/v3/security/api/auth/auth": ["/v3/security/api/auth/auth"],
        "/v3/filter/api/order/order": ["/v3/filter/api/order/order"],
        "/v3/filter/api/counterparty-detail": [
            "/v3/filter/api/counterparty-detail?vatNumber=0001047185"
        ],
        "/v3/billing/api/order/order/{order_id}": [f"{ORDERS}/{order_id}"],
        "/v3/billing/api/order/order/{order_id}/refund-basket-item": [
            f"{ORDERS}/{order_id}/refund-basket-item"
        ],
        "/v3/filter/api/order/refund-order": ["/v3/filter/api/order/refund-order"],
        "/v3/billing/api/order/order/{order_id}/receipt": [f"{ORDERS}/{order_id}/receipt"],
        "/v3/filter/api/order/receipt": ["/v3/filter/api/order/receipt"],
        "/v3/filter/api/order/shipment": ["/v3/filter/api/order/shipment"],
        "/v3/billing/api/order/shipment": ["/v3/billing/api/order/shipment"],
        "/v3/payment/api/invoice": ["/v3/payment/api/invoice"],
        "/v3/payment/api/invoice/{invoice_id}": [f"/v3/payment/api/invoice/{UNKNOWN_ID}"],
        "/legal/offer": ["/legal/offer", "/legal/offer?lang=en"],
        "/legal/privacy": ["/legal/privacy"],
        "/help": ["/help"],
        "/order/{container_id}": [
            f"/order/{container}",
            f"/order/{paid_container}",  # the status page
            f"/order/{UNKNOWN_ID}",  # the HTML 404
        ],
        "/order/{container_id}/summary.json": [f"/order/{container}/summary.json"],
        "/order/{container_id}/orders.html": [f"/order/{container}/orders.html"],
        "/order/{container_id}/success": [f"/order/{paid_container}/success"],
        "/order/{container_id}/fail": [f"/order/{container}/fail"],
        "/order/{container_id}/receipt": [f"/order/{paid_container}/receipt"],
        "/order/{container_id}/confirming": [f"/order/{paid_container}/confirming"],
        "/order/{container_id}/confirmation.json": [f"/order/{paid_container}/confirmation.json"],
        "/v3/marketplace/api/shop": ["/v3/marketplace/api/shop"],
        "/v3/marketplace/api/shop/{shop_id}": [f"/v3/marketplace/api/shop/{shop['id']}"],
        "/": ["/", "/?q=кофе"],
        "/marketplace/shop/{shop_id}": [
            f"/marketplace/shop/{shop['id']}",  # the mini-app host page
            "/marketplace/shop/999999",  # the marketplace's HTML 404
        ],
        "/marketplace/shop/{shop_id}/frame.json": [
            f"/marketplace/shop/{shop['id']}/frame.json",  # init data for updateData
            "/marketplace/shop/999999/frame.json",  # the API's 404 envelope
        ],
        "/marketplace/offers": ["/marketplace/offers"],
        "/marketplace/buyer": ["/marketplace/buyer"],
        "/marketplace/static": ["/marketplace/static/pos-page.js"],
        "/favicon.ico": ["/favicon.ico"],
        "/static/miniapp": ["/static/miniapp/bridge.js"],
        "/static": ["/static/marketbox.css"],
        "/docs": ["/docs"],  # the API reference (test_api_reference.py)
        "/docs/assets": ["/docs/assets/swagger-ui.css"],
        "(not found)": ["/no/such/page", "/v3/no/such/endpoint"],
        "/office": ["/office"],  # a redirect to the orders
        "/office/login": ["/office/login"],
        "/office/invite/{token}": ["/office/invite/no-such-token"],  # the office's HTML 404
        "/office/orders": ["/office/orders", "/office/orders?q=ORDER&lang=en"],
        "/office/orders/{order_id}": [f"/office/orders/{order_id}"],
        "/office/notifications": ["/office/notifications"],
        "/office/notifications/{notification_id}": [f"/office/notifications/{notification_id}"],
        "/office/settings": ["/office/settings"],
        "/office/points-of-sale": ["/office/points-of-sale"],
        "/office/mail": ["/office/mail"],
        "/office/mail/{message_id}": [f"/office/mail/{letter_id}"],
        "/office/sandbox": ["/office/sandbox"],
        "/office/sandbox/reset": ["/office/sandbox/reset"],  # the confirm step
        "/office/operator": ["/office/operator"],  # 404 for a merchant's user
        "/office/operator/health": ["/office/operator/health"],
        "/office/operator/addons": ["/office/operator/addons"],
        "/v3/security/api/credentials": ["/v3/security/api/credentials"],
        "/v3/mail/api/message": ["/v3/mail/api/message"],
        "/v3/mail/api/message/{message_id}": [f"/v3/mail/api/message/{letter_id}"],
        "/v3/notification/api/notification": ["/v3/notification/api/notification"],
        "/v3/notification/api/notification/{notification_id}": [
            f"/v3/notification/api/notification/{notification_id}"
        ],
        "/v3/sandbox/api/clock": ["/v3/sandbox/api/clock"],
    }


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match is not None, name
    return match.group(1)


def get_routes(app: Any) -> set[str]:
    found = set()
    for route in iter_route_contexts(app.routes):
        if isinstance(route.route, WebSocketRoute | APIWebSocketRoute):
            continue  # a WebSocket upgrade, not a page (the gate: test_gate.py)
        methods = getattr(route, "methods", None)
        if methods is None or "GET" in methods:  # mounts serve GET
            found.add(route.path)
    return found


async def test_every_page_carries_the_security_headers(
    app: Any, api: httpx.AsyncClient, db: Database
) -> None:
    walk = await urls(api, db)
    assert get_routes(app) <= set(walk), "add the new GET route to the walk"
    html_pages = 0
    for route, paths in walk.items():
        for path in paths:
            response = await api.get(path)
            assert response.status_code in (200, 303, 401, 404), (path, response.status_code)
            assert response.headers["x-content-type-options"] == "nosniff", path
            if not response.headers.get("content-type", "").startswith("text/html"):
                continue
            html_pages += 1
            assert response.headers["referrer-policy"] == "same-origin", path
            policy = directives(response.headers["content-security-policy"])
            expected = ["'self'", PAYMENT_FRAMER] if route.startswith("/order/") else ["'self'"]
            assert policy["frame-ancestors"] == expected, path
            assert policy["script-src"] == ["'self'"], path
            assert policy["object-src"] == ["'none'"], path
    assert html_pages == 34  # every page listed above renders HTML


async def test_the_mini_app_host_page_may_frame_only_the_mini_app(
    client: httpx.AsyncClient, db: Database
) -> None:
    async with db.transaction() as conn:
        shop = await marketplace_service.create_point_of_sale(
            conn,
            merchant_id=DEMO_MERCHANT_ID,
            title="Лаунж",
            mini_app={"url": "https://a.example/x"},
        )
        plain = await marketplace_service.create_point_of_sale(
            conn, merchant_id=DEMO_MERCHANT_ID, title="Кофейня"
        )
    hosting = directives(
        (await client.get(f"/marketplace/shop/{shop['id']}")).headers["content-security-policy"]
    )
    assert hosting["frame-src"] == ["'self'", "https://a.example"]
    assert hosting["frame-ancestors"] == ["'self'"]
    other = directives(
        (await client.get(f"/marketplace/shop/{plain['id']}")).headers["content-security-policy"]
    )
    assert other["frame-src"] == ["'self'"]


async def test_an_unhandled_error_still_forbids_sniffing(settings: Settings, db: Database) -> None:
    from marketbox.app import create_app

    app = create_app(settings, db=db, migrate=False)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.headers["x-content-type-options"] == "nosniff"


def test_frame_ancestors_setting_accepts_origins_only() -> None:
    database_url = "sqlite+aiosqlite:///unused.db"  # never opened
    settings = make_settings(database_url, extra_frame_ancestors=["https://*.shop.example:8443"])
    assert settings.extra_frame_ancestors == ["https://*.shop.example:8443"]
    for bad in ("https://shop.example; script-src *", "*", "shop.example", "'unsafe-inline'"):
        with pytest.raises(ValueError, match="EXTRA_FRAME_ANCESTORS"):
            make_settings(database_url, extra_frame_ancestors=[bad])
