"""Order API over HTTP on SQLite and PostgreSQL: create, read, list, update, cancel."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from marketbox.app import create_app
from marketbox.config import Settings
from marketbox.merchants.service import DEMO_MERCHANT_ID, create_merchant
from marketbox.storage.db import Database
from tests.conftest import TEST_PUBLIC_URL, body, read
from tests.support.builders import basket_item, order_payload

ORDERS = "/v3/billing/api/order/order"
SHOPS = "/v3/marketplace/api/shop"
PHP_REQUIRED = (
    "id paymentUrl createdAt status description merchantId merchantOrderId amount vatAmount "
    "currencyId customer orderContainerId basketItems expirationDate"
).split()
ITEM_FIELDS = (
    "sku name measure measureCode quantity amount amountWoVat totalAmount totalVatAmount "
    "vatCode type paymentType"
).split()


async def create(api: httpx.AsyncClient, **overrides: object) -> dict:
    response = await api.post(ORDERS, content=body(order_payload(**overrides)))
    assert response.status_code == 200, response.text
    return read(response)["data"]


async def test_create_order_answers_every_field_php_sdk_reads(api: httpx.AsyncClient) -> None:
    items = [basket_item(quantity=3, amount=Decimal("123.96"), vat_code="RUS_VAT20")]
    shop = read(await api.post(SHOPS, content=body({"title": "Касса"})))["data"]
    order = await create(api, items=items, shopId=str(shop["id"]))  # PHP sends it as text

    assert set(PHP_REQUIRED) <= set(order)
    assert set(ITEM_FIELDS) <= set(order["basketItems"][0])
    assert order["amount"] == Decimal("371.88")
    assert order["vatAmount"] == Decimal("61.98")
    assert order["basketItems"][0]["amountWoVat"] == Decimal("103.30")
    assert order["shopId"] == shop["id"]
    assert order["status"] == "created"
    assert order["paymentUrl"] == f"http://testserver/order/{order['orderContainerId']}"


async def test_amounts_round_trip_exactly_as_json_numbers(api: httpx.AsyncClient) -> None:
    amount = Decimal("19658.45")
    order = await create(api, items=[basket_item(amount=amount)])
    response = await api.get(f"{ORDERS}/{order['id']}")

    assert b'"amount":19658.45' in response.content
    assert read(response)["data"]["amount"] == amount


async def test_php_float_noise_is_judged_not_crashed(api: httpx.AsyncClient) -> None:
    raw = body(order_payload(items=[basket_item(amount=Decimal("0.30"))])).replace(
        b'"amount":0.30,', b'"amount":0.30000000000000004,'
    )
    response = await api.post(ORDERS, content=raw)

    assert response.status_code == 200, response.text
    assert read(response)["data"]["amount"] == Decimal("0.30")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"amount": Decimal("1.00")}, "wrong_total_amount"),
        ({"vatAmount": Decimal("5.00")}, "wrong_total_vat_amount"),
        ({"currencyId": "XYZ"}, "wrong_currency"),
        ({"languageId": "de"}, "language_not_found"),
        ({"expirationDate": "2001-01-01T00:00:00+00:00"}, "wrong_expiration_date"),
        ({"expirationDate": "tomorrow"}, "wrong_expiration_date"),
        ({"basketItems": []}, "validation_error"),
    ],
)
async def test_invalid_orders_get_their_documented_code(
    api: httpx.AsyncClient, change: dict, code: str
) -> None:
    payload = order_payload()
    payload.update(change)
    response = await api.post(ORDERS, content=body(payload))

    assert response.status_code == 422
    assert read(response)["error"]["code"] == code
    listed = read(await api.get("/v3/filter/api/order/order"))
    assert listed["metaData"]["totalCount"] == 0


@pytest.mark.parametrize(
    ("item_change", "code"),
    [
        ({"totalAmount": Decimal("99.00")}, "wrong_basket_item_total_amount"),
        ({"vatCode": "RUS_VAT20"}, "wrong_basket_item_total_vat_amount"),
        ({"amountWoVat": Decimal("90.00")}, "wrong_basket_item_amount_wo_vat"),
    ],
)
async def test_basket_item_rules(api: httpx.AsyncClient, item_change: dict, code: str) -> None:
    item = basket_item()
    item.update(item_change)
    payload = order_payload(items=[item])
    payload["amount"] = item["totalAmount"]
    response = await api.post(ORDERS, content=body(payload))

    assert response.status_code == 422
    assert read(response)["error"]["code"] == code


async def test_duplicate_merchant_order_id_is_refused(api: httpx.AsyncClient) -> None:
    await create(api, merchant_order_id="DUP-1")
    response = await api.post(ORDERS, content=body(order_payload(merchant_order_id="DUP-1")))

    assert response.status_code == 422
    assert read(response)["error"]["code"] == "merchant_order_id_duplicate"


async def test_suborder_joins_an_unpaid_container(api: httpx.AsyncClient) -> None:
    main = await create(api, merchant_order_id="MAIN")
    sub = await create(api, merchant_order_id="SUB", orderContainerId=main["orderContainerId"])

    assert sub["orderContainerId"] == main["orderContainerId"]
    assert sub["paymentUrl"] == main["paymentUrl"]


async def test_payment_url_is_issued_once_and_a_suborder_carries_its_containers(
    api: httpx.AsyncClient, settings: Settings, db: Database
) -> None:
    main = await create(api, merchant_order_id="MAIN")
    # The operator moves the platform: orders issued before keep the URL they were given.
    moved = settings.model_copy(update={"public_url": "https://pay.example/"})
    transport = httpx.ASGITransport(app=create_app(moved, db=db, migrate=False))
    async with httpx.AsyncClient(
        transport=transport, base_url=TEST_PUBLIC_URL, headers=api.headers
    ) as after_move:
        sub = await create(
            after_move, merchant_order_id="SUB", orderContainerId=main["orderContainerId"]
        )
        main_again = read(await after_move.get(f"{ORDERS}/{main['id']}"))["data"]
        fresh = await create(after_move, merchant_order_id="NEW")

    assert main["paymentUrl"] == f"{TEST_PUBLIC_URL}/order/{main['orderContainerId']}"
    assert sub["paymentUrl"] == main_again["paymentUrl"] == main["paymentUrl"]
    assert fresh["paymentUrl"] == f"https://pay.example/order/{fresh['orderContainerId']}"


async def test_suborder_into_unknown_container_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.post(
        ORDERS,
        content=body(order_payload(orderContainerId="01a22115-0000-7000-8000-000000000000")),
    )
    assert response.status_code == 422
    assert read(response)["error"]["fields"][0]["name"] == "orderContainerId"


async def test_canceled_container_accepts_no_suborder(api: httpx.AsyncClient) -> None:
    main = await create(api, merchant_order_id="MAIN")
    canceled = await api.delete(f"{ORDERS}/{main['id']}")
    assert read(canceled)["data"]["status"] == "canceled"

    response = await api.post(
        ORDERS,
        content=body(
            order_payload(merchant_order_id="SUB", orderContainerId=main["orderContainerId"])
        ),
    )
    assert response.status_code == 422
    assert read(response)["error"]["code"] == "wrong_order_status"


async def test_update_before_payment_revalidates(api: httpx.AsyncClient) -> None:
    order = await create(api)
    new_items = [basket_item(quantity=2, amount=Decimal("50.00"))]
    ok = await api.put(
        f"{ORDERS}/{order['id']}",
        content=body(
            {"description": "Новое", "basketItems": new_items, "amount": Decimal("100.00")}
        ),
    )
    assert ok.status_code == 200, ok.text
    assert read(ok)["data"]["description"] == "Новое"

    bad = await api.put(f"{ORDERS}/{order['id']}", content=body({"amount": Decimal("7.00")}))
    assert read(bad)["error"]["code"] == "wrong_total_amount"


async def test_cancel_twice_is_wrong_order_status(api: httpx.AsyncClient) -> None:
    order = await create(api)
    first = await api.delete(f"{ORDERS}/{order['id']}")
    second = await api.delete(f"{ORDERS}/{order['id']}")

    assert first.status_code == 200
    assert read(second)["error"]["code"] == "wrong_order_status"


async def test_get_unknown_order_is_404_in_the_envelope(api: httpx.AsyncClient) -> None:
    response = await api.get(f"{ORDERS}/01a22115-0000-7000-8000-000000000000")

    assert response.status_code == 404
    assert read(response)["error"]["code"] == "not_found"
    assert response.headers["x-request-id"]


async def test_creating_for_another_merchant_is_forbidden(api: httpx.AsyncClient) -> None:
    response = await api.post(
        ORDERS, content=body(order_payload(merchant_id="01a22115-0000-7000-8000-00000000aaaa"))
    )
    assert response.status_code == 403
    assert read(response)["error"]["code"] == "forbidden"
    assert DEMO_MERCHANT_ID


@pytest.mark.parametrize("field", ["successUrl", "failUrl", "returnUrl", "notificationUrl"])
@pytest.mark.parametrize("url", ["javascript:alert(1)", "/relative/path", "ftp://example.com/x"])
async def test_redirect_and_callback_urls_must_be_absolute_http(
    api: httpx.AsyncClient, field: str, url: str
) -> None:
    response = await api.post(ORDERS, content=body(order_payload(**{field: url})))

    assert response.status_code == 422
    error = read(response)["error"]
    assert error["code"] == "validation_error"
    assert error["fields"][0]["name"] == field


async def test_production_refuses_plain_http_notification_urls(database_url: str) -> None:
    from tests.conftest import make_settings

    settings = make_settings(database_url, mode="production", session_secret="s" * 32)
    db = Database(settings.database_url)
    async with db.transaction() as conn:
        shop = await create_merchant(conn, name="Production shop")
    auth = {"Authorization": f"Bearer {shop.token}"}
    app = create_app(settings, db=db, migrate=False)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=auth
        ) as client:
            plain = await client.post(
                ORDERS,
                content=body(
                    order_payload(merchant_id=shop.id, notificationUrl="http://shop.example/n")
                ),
            )
            secure = await client.post(
                ORDERS,
                content=body(
                    order_payload(merchant_id=shop.id, notificationUrl="https://shop.example/n")
                ),
            )
    finally:
        await db.dispose()

    assert plain.status_code == 422
    assert read(plain)["error"]["fields"][0]["name"] == "notificationUrl"
    assert secure.status_code == 200
