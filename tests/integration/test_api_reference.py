"""The API reference in the browser (docs/api.md "API reference in the browser"): /docs is
Swagger UI whose every asset is ours, and /openapi.json names its server and describes the
signed notification a shop receives (`webhooks`). The page rendering in Chromium is
tests/browser/test_api_reference_page.py."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from marketbox.app import create_app
from marketbox.merchants.service import DEMO_SIGNING_KEY
from marketbox.notifications.delivery import DEFAULT_ERROR_CODE, FINAL_CODES
from marketbox.payments import service as payments_service
from marketbox.security import signing
from marketbox.storage.db import Database
from marketbox.web.assets import ASSETS
from marketbox.web.reference import ASSETS_DIR
from tests.conftest import TEST_PUBLIC_URL, body, make_settings, read
from tests.integration.test_notifications import notification_for
from tests.support.builders import order_payload

ORDERS = "/v3/billing/api/order/order"
# What each kind of reference on the page must be served as.
CONTENT_TYPES = {"script": "text/javascript", "stylesheet": "text/css", "icon": "image/svg+xml"}


@pytest.fixture
async def docs_client(sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(sqlite_url), migrate=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=TEST_PUBLIC_URL
    ) as client:
        yield client
    await app.state.ctx.db.dispose()


@pytest.fixture
async def spec(docs_client: httpx.AsyncClient) -> dict[str, Any]:
    return (await docs_client.get("/openapi.json")).json()  # type: ignore[no-any-return]


def references(html: str) -> dict[str, str]:
    """URL -> kind of every script, stylesheet and icon the page loads."""
    found = {src: "script" for src in re.findall(r'<script[^>]*\ssrc="([^"]+)"', html)}
    for rel, href in re.findall(r'<link[^>]*\srel="([^"]+)"[^>]*\shref="([^"]+)"', html):
        found[href] = rel
    return found


async def test_docs_is_swagger_ui_served_from_our_origin(
    docs_client: httpx.AsyncClient,
) -> None:
    page = await docs_client.get("/docs")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="en">' in page.text
    assert not re.search(r"https?://|//[a-z]", page.text), "the page names another origin"
    assets = references(page.text)
    assert set(assets.values()) == set(CONTENT_TYPES)
    # Under content-hashed names (web/assets.py), cached for a year.
    assert ASSETS.url("/docs/assets/swagger-ui-bundle.js") in assets
    assert ASSETS.url("/docs/assets/swagger-ui.css") in assets
    for url, kind in assets.items():
        assert url.startswith("/") and not url.startswith("//"), url
        asset = await docs_client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].startswith(CONTENT_TYPES[kind]), url
        assert asset.content, url
    # Swagger UI is the package's, byte for byte: nothing of it is copied into the repository.
    bundle = await docs_client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.content == (ASSETS_DIR / "swagger-ui-bundle.js").read_bytes()
    assert (await docs_client.get("/redoc")).status_code == 404


async def test_docs_needs_no_inline_script(docs_client: httpx.AsyncClient) -> None:
    page = await docs_client.get("/docs")
    policy = page.headers["content-security-policy"]

    assert "script-src 'self';" in policy
    assert "unsafe" not in policy
    assert "connect-src 'self' http://testserver;" in policy
    assert re.search(r"<script(?![^>]*\ssrc=)", page.text) is None  # no inline <script>
    assert " style=" not in page.text


async def test_servers_is_each_apps_public_url(sqlite_url: str) -> None:
    for public_url in ("https://pay.example", "http://127.0.0.1:8123/"):
        app = create_app(make_settings(sqlite_url, public_url=public_url), migrate=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=TEST_PUBLIC_URL) as client:
            spec = (await client.get("/openapi.json")).json()
        await app.state.ctx.db.dispose()
        assert spec["servers"] == [{"url": public_url.rstrip("/")}]


def component_validator(spec: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator({**schema, "components": spec["components"]})


async def test_the_notification_is_documented_as_a_webhook(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1")
    operation = spec["webhooks"]["orderNotification"]["post"]

    request = operation["requestBody"]["content"]["application/json"]["schema"]
    assert request == {"$ref": "#/components/schemas/OrderResponse"}
    assert "OrderResponse" in spec["components"]["schemas"]
    headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
    signature = headers["X-Signature"]
    assert signature["required"] is True
    for algorithm in signing.ALGORITHMS:
        assert f"`{algorithm}`" in signature["description"]
    assert operation["security"] == []  # the shop's endpoint takes no Bearer token

    reply = operation["responses"]["200"]["content"]["application/json"]["schema"]
    replies = component_validator(spec, reply)
    assert replies.is_valid({"status": "success"})
    for code in [*FINAL_CODES, DEFAULT_ERROR_CODE]:
        assert replies.is_valid({"status": "error", "code": code, "message": "Нет такого"})
    assert not replies.is_valid({"status": "ok"})


async def test_a_real_notification_matches_its_documentation(
    api: httpx.AsyncClient, db: Database
) -> None:
    """The body the dispatcher sends is the documented order; its signature is the HMAC."""
    spec = (await api.get("/openapi.json")).json()
    payload = order_payload(merchant_order_id="W-1", notificationUrl="https://shop.example/n")
    order = read(await api.post(ORDERS, content=body(payload)))["data"]
    async with db.transaction() as conn:
        await payments_service.pay_container(
            conn, container_id=order["orderContainerId"], method="card", card_last4="4242"
        )
    stored = await notification_for(db, order["id"])

    operation = spec["webhooks"]["orderNotification"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    errors = list(component_validator(spec, schema).iter_errors(json.loads(stored.body)))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    [signature] = [p for p in operation["parameters"] if p["name"] == "X-Signature"]
    assert re.fullmatch(signature["schema"]["pattern"], stored.signature)
    assert stored.signature == signing.sign(stored.body, DEMO_SIGNING_KEY)
