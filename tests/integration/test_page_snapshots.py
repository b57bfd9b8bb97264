"""Real pages in both languages, rendered with a pinned clock, compared with committed snapshots.

The snapshots hold every page's HTML with only the per-run values masked (ids, tokens, card
form nonces), so a change of any text, number, money or date format shows up as a diff. They
were taken before formatting and catalogues moved onto Babel and gettext; that switch had to
leave them byte-identical. After a deliberate change of a page, rewrite them with
`MARKETBOX_UPDATE_SNAPSHOTS=1 scripts/test tests/integration/test_page_snapshots.py` and
review the diff.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from marketbox import clock
from marketbox.app import create_app
from marketbox.marketplace import service as marketplace_service
from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.storage.db import Database
from tests.conftest import DEMO_AUTH, TEST_PUBLIC_URL, body, make_settings, read
from tests.support.builders import basket_item, order_payload

SNAPSHOTS = Path(__file__).parent / "data" / "pages"
UPDATE = os.environ.get("MARKETBOX_UPDATE_SNAPSHOTS") == "1"
ORDERS = "/v3/billing/api/order/order"
# A Monday in spring: far from New Year and from a daylight-saving change anywhere.
NOW = datetime(2026, 3, 16, 9, 30, tzinfo=UTC)

_MASKS = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r'(name="csrf_token" value=")[^"]*"'), r'\1<csrf>"'),
    (re.compile(r'(nonce=")[^"]*"'), r'\1<nonce>"'),
    (re.compile(r"(/pay/)[A-Za-z0-9_-]{16,}"), r"\1<token>"),
    (re.compile(r'(data-frame-id=")[^"]*"'), r'\1<frame>"'),
    (re.compile(r"\b\d{3}-\d{9}\b"), "<number>"),
    # Content-hashed asset names (web/assets.py) change with every edit of the file.
    (re.compile(r"(/[\w./-]+\.)[0-9a-f]{8}(\.(?:css|js|svg|ico)\b)"), r"\1<hash>\2"),
]


def masked(html: str) -> str:
    for pattern, replacement in _MASKS:
        html = pattern.sub(replacement, html)
    return html


def check(name: str, html: str) -> None:
    path = SNAPSHOTS / f"{name}.html"
    text = masked(html)
    if UPDATE or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"snapshot {path.name} was missing and has been written; run again")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its snapshot"


@pytest.fixture
async def pinned_client(sqlite_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    clock.set_now(lambda: NOW)
    database = Database(sqlite_url)
    try:
        async with database.transaction() as conn:
            await merchants_service.seed_demo_merchant(conn)
        app = create_app(make_settings(sqlite_url), db=database, migrate=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=TEST_PUBLIC_URL) as http:
            yield http, database
    finally:
        clock.set_now(None)
        await database.dispose()


def _payload(**overrides: Any) -> dict[str, Any]:
    items = [
        basket_item(sku="a", name="Полёт в аэротрубе", quantity=2, amount=Decimal("1200.00")),
        basket_item(
            sku="b",
            name="Фото и видео",
            quantity=Decimal("1.5"),
            amount=Decimal("350.50"),
            vat_code="RUS_VAT20",
        ),
    ]
    payload = order_payload(items=items, **overrides)
    payload["expirationDate"] = (NOW + timedelta(days=3, hours=5)).isoformat()
    return payload


async def _order(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post(ORDERS, content=body(_payload(**overrides)), headers=DEMO_AUTH)
    assert response.status_code == 200, response.text
    return read(response)["data"]


def _path(order: dict[str, Any]) -> str:
    return httpx.URL(order["paymentUrl"]).path


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_payment_page_success_and_receipt_keep_their_text(
    pinned_client: tuple[httpx.AsyncClient, Database], lang: str
) -> None:
    client, _ = pinned_client
    order = await _order(client, languageId=lang)
    path = _path(order)

    page = await client.get(path)
    assert page.status_code == 200
    check(f"payment_page.{lang}", page.text)

    token = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
    expected = re.search(r'name="expected_amount" value="([^"]*)"', page.text)
    assert token and expected
    paid = await client.post(
        f"{path}/pay",
        data={
            "csrf_token": token.group(1),
            "expected_amount": expected.group(1),
            "customer_type": "private",
            "name": "Иван Петров",
            "email": "ivan@example.com",
            "phone": "+7 999 000 11 22",
            "card_number": "4242 4242 4242 4242",
            "card_expiry": "12/40",
            "card_cvc": "123",
        },
    )
    assert paid.status_code == 303, paid.text
    success = await client.get(paid.headers["location"])
    check(f"success.{lang}", success.text)
    receipt = await client.get(f"{path}/receipt")
    assert receipt.status_code == 200
    check(f"receipt.{lang}", receipt.text)


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_marketplace_pages_keep_their_text(
    pinned_client: tuple[httpx.AsyncClient, Database], lang: str
) -> None:
    client, database = pinned_client
    async with database.transaction() as conn:
        shop = await marketplace_service.create_point_of_sale(
            conn,
            merchant_id=DEMO_MERCHANT_ID,
            title="Кофейни города",
            description="Кофе и выпечка",
            registration_address="Невский пр., 1",
            delivery_info="Доставка от 30 минут",
        )
        for i in range(4):
            await marketplace_service.create_point_of_sale(
                conn, merchant_id=DEMO_MERCHANT_ID, title=f"Кофейня {i + 2}"
            )
        await marketplace_service.upsert_special_offer(
            conn,
            merchant_id=DEMO_MERCHANT_ID,
            external_id="spring",
            start_at=NOW - timedelta(days=1),
            finish_at=NOW + timedelta(days=20),
            description="Второй кофе в подарок",
            name="Весна",
            shop_id=shop["id"],
        )

    for name, path, params in [
        ("home", "/", {}),
        ("search", "/", {"q": "кофейни"}),
        ("nothing_found", "/", {"q": "такси"}),
        ("offers", "/marketplace/offers", {}),
        ("buyer", "/marketplace/buyer", {}),
        ("point_of_sale", f"/marketplace/shop/{shop['id']}", {}),
        ("help", "/help", {}),
        ("offer", "/legal/offer", {}),
        ("privacy", "/legal/privacy", {}),
    ]:
        page = await client.get(path, params={**params, "lang": lang})
        assert page.status_code == 200, (name, page.text)
        check(f"marketplace.{name}.{lang}", page.text)
