"""Add-ons: the seller's opt-out and the operator's order and limit (docs/miniapps.md "Add-ons:
opt-out and ordering"), on SQLite and PostgreSQL. What the payment page's strip shows and what
the API admits stay one rule: an invoice whose seller turned add-ons off (on the order, or by
default on its point of sale) shows no strip and refuses add-on suborders with `addons_off`;
the strip follows the operator's positions and shows at most the operator's limit, and an
add-on past the limit is refused like one that is not offered at all."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from marketbox.cli.demo import FLIGHT_META_DATA
from marketbox.marketplace import addons as marketplace_addons
from marketbox.marketplace import service as marketplace_service
from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.office import service as office_service
from marketbox.storage.db import Database
from tests.conftest import TEST_PUBLIC_URL, body, read
from tests.integration.test_cli import _pending_addon, one_line, run_cli
from tests.integration.test_payment_page import page_path
from tests.support.builders import basket_item, order_payload
from tests.support.office import PASSWORD, csrf_of, log_in
from tests.support.statements import statements_sent

ORDERS = "/v3/billing/api/order/order"
SHOPS = "/v3/marketplace/api/shop"
# Three add-ons for every flight (no addonRule), created in this order.
ADDONS = ("Такси", "Страховка", "Бизнес-зал")
_NUMBERS = itertools.count(1)


class Seller:
    """A merchant with its own API client."""

    def __init__(self, merchant_id: str, http: httpx.AsyncClient) -> None:
        self.id = merchant_id
        self.http = http

    async def order(self, **values: Any) -> httpx.Response:
        values.setdefault("notificationUrl", f"https://{self.id[:8]}.example/notify")
        return await self.http.post(
            ORDERS, content=body(order_payload(merchant_id=self.id, **values))
        )


@pytest.fixture
async def sellers(app: Any, db: Database) -> AsyncIterator[dict[str, Seller]]:
    """The airline (the demo shop) and one merchant per add-on, each with an approved add-on
    point of sale whose mini-app is offered on every invoice."""
    found: dict[str, Seller] = {}
    clients = []
    for name in ("airline", *ADDONS):
        async with db.transaction() as conn:
            if name == "airline":
                merchant_id, token = DEMO_MERCHANT_ID, merchants_service.DEMO_TOKEN
            else:
                credentials = await merchants_service.create_merchant(conn, name=name)
                merchant_id, token = credentials.id, credentials.token
                await marketplace_service.create_point_of_sale(
                    conn,
                    merchant_id=merchant_id,
                    title=name,
                    mini_app={
                        "url": f"https://addon-{len(found)}.example/app",
                        "modes": ["suborder"],
                    },
                )
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=TEST_PUBLIC_URL,
            headers={"Authorization": f"Bearer {token}"},
        )
        clients.append(http)
        found[name] = Seller(merchant_id, http)
    yield found
    for http in clients:
        await http.aclose()


async def addon_ids(db: Database) -> dict[str, int]:
    async with db.transaction() as conn:
        return {a["title"]: a["id"] for a in await marketplace_addons.list_addons(conn)}


async def flight(airline: Seller, **values: Any) -> dict[str, Any]:
    items = [basket_item(sku="SU1234", name="Авиабилет", amount=Decimal("12480.00"))]
    response = await airline.order(
        merchant_order_id=f"FLIGHT-{next(_NUMBERS)}",
        items=items,
        metaData=FLIGHT_META_DATA,
        **values,
    )
    assert response.status_code == 200, response.text
    return read(response)["data"]


async def join(seller: Seller, invoice: dict[str, Any]) -> httpx.Response:
    items = [basket_item(sku="extra", name="Услуга", amount=Decimal("900.00"))]
    return await seller.order(
        merchant_order_id=f"EXTRA-{next(_NUMBERS)}",
        items=items,
        orderContainerId=invoice["orderContainerId"],
    )


def refusal_code(response: httpx.Response) -> str:
    """The `orderContainerId` field's code of a 403 refusal (the envelope's `error.fields`)."""
    assert response.status_code == 403, response.text
    error = read(response)["error"]
    assert error["code"] == "forbidden"
    return next(f["code"] for f in error["fields"] if f["name"] == "orderContainerId")


async def cards(client: httpx.AsyncClient, invoice: dict[str, Any]) -> list[int]:
    page = await client.get(page_path(invoice))
    assert page.status_code == 200
    return [int(found) for found in re.findall(r'data-addon-card="(\d+)"', page.text)]


async def test_an_order_that_turns_add_ons_off_refuses_them_with_addons_off(
    client: httpx.AsyncClient, db: Database, sellers: dict[str, Seller]
) -> None:
    invoice = await flight(sellers["airline"], orderSetting={"allowAddons": False})

    assert refusal_code(await join(sellers["Такси"], invoice)) == "addons_off"
    assert await cards(client, invoice) == []
    # Another merchant's refusal changed nothing; the airline's own suborder still joins.
    own = await sellers["airline"].order(
        merchant_order_id="BAGGAGE", orderContainerId=invoice["orderContainerId"]
    )
    assert own.status_code == 200, own.text


async def test_a_point_of_sale_turns_add_ons_off_for_its_orders_invoices(
    client: httpx.AsyncClient, db: Database, sellers: dict[str, Seller]
) -> None:
    airline = sellers["airline"]
    created = await airline.http.post(SHOPS, content=body({"title": "Рейсы", "allowAddons": False}))
    assert created.status_code == 200, created.text
    point = read(created)["data"]
    assert point["allowAddons"] is False

    inherited = await flight(airline, shopId=point["id"])
    assert await cards(client, inherited) == []
    assert refusal_code(await join(sellers["Такси"], inherited)) == "addons_off"

    # The order's own word wins over its point of sale's default ...
    chosen = await flight(airline, shopId=point["id"], orderSetting={"allowAddons": True})
    assert len(await cards(client, chosen)) == len(ADDONS)
    assert (await join(sellers["Такси"], chosen)).status_code == 200
    # ... an order without a point of sale is not touched by it ...
    plain = await flight(airline)
    assert len(await cards(client, plain)) == len(ADDONS)

    # ... and turned back on, the point of sale's open invoices offer add-ons again.
    again = await airline.http.post(f"{SHOPS}/{point['id']}", content=body({"allowAddons": True}))
    assert read(again)["data"]["allowAddons"] is True
    assert len(await cards(client, inherited)) == len(ADDONS)
    assert (await join(sellers["Страховка"], inherited)).status_code == 200


async def test_a_point_of_sale_refuses_allow_addons_null(
    db: Database, sellers: dict[str, Seller]
) -> None:
    airline = sellers["airline"]
    created = read(await airline.http.post(SHOPS, content=body({"title": "Рейсы"})))["data"]
    assert created["allowAddons"] is True  # today's behaviour is the default

    cleared = await airline.http.post(
        f"{SHOPS}/{created['id']}", content=body({"allowAddons": None})
    )

    assert cleared.status_code == 422, cleared.text
    assert [f["name"] for f in read(cleared)["error"]["fields"]] == ["allowAddons"]
    fetched = read(await airline.http.get(f"{SHOPS}/{created['id']}"))["data"]
    assert fetched["allowAddons"] is True


async def test_the_openapi_documents_the_opt_out(client: httpx.AsyncClient) -> None:
    schemas = read(await client.get("/openapi.json"))["components"]["schemas"]

    for name in ("CreateShopRequest", "UpdateShopRequest", "ShopResponse", "OrderSetting"):
        assert "allowAddons" in schemas[name]["properties"], name


async def test_the_strip_follows_the_operators_order_and_limit(
    client: httpx.AsyncClient, db: Database, sellers: dict[str, Seller]
) -> None:
    ids = await addon_ids(db)
    taxi, insurance, lounge = (ids[name] for name in ADDONS)
    invoice = await flight(sellers["airline"])
    assert await cards(client, invoice) == [taxi, insurance, lounge]  # oldest first by default

    async with db.transaction() as conn:
        await marketplace_addons.set_addon_position(conn, lounge, 1)
        await marketplace_addons.set_addon_position(conn, insurance, 2)
        await marketplace_addons.set_strip_limit(conn, 2)

    assert await cards(client, invoice) == [lounge, insurance]
    # Admission follows what is shown: the taxi, past the limit, is refused ...
    assert refusal_code(await join(sellers["Такси"], invoice)) == "forbidden"
    joined = await join(sellers["Бизнес-зал"], invoice)
    assert joined.status_code == 200, joined.text
    assert read(joined)["data"]["shopId"] == lounge
    # ... until the operator lifts the limit; an unplaced add-on follows the placed ones.
    async with db.transaction() as conn:
        await marketplace_addons.set_strip_limit(conn, None)
    assert await cards(client, invoice) == [lounge, insurance, taxi]
    assert (await join(sellers["Такси"], invoice)).status_code == 200


async def test_the_operator_settings_refuse_what_is_out_of_range(
    db: Database, sellers: dict[str, Seller]
) -> None:
    taxi = (await addon_ids(db))["Такси"]
    for typed in ("0", "-1", "x", "1.5", "²", "1000000"):
        with pytest.raises(marketplace_addons.BadStripSetting):
            marketplace_addons.parse_strip_number(typed, maximum=marketplace_addons.MAX_POSITION)
    assert marketplace_addons.parse_strip_number(" none ", maximum=5) is None
    assert marketplace_addons.parse_strip_number("", maximum=5) is None
    async with db.transaction() as conn:
        with pytest.raises(marketplace_addons.BadStripSetting):
            await marketplace_addons.set_strip_limit(conn, marketplace_addons.MAX_STRIP_LIMIT + 1)
        with pytest.raises(marketplace_addons.BadStripSetting):
            await marketplace_addons.set_addon_position(conn, taxi, 0)
    async with db.transaction() as conn:
        assert await marketplace_addons.strip_limit(conn) is None
        assert {a["position"] for a in await marketplace_addons.list_addons(conn)} == {None}


# --- the office -------------------------------------------------------------------------------


async def office_client(
    client: httpx.AsyncClient, db: Database, email: str, *, merchant_id: str, role: str
) -> str:
    async with db.transaction() as conn:
        await office_service.create_user(
            conn, email=email, merchant_id=merchant_id, role=role, password=PASSWORD
        )
    client.headers.pop("Authorization", None)
    assert (await log_in(client, email)).status_code == 303
    return csrf_of((await client.get("/office/orders")).text)


async def test_the_operator_orders_and_limits_the_strip_in_the_office(
    client: httpx.AsyncClient, db: Database, sellers: dict[str, Seller]
) -> None:
    ids = await addon_ids(db)
    taxi, insurance, lounge = (ids[name] for name in ADDONS)
    invoice = await flight(sellers["airline"])
    csrf = await office_client(
        client, db, "ops@platform.test", merchant_id=DEMO_MERCHANT_ID, role="operator"
    )
    page = await client.get("/office/operator/addons")
    assert page.status_code == 200
    assert 'href="/office/operator/addons"' in page.text

    ordered = await client.post(
        "/office/operator/addons/order",
        data={"csrf": csrf, f"position_{taxi}": "2", f"position_{insurance}": "1"},
    )
    assert ordered.status_code == 303
    limited = await client.post("/office/operator/addons/limit", data={"csrf": csrf, "limit": "2"})
    assert limited.status_code == 303

    assert await cards(client, invoice) == [insurance, taxi]
    shown = await client.get("/office/operator/addons?lang=en")
    assert "The limit is saved." not in shown.text  # only after the redirect's `done`
    assert shown.text.index(f'data-addon="{insurance}"') < shown.text.index(f'data-addon="{taxi}"')
    assert 'data-limit="2"' in shown.text

    # A bad value changes nothing and says why, in the page's language.
    bad = await client.post(
        "/office/operator/addons/order",
        data={"csrf": csrf, f"position_{lounge}": "1", f"position_{taxi}": "first"},
    )
    assert bad.status_code == 422
    assert "A position is a whole number from 1 to 10000" in bad.text  # ?lang=en is kept
    bad_limit = await client.post(
        "/office/operator/addons/limit", data={"csrf": csrf, "limit": "0"}
    )
    assert bad_limit.status_code == 422
    assert await cards(client, invoice) == [insurance, taxi]
    # Without the session's CSRF token nothing is changed.
    forged = await client.post("/office/operator/addons/limit", data={"limit": ""})
    assert forged.status_code == 403
    cleared = await client.post("/office/operator/addons/limit", data={"csrf": csrf, "limit": ""})
    assert cleared.status_code == 303
    assert await cards(client, invoice) == [insurance, taxi, lounge]


async def test_the_operator_revokes_and_approves_an_add_on_in_the_office(
    client: httpx.AsyncClient, db: Database, sellers: dict[str, Seller]
) -> None:
    ids = await addon_ids(db)
    taxi, insurance, lounge = (ids[name] for name in ADDONS)
    invoice = await flight(sellers["airline"])
    csrf = await office_client(
        client, db, "ops@platform.test", merchant_id=DEMO_MERCHANT_ID, role="operator"
    )

    revoked = await client.post(f"/office/operator/addons/{taxi}/revoked", data={"csrf": csrf})

    assert revoked.status_code == 303
    assert "Услуга отозвана" in (await client.get(revoked.headers["location"])).text
    assert await cards(client, invoice) == [insurance, lounge]
    assert refusal_code(await join(sellers["Такси"], invoice)) == "forbidden"
    approved = await client.post(f"/office/operator/addons/{taxi}/approved", data={"csrf": csrf})
    assert approved.status_code == 303
    assert await cards(client, invoice) == [taxi, insurance, lounge]
    unknown = await client.post("/office/operator/addons/987654/revoked", data={"csrf": csrf})
    assert unknown.status_code == 404
    forged = await client.post(f"/office/operator/addons/{taxi}/revoked", data={})
    assert forged.status_code == 403
    assert await cards(client, invoice) == [taxi, insurance, lounge]


async def test_a_merchants_user_cannot_order_the_strip(
    client: httpx.AsyncClient, db: Database, sellers: dict[str, Seller]
) -> None:
    csrf = await office_client(
        client, db, "owner@shop.test", merchant_id=DEMO_MERCHANT_ID, role="merchant"
    )

    assert (await client.get("/office/operator/addons")).status_code == 404
    refused = await client.post("/office/operator/addons/limit", data={"csrf": csrf, "limit": "1"})
    assert refused.status_code == 404
    taxi = (await addon_ids(db))["Такси"]
    revoke = await client.post(f"/office/operator/addons/{taxi}/revoked", data={"csrf": csrf})
    assert revoke.status_code == 404
    async with db.transaction() as conn:
        assert {a["addonStatus"] for a in await marketplace_addons.list_addons(conn)} == {
            "approved"
        }
    async with db.transaction() as conn:
        assert await marketplace_addons.strip_limit(conn) is None


async def test_a_merchant_turns_add_ons_off_for_a_point_of_sale_in_the_office(
    client: httpx.AsyncClient, db: Database, sellers: dict[str, Seller]
) -> None:
    airline = sellers["airline"]
    point = read(await airline.http.post(SHOPS, content=body({"title": "Рейсы"})))["data"]
    invoice = await flight(airline, shopId=point["id"])
    csrf = await office_client(
        client, db, "owner@shop.test", merchant_id=DEMO_MERCHANT_ID, role="merchant"
    )
    listed = await client.get("/office/points-of-sale")
    assert 'data-allow-addons="on"' in listed.text

    off = await client.post(
        f"/office/points-of-sale/{point['id']}/addons", data={"csrf": csrf, "allow": "off"}
    )

    assert off.status_code == 303
    after = await client.get(off.headers["location"])
    assert "Услуги партнёров в счетах этой точки продаж выключены." in after.text
    assert 'data-allow-addons="off"' in after.text
    assert await cards(client, invoice) == []
    assert refusal_code(await join(sellers["Такси"], invoice)) == "addons_off"
    # Another merchant's point of sale is not this user's to switch.
    foreign = (await addon_ids(db))["Такси"]
    other = await client.post(
        f"/office/points-of-sale/{foreign}/addons", data={"csrf": csrf, "allow": "off"}
    )
    assert other.status_code == 404


# --- the CLI ----------------------------------------------------------------------------------


def test_the_operator_orders_and_limits_the_strip_from_the_cli(tmp_path: Path) -> None:
    db_file = tmp_path / "cli.db"
    production = {"MARKETBOX_MODE": "production", "MARKETBOX_SESSION_SECRET": "cli-test"}
    created = run_cli("merchant", "create", "--name", "Такси", "--json", db=db_file, **production)
    assert created.returncode == 0, created.stderr
    first = asyncio.run(_pending_addon(db_file, json.loads(created.stdout)["merchantId"]))
    second = asyncio.run(_pending_addon(db_file, json.loads(created.stdout)["merchantId"]))

    placed = run_cli("addon", "position", str(second), "1", "--json", db=db_file, **production)
    assert placed.returncode == 0, placed.stderr
    assert json.loads(placed.stdout)["position"] == 1
    listed = run_cli("addon", "list", "--json", db=db_file, **production)
    assert [(p["id"], p["position"]) for p in json.loads(listed.stdout)] == [
        (second, 1),
        (first, None),
    ]
    assert "position: 1" in run_cli("addon", "list", db=db_file, **production).stdout

    assert run_cli("addon", "limit", db=db_file, **production).stdout.strip() == "limit: none"
    limited = run_cli("addon", "limit", "3", "--json", db=db_file, **production)
    assert json.loads(limited.stdout) == {"limit": 3}
    lifted = run_cli("addon", "limit", "none", db=db_file, **production)
    assert lifted.stdout.strip() == "limit: none"

    for args in (("limit", "0"), ("limit", "many"), ("position", str(first), "-2")):
        refused = run_cli("addon", *args, db=db_file, **production)
        assert refused.returncode == 1, refused.stderr
        assert "whole number" in one_line(refused.stderr)
    unknown = run_cli("addon", "position", "987654", "1", db=db_file, **production)
    assert unknown.returncode == 1
    assert "987654" in one_line(unknown.stderr)


async def test_the_strip_reads_the_add_ons_once(
    client: httpx.AsyncClient, db: Database, sellers: dict[str, Seller]
) -> None:
    # The cards, their frames' metaData and the add-on origins the page's CSP lets it frame
    # come from one read of the add-ons (and the invoice's orders read once for both).
    invoice = await flight(sellers["airline"])
    assert len(await cards(client, invoice)) == 3

    with statements_sent(db) as statements:
        page = await client.get(page_path(invoice))

    assert page.status_code == 200
    strip_reads = [s for s in statements if "offers_addon" in s and "points_of_sale" in s]
    assert len(strip_reads) == 1, "\n\n".join(strip_reads)
    frame_src = next(
        part
        for part in page.headers["content-security-policy"].split(";")
        if part.strip().startswith("frame-src")
    )
    assert all(f"https://addon-{n}.example" in frame_src for n in (1, 2, 3)), frame_src
