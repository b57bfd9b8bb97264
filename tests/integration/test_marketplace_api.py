"""Marketplace API over HTTP on SQLite and PostgreSQL: points of sale, special offers, add-ons."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from marketbox.app import create_app
from marketbox.marketplace import addons as marketplace_addons
from marketbox.marketplace import service as marketplace_service
from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.storage.db import Database
from tests.conftest import TEST_PUBLIC_URL, body, make_settings, read
from tests.support.builders import basket_item, order_payload

SHOPS = "/v3/marketplace/api/shop"
OFFERS = "/v3/marketplace/api/special-offer"
ORDERS = "/v3/billing/api/order/order"
SHOP_RESPONSE_FIELDS = (
    "id merchantId title description type alias token shopUrl registrationAddress lat lon "
    "logoUrl imageUrls links deliveryInfo minOrderSum notificationEmail yandexMetrikaId "
    "jivositeId brandId accountProgramIds miniApp active createdAt updatedAt"
).split()
MOSCOW_AIRPORTS = ["SVO", "VKO", "DME"]


async def create_shop(api: httpx.AsyncClient, **payload: Any) -> dict[str, Any]:
    payload.setdefault("title", "Кофейни города")
    response = await api.post(SHOPS, content=body(payload))
    assert response.status_code == 200, response.text
    return read(response)["data"]


def field_names(response: httpx.Response) -> list[str]:
    return [f["name"] for f in read(response)["error"]["fields"]]


@pytest.fixture
async def other_api(app: Any, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A second merchant's client (same app); `.merchant_id` is its merchant."""
    async with db.transaction() as conn:
        credentials = await merchants_service.create_merchant(conn, name="Другой магазин")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=TEST_PUBLIC_URL,
        headers={"Authorization": f"Bearer {credentials.token}"},
    ) as other:
        other.merchant_id = credentials.id  # type: ignore[attr-defined]
        yield other


async def test_create_answers_a_shop_response(api: httpx.AsyncClient) -> None:
    shop = await create_shop(api, description="Кофе и выпечка", accountProgramIds=["p-1"])

    assert set(SHOP_RESPONSE_FIELDS) <= set(shop)
    assert isinstance(shop["id"], int)
    assert shop["merchantId"] == DEMO_MERCHANT_ID
    assert shop["type"] == "shop"
    assert shop["alias"].isdigit() and len(shop["alias"]) <= 20
    assert len(shop["token"]) == 32
    assert shop["shopUrl"] == f"{TEST_PUBLIC_URL}/marketplace/shop/{shop['id']}"
    assert shop["accountProgramIds"] == ["p-1"]
    assert shop["miniApp"] is None
    assert shop["active"] is True
    assert shop["createdAt"].endswith("+00:00")

    again = read(await api.get(f"{SHOPS}/{shop['id']}"))["data"]
    assert again == shop


async def test_coordinates_and_min_order_sum_are_exact_json_numbers(
    api: httpx.AsyncClient,
) -> None:
    lat, lon, min_sum = Decimal("59.9312280"), Decimal("30.345557"), Decimal("99.99")
    shop = await create_shop(api, lat=lat, lon=lon, minOrderSum=min_sum)
    response = await api.get(f"{SHOPS}/{shop['id']}")

    assert b'"lat":59.9312280' in response.content
    assert b'"lon":30.345557' in response.content
    assert b'"minOrderSum":99.99' in response.content
    data = read(response)["data"]
    assert (data["lat"], data["lon"], data["minOrderSum"]) == (lat, lon, min_sum)


async def test_merchant_id_may_name_only_the_tokens_merchant(
    api: httpx.AsyncClient, other_api: httpx.AsyncClient
) -> None:
    own = await create_shop(api, merchantId=DEMO_MERCHANT_ID.upper(), externalUpdate=True)
    assert own["merchantId"] == DEMO_MERCHANT_ID

    response = await api.post(
        SHOPS,
        content=body({"title": "Чужой", "merchantId": other_api.merchant_id}),  # type: ignore[attr-defined]
    )
    assert response.status_code == 403
    assert read(response)["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, ["title"]),
        ({"title": "x" * 51}, ["title"]),
        ({"title": "ok", "description": "x" * 2001}, ["description"]),
        ({"title": "ok", "type": "kiosk"}, ["type"]),
        ({"title": "ok", "lat": Decimal("90.5"), "lon": Decimal("-181")}, ["lat", "lon"]),
        ({"title": "ok", "minOrderSum": Decimal("1.001")}, ["minOrderSum"]),
        ({"title": "ok", "minOrderSum": Decimal("-1")}, ["minOrderSum"]),
        ({"title": "ok", "registrationAddress": "x" * 201}, ["registrationAddress"]),
        ({"title": "ok", "deliveryInfo": "x" * 1001}, ["deliveryInfo"]),
        ({"title": "ok", "shopUrl": "https://" + "x" * 60 + ".ru"}, ["shopUrl"]),
        ({"title": "ok", "notificationEmail": "nobody"}, ["notificationEmail"]),
        ({"title": "ok", "yandexMetrikaId": "abc"}, ["yandexMetrikaId"]),
        ({"title": "ok", "accountProgramIds": ["x" * 37]}, ["accountProgramIds[0]"]),
        (
            {"title": "ok", "links": [{"title": "Сайт", "url": "javascript:alert(1)"}]},
            ["links[0].url"],
        ),
        (
            {"title": "ok", "imageUrls": ["https://ok.example/a.png", "/relative.png"]},
            ["imageUrls[1]"],
        ),
        ({"title": "ok", "miniApp": {"url": "ftp://a.example"}}, ["miniApp.url"]),
        (
            {"title": "ok", "miniApp": {"url": "https://a.example", "modes": ["popup"]}},
            ["miniApp.modes[0]"],
        ),
        (
            {
                "title": "ok",
                "miniApp": {"url": "https://a.example", "origins": ["https://a.example/app"]},
            },
            ["miniApp.origins[0]"],
        ),
        (
            {
                "title": "ok",
                "miniApp": {
                    "url": "https://a.example",
                    "modes": ["suborder"],
                    "addonRule": {"any": []},
                },
            },
            ["miniApp.addonRule.any"],
        ),
        ({"title": "ok", "brandId": 999999}, ["brandId"]),
    ],
)
async def test_invalid_shops_name_their_fields(
    api: httpx.AsyncClient, payload: dict[str, Any], fields: list[str]
) -> None:
    response = await api.post(SHOPS, content=body(payload))

    assert response.status_code == 422, response.text
    assert read(response)["error"]["code"] == "validation_error"
    assert field_names(response) == fields


async def test_http_mini_app_is_refused_in_production(database_url: str, db: Database) -> None:
    settings = make_settings(database_url, mode="production", session_secret="test-secret")
    app = create_app(settings, db=db, migrate=False)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {merchants_service.DEMO_TOKEN}"}
    async with httpx.AsyncClient(
        transport=transport, base_url=TEST_PUBLIC_URL, headers=headers
    ) as http:
        refused = await http.post(
            SHOPS, content=body({"title": "ok", "miniApp": {"url": "http://a.example/app"}})
        )
        accepted = await http.post(
            SHOPS, content=body({"title": "ok", "miniApp": {"url": "https://a.example/app"}})
        )

    assert refused.status_code == 422
    assert field_names(refused) == ["miniApp.url"]
    assert accepted.status_code == 200, accepted.text


async def test_mini_app_defaults_and_flat_spelling(api: httpx.AsyncClient) -> None:
    shop = await create_shop(api, miniApp={"url": "http://127.0.0.1:8001/app?x=1"})
    assert shop["miniApp"] == {
        "url": "http://127.0.0.1:8001/app?x=1",
        "origins": ["http://127.0.0.1:8001"],
        "modes": ["order"],
        "addonRule": None,
    }
    flat = await create_shop(
        api, miniAppUrl="https://taxi.example/", miniAppModes=["suborder", "order"]
    )
    assert flat["miniApp"]["modes"] == ["order", "suborder"]
    assert flat["miniApp"]["origins"] == ["https://taxi.example"]


async def test_update_changes_only_what_is_sent(api: httpx.AsyncClient) -> None:
    shop = await create_shop(
        api, description="Кофе", registrationAddress="Невский пр., 1", lat=Decimal("59.93")
    )
    response = await api.post(
        f"{SHOPS}/{shop['id']}",
        content=body({"description": "Кофе и выпечка", "lat": None, "type": "offline"}),
    )

    assert response.status_code == 200, response.text
    updated = read(response)["data"]
    assert updated["description"] == "Кофе и выпечка"
    assert updated["type"] == "offline"
    assert updated["lat"] is None
    assert updated["registrationAddress"] == "Невский пр., 1"
    assert (updated["alias"], updated["token"]) == (shop["alias"], shop["token"])

    cleared_title = await api.post(f"{SHOPS}/{shop['id']}", content=body({"title": None}))
    assert cleared_title.status_code == 422
    assert field_names(cleared_title) == ["title"]


async def test_update_refreshes_the_search_text(api: httpx.AsyncClient) -> None:
    shop = await create_shop(api, title="Прачечная")
    await api.post(f"{SHOPS}/{shop['id']}", content=body({"title": "Бизнес-залы"}))

    found = read(await api.get(SHOPS, params={"q": "бизнес-зал"}))
    assert [s["id"] for s in found["data"]] == [shop["id"]]
    assert read(await api.get(SHOPS, params={"q": "прачечная"}))["data"] == []


async def test_brand_must_be_own_point_of_sale_of_type_brand(
    api: httpx.AsyncClient, other_api: httpx.AsyncClient
) -> None:
    brand = await create_shop(api, title="Сеть кофеен", type="brand")
    plain = await create_shop(api, title="Не бренд")
    foreign_brand = await create_shop(other_api, title="Чужой бренд", type="brand")

    linked = await create_shop(api, title="Кофейня №1", brandId=brand["id"])
    assert linked["brandId"] == brand["id"]
    for brand_id in (plain["id"], foreign_brand["id"]):
        response = await api.post(SHOPS, content=body({"title": "x", "brandId": brand_id}))
        assert response.status_code == 422
        assert field_names(response) == ["brandId"]


async def test_another_merchants_point_of_sale_is_not_found(
    api: httpx.AsyncClient, other_api: httpx.AsyncClient
) -> None:
    foreign = await create_shop(other_api, title="Чужая кофейня")

    for response in (
        await api.get(f"{SHOPS}/{foreign['id']}"),
        await api.post(f"{SHOPS}/{foreign['id']}", content=body({"title": "Моя"})),
        await api.get(f"{SHOPS}/999999"),
        await api.get(f"{SHOPS}/abc"),
    ):
        assert response.status_code == 404
        assert read(response)["error"]["code"] == "not_found"
    still = read(await other_api.get(f"{SHOPS}/{foreign['id']}"))["data"]
    assert still["title"] == "Чужая кофейня"


async def test_requests_without_a_token_are_unauthorized(client: httpx.AsyncClient) -> None:
    response = await client.post(SHOPS, content=body({"title": "x"}))
    assert response.status_code == 401
    assert read(response)["error"]["code"] == "unauthorized"


async def test_list_shows_own_points_of_sale_with_paging_and_filters(
    api: httpx.AsyncClient, other_api: httpx.AsyncClient
) -> None:
    titles = ["Кофейня на Невском", "Такси «Быстро»", "Кофейни города"]
    created = [await create_shop(api, title=t) for t in titles]
    await create_shop(other_api, title="Кофейня чужая")
    await create_shop(api, title="Склад", type="offline")

    page = read(await api.get(SHOPS, params={"_pageSize": 2, "type": "shop"}))
    assert page["metaData"] == {"totalCount": 3, "pageSize": 2, "page": 1}
    assert [s["id"] for s in page["data"]] == [created[2]["id"], created[1]["id"]]

    found = read(await api.get(SHOPS, params={"q": "кофейня", "_order[id]": "asc"}))
    assert [s["title"] for s in found["data"]] == [titles[0], titles[2]]

    bad = await api.get(SHOPS, params={"color": "red"})
    assert bad.status_code == 422
    assert field_names(bad) == ["color"]


# --- special offers ---------------------------------------------------------------------------


def offer(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "merchantId": DEMO_MERCHANT_ID,
        "externalId": "birthday",
        "active": True,
        "startAt": "2023-01-01T12:00:00Z",
        "finishAt": "2099-01-01T12:00:00+03:00",
        "name": "Скидка именинникам",
        "description": "10 % в день рождения",
        "tags": ["birthday"],
    }
    payload.update(overrides)
    return payload


async def test_special_offer_is_upserted_by_external_id(
    api: httpx.AsyncClient, other_api: httpx.AsyncClient
) -> None:
    first = await api.post(OFFERS, content=body(offer()))
    assert first.status_code == 200, first.text
    created = read(first)["data"]
    assert created["startAt"] == "2023-01-01T12:00:00+00:00"
    assert created["finishAt"] == "2099-01-01T09:00:00+00:00"
    assert created["tags"] == ["birthday"]

    second = read(await api.post(OFFERS, content=body(offer(active=False, tags=["vip"]))))["data"]
    assert second["id"] == created["id"]
    assert (second["active"], second["tags"]) == (False, ["vip"])

    other_payload = offer(merchantId=other_api.merchant_id)  # type: ignore[attr-defined]
    foreign = read(await other_api.post(OFFERS, content=body(other_payload)))["data"]
    assert foreign["id"] != created["id"]


async def test_special_offer_validation(
    api: httpx.AsyncClient, other_api: httpx.AsyncClient
) -> None:
    foreign_shop = await create_shop(other_api, title="Чужая")
    own_shop = await create_shop(api, title="Своя")
    cases = [
        (offer(finishAt="2022-01-01T00:00:00Z"), 422, ["finishAt"]),
        (offer(startAt="вчера"), 422, ["startAt"]),
        (offer(description="x" * 1001), 422, ["description"]),
        (offer(externalId="x" * 37), 422, ["externalId"]),
        (offer(shopId=foreign_shop["id"]), 422, ["shopId"]),
        ({"externalId": "x"}, 422, ["active", "startAt", "finishAt", "description", "tags"]),
        (offer(merchantId=other_api.merchant_id), 403, []),  # type: ignore[attr-defined]
    ]
    for payload, status, fields in cases:
        response = await api.post(OFFERS, content=body(payload))
        assert response.status_code == status, (payload, response.text)
        assert field_names(response) == fields

    linked = read(await api.post(OFFERS, content=body(offer(shopId=own_shop["id"]))))["data"]
    assert linked["shopId"] == own_shop["id"]


# --- add-ons for an invoice -------------------------------------------------------------------


def flight(departure: str, arrival: str) -> dict[str, Any]:
    return {
        "@context": "https://schema.org",
        "@type": "ReservationPackage",
        "subReservation": [
            {
                "@type": "FlightReservation",
                "reservationFor": {
                    "@type": "Flight",
                    "flightNumber": "SU1234",
                    "departureTime": "2024-08-01T10:00:00+03:00",
                    "departureAirport": {"@type": "Airport", "iataCode": departure},
                    "arrivalAirport": {"@type": "Airport", "iataCode": arrival},
                },
            }
        ],
    }


def suborder_app(url: str, rule: dict[str, Any] | None) -> dict[str, Any]:
    return {"url": url, "modes": ["suborder"], "addonRule": rule}


async def test_addons_follow_the_invoice_metadata(api: httpx.AsyncClient, db: Database) -> None:
    moscow_lounge = await create_shop(
        api,
        title="Бизнес-залы Москвы",
        miniApp=suborder_app(
            "https://lounge.example/app", {"any": [{"key": "iataCode", "values": MOSCOW_AIRPORTS}]}
        ),
    )
    led_lounge = await create_shop(
        api,
        title="Бизнес-зал Пулково",
        miniApp=suborder_app("https://led.example/app", {"key": "iataCode", "values": ["LED"]}),
    )
    insurance = await create_shop(
        api, title="Страховка", miniApp=suborder_app("https://ins.example/", None)
    )
    order_only = await create_shop(api, title="Кофейня", miniApp={"url": "https://c.example/"})
    hidden = await create_shop(
        api,
        title="Закрытый зал",
        active=False,
        miniApp=suborder_app("https://x.example/", {"key": "iataCode", "values": ["SVO"]}),
    )
    taxi_meta = {"@type": "TaxiReservation", "pickupLocation": {"iataCode": "AER"}}
    main = read(
        await api.post(
            ORDERS,
            content=body(
                order_payload(
                    metaData=flight("SVO", "AER"),
                    items=[basket_item(metaData={"seat": "12A"})],
                )
            ),
        )
    )["data"]
    container_id = main["orderContainerId"]

    async with db.transaction() as conn:
        meta = await marketplace_addons.container_meta_data(conn, container_id)
        addons = await marketplace_addons.addons_for_container(conn, container_id)
    assert meta == [flight("SVO", "AER"), {"seat": "12A"}]
    offered = {a.shop_id: a for a in addons}
    assert moscow_lounge["id"] in offered
    assert insurance["id"] in offered
    assert led_lounge["id"] not in offered
    assert order_only["id"] not in offered
    assert hidden["id"] not in offered
    lounge = offered[moscow_lounge["id"]]
    assert (lounge.url, lounge.origins, lounge.added) == (
        "https://lounge.example/app",
        ("https://lounge.example",),
        False,
    )

    # A suborder of the lounge joins the invoice: its card is now "added", and its metadata
    # comes after the main order's.
    sub = await api.post(
        ORDERS,
        content=body(
            order_payload(
                merchant_order_id="LOUNGE-1",
                orderContainerId=container_id,
                shopId=moscow_lounge["id"],
                metaData=taxi_meta,
            )
        ),
    )
    assert sub.status_code == 200, sub.text
    async with db.transaction() as conn:
        meta = await marketplace_addons.container_meta_data(conn, container_id)
        addons = await marketplace_addons.addons_for_container(conn, container_id)
    assert meta == [flight("SVO", "AER"), taxi_meta, {"seat": "12A"}]
    assert {a.shop_id: a.added for a in addons}[moscow_lounge["id"]] is True


async def test_addons_of_a_leningrad_flight(api: httpx.AsyncClient, db: Database) -> None:
    moscow = await create_shop(
        api,
        title="Бизнес-залы Москвы",
        miniApp=suborder_app(
            "https://lounge.example/app", {"any": [{"key": "iataCode", "values": MOSCOW_AIRPORTS}]}
        ),
    )
    led = await create_shop(
        api,
        title="Бизнес-зал Пулково",
        miniApp=suborder_app("https://led.example/app", {"key": "iataCode", "values": ["LED"]}),
    )
    main = read(await api.post(ORDERS, content=body(order_payload(metaData=flight("LED", "KZN")))))
    async with db.transaction() as conn:
        addons = await marketplace_addons.addons_for_container(
            conn, main["data"]["orderContainerId"]
        )
    assert [a.shop_id for a in addons] == [led["id"]]
    assert moscow["id"] not in [a.shop_id for a in addons]


async def test_the_main_orders_own_point_of_sale_is_no_addon(
    api: httpx.AsyncClient, db: Database
) -> None:
    both = await create_shop(
        api,
        title="Аэроэкспресс",
        miniApp={"url": "https://aeroexpress.example/", "modes": ["order", "suborder"]},
    )
    main = read(await api.post(ORDERS, content=body(order_payload(shopId=both["id"]))))["data"]
    async with db.transaction() as conn:
        addons = await marketplace_addons.addons_for_container(conn, main["orderContainerId"])
        unknown = await marketplace_addons.addons_for_container(
            conn, "01a22115-0000-7000-8000-000000000000"
        )
        garbage = await marketplace_addons.container_meta_data(conn, "not-a-uuid")
    assert both["id"] not in [a.shop_id for a in addons]
    assert unknown == [] and garbage == []


async def test_service_functions_work_without_http(db: Database) -> None:
    async with db.transaction() as conn:
        shop = await marketplace_service.create_point_of_sale(
            conn,
            merchant_id=DEMO_MERCHANT_ID,
            title="Демо-магазин",
            lat="55.755826",
            min_order_sum=Decimal("350"),
            mini_app={"url": "http://127.0.0.1:8001/"},
        )
        offer_row = await marketplace_service.upsert_special_offer(
            conn,
            merchant_id=DEMO_MERCHANT_ID,
            external_id="demo",
            start_at="2024-01-01T00:00:00Z",
            finish_at="2099-01-01T00:00:00Z",
            description="Скидка",
            tags=["demo"],
            shop_id=shop["id"],
        )
    assert shop["lat"] == Decimal("55.755826")
    assert shop["minOrderSum"] == Decimal("350.00")
    assert shop["miniApp"]["origins"] == ["http://127.0.0.1:8001"]
    assert offer_row["shopId"] == shop["id"]
