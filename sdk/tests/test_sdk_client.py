"""Merchant client requests and responses, sync and async, through httpx.MockTransport."""

import datetime as dt
import json
from decimal import Decimal

import httpx
import pytest
from sdk_support import (
    BASE_URL,
    CONTAINER_ID,
    MERCHANT_ID,
    ORDER_ID,
    TOKEN,
    Recorder,
    envelope,
    order_json,
    reply,
)

import marketbox_sdk as mb

EXPIRATION = dt.datetime(2024, 7, 26, tzinfo=dt.UTC)


def basket_item() -> mb.BasketItem:
    return mb.BasketItem(
        sku="tariff-2",
        name="Aeroexpress round-trip ticket",
        measure="шт.",
        measure_code="796",
        quantity=2,
        amount=Decimal("1050.00"),
        amount_wo_vat=Decimal("1050.00"),
        total_amount=Decimal("2100.00"),
        total_vat_amount=0,
        vat_code="VATNONE",
        type="service",
        payment_type="full_prepayment",
        service_date=dt.date(2024, 7, 30),
    )


EXPECTED_CREATE_BODY = (
    '{"merchantId":"ffffffff-ffff-ffff-ffff-ffffffffffff","merchantOrderId":"AX-2024-0001",'
    '"description":"Aeroexpress ticket, round trip","amount":2100.00,"vatAmount":0,'
    '"currencyId":"RUB","expirationDate":"2024-07-26T00:00:00+00:00","basketItems":[{'
    '"sku":"tariff-2","name":"Aeroexpress round-trip ticket","measure":"шт.",'
    '"measureCode":"796","quantity":2,"amount":1050.00,"amountWoVat":1050.00,'
    '"totalAmount":2100.00,"totalVatAmount":0,"vatCode":"VATNONE","type":"service",'
    '"paymentType":"full_prepayment","serviceDate":"2024-07-30"}],'
    '"customer":{"type":"private","name":"Ivan"},"languageId":"ru",'
    '"successUrl":"https://miniapp.example/success","shopId":333}'
)

CREATE_KWARGS = {
    "merchant_id": MERCHANT_ID,
    "merchant_order_id": "AX-2024-0001",
    "description": "Aeroexpress ticket, round trip",
    "amount": Decimal("2100.00"),
    "vat_amount": 0,
    "currency_id": "RUB",
    "expiration_date": EXPIRATION,
    "customer": mb.Customer(type="private", name="Ivan"),
    "language_id": "ru",
    "success_url": "https://miniapp.example/success",
    "shop_id": 333,
}


def _sync(respond) -> tuple[mb.Client, Recorder]:
    recorder = Recorder(respond)
    client = mb.Client(TOKEN, base_url=BASE_URL, transport=httpx.MockTransport(recorder))
    return client, recorder


def _async(respond) -> tuple[mb.AsyncClient, Recorder]:
    recorder = Recorder(respond)
    client = mb.AsyncClient(TOKEN, base_url=BASE_URL, transport=httpx.MockTransport(recorder))
    return client, recorder


def test_create_order_sends_exact_body_and_headers() -> None:
    client, recorder = _sync(reply(200, envelope(order_json())))

    with client:
        order = client.create_order(basket_items=[basket_item()], **CREATE_KWARGS)

    request = recorder.last
    assert request.method == "POST"
    assert str(request.url) == f"{BASE_URL}/v3/billing/api/order/order"
    assert request.content.decode() == EXPECTED_CREATE_BODY
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("marketbox-sdk/")
    assert order.id == ORDER_ID
    assert order.order_container_id == CONTAINER_ID
    assert order.amount == Decimal("2100.00")
    assert order.basket_items[0].service_date == dt.date(2024, 7, 30)
    assert order.created_at == dt.datetime(2024, 7, 25, 9, 0, tzinfo=dt.UTC)
    assert order.shop_id == 333
    assert order.raw["subtype"] == "order"


async def test_async_create_order_sends_the_same_body() -> None:
    client, recorder = _async(reply(200, envelope(order_json())))

    async with client:
        order = await client.create_order(basket_items=[basket_item()], **CREATE_KWARGS)

    assert recorder.last.content.decode() == EXPECTED_CREATE_BODY
    assert order.id == ORDER_ID


def test_create_suborder_in_container() -> None:
    client, recorder = _sync(reply(200, envelope(order_json())))
    order = mb.CreateOrder(
        merchant_id=MERCHANT_ID,
        merchant_order_id="SUB-1",
        description="suborder",
        amount=Decimal("2100.00"),
        vat_amount=Decimal("0"),
        currency_id="RUB",
        expiration_date=EXPIRATION,
        basket_items=[basket_item()],
        order_container_id=CONTAINER_ID,
    )

    client.create_order_request(order)

    body = recorder.last_json()
    assert body["orderContainerId"] == CONTAINER_ID
    assert body["customer"] == {}


def test_create_order_refuses_float_amount() -> None:
    client, recorder = _sync(reply(200, envelope(order_json())))
    kwargs = {**CREATE_KWARGS, "amount": 2100.0}

    with pytest.raises(TypeError):
        client.create_order(basket_items=[basket_item()], **kwargs)
    assert recorder.requests == []


def test_create_order_refuses_unknown_field() -> None:
    client, _ = _sync(reply(200, envelope(order_json())))

    with pytest.raises(TypeError):
        client.create_order(basket_items=[basket_item()], colour="red", **CREATE_KWARGS)


def test_user_agent_prefix_and_base_url_path() -> None:
    recorder = Recorder(reply(200, envelope(order_json())))
    client = mb.Client(
        TOKEN,
        base_url="https://host.test/api/",
        user_agent="DemoShop/1.0",
        transport=httpx.MockTransport(recorder),
    )

    client.get_order(ORDER_ID)

    assert str(recorder.last.url) == f"https://host.test/api/v3/billing/api/order/order/{ORDER_ID}"
    assert recorder.last.headers["User-Agent"].startswith("DemoShop/1.0 marketbox-sdk/")


def test_default_base_url_is_invoicebox() -> None:
    recorder = Recorder(reply(200, envelope(order_json())))
    client = mb.Client(TOKEN, transport=httpx.MockTransport(recorder))

    client.get_order(ORDER_ID)

    assert recorder.last.url.host == "api.invoicebox.ru"
    assert mb.DEFAULT_BASE_URL == "https://api.invoicebox.ru"


def test_token_is_not_in_repr() -> None:
    client, _ = _sync(reply())

    assert TOKEN not in repr(client)


@pytest.mark.parametrize(
    ("call", "method", "path"),
    [
        (lambda c: c.get_order(ORDER_ID), "GET", f"/v3/billing/api/order/order/{ORDER_ID}"),
        (lambda c: c.cancel_order(ORDER_ID), "DELETE", f"/v3/billing/api/order/order/{ORDER_ID}"),
    ],
)
def test_order_reads_and_cancel(call, method: str, path: str) -> None:
    client, recorder = _sync(reply(200, envelope(order_json(status="canceled"))))

    order = call(client)

    assert recorder.last.method == method
    assert recorder.last.url.path == path
    assert recorder.last.content == b""
    assert order.status == mb.OrderStatus.CANCELED


def test_update_order_sends_only_given_fields() -> None:
    client, recorder = _sync(reply(200, envelope(order_json(description="new"))))
    new_expiration = dt.datetime(2024, 8, 1, 12, 0, tzinfo=dt.UTC)

    order = client.update_order(ORDER_ID, description="new", expiration_date=new_expiration)

    assert recorder.last.method == "PUT"
    assert recorder.last.url.path == f"/v3/billing/api/order/order/{ORDER_ID}"
    assert recorder.last.content.decode() == (
        '{"description":"new","expirationDate":"2024-08-01T12:00:00+00:00"}'
    )
    assert order.description == "new"


def test_set_order_status() -> None:
    client, recorder = _sync(reply(200, envelope(order_json(status="completed"))))

    order = client.set_order_status(ORDER_ID, "completed")

    assert recorder.last.method == "PUT"
    assert recorder.last.url.path == f"/v3/billing/api/order/{ORDER_ID}/status"
    assert recorder.last.content == b'{"status":"completed"}'
    assert order.status == "completed"


@pytest.mark.parametrize(
    ("data", "expected_user"),
    [
        ({"userId": "017c3c54-0000-7000-8000-000000000001", "profile": None}, True),
        ({"userId": None, "profile": None, "accessToken": None}, False),
    ],
)
def test_check_auth(data: dict, expected_user: bool) -> None:
    client, recorder = _sync(reply(200, envelope(data)))

    info = client.check_auth()

    assert recorder.last.url.path == "/v3/security/api/auth/auth"
    assert (info.user_id is not None) is expected_user


def test_create_and_update_shop() -> None:
    shop = {
        "id": 12,
        "title": "Hotel Example",
        "token": "95e5396611d261986cec0915a9f85799",
        "type": "shop",
        "alias": "1694158899",
        "shopUrl": "https://1694158899.expressclient.ru",
        "minOrderSum": Decimal("99.99"),
        "lat": Decimal("59.931228"),
    }
    client, recorder = _sync(reply(200, envelope(shop)))

    created = client.create_shop(title="Hotel Example", description="Rooms", brand_id=3)
    create_body = recorder.last.content
    updated = client.update_shop(12, min_order_sum=Decimal("99.99"), lat=Decimal("59.931228"))

    assert recorder.requests[0].url.path == "/v3/marketplace/api/shop"
    assert create_body == b'{"title":"Hotel Example","description":"Rooms","brandId":3}'
    assert recorder.last.method == "POST"
    assert recorder.last.url.path == "/v3/marketplace/api/shop/12"
    assert recorder.last.content == b'{"minOrderSum":99.99,"lat":59.931228}'
    assert created.id == 12
    assert updated.min_order_sum == Decimal("99.99")
    assert shop["token"] not in repr(created)


def test_upsert_special_offer() -> None:
    start = dt.datetime(2023, 1, 1, 12, tzinfo=dt.UTC)
    finish = dt.datetime(2023, 2, 1, 12, tzinfo=dt.UTC)
    offer = mb.SpecialOffer(
        merchant_id=MERCHANT_ID,
        external_id="bday",
        active=True,
        start_at=start,
        finish_at=finish,
        description="Birthday discount",
        tags=["birthday"],
    )
    answer = {**offer.to_dict(), "id": 7, "startAt": "2023-01-01T12:00:00Z"}
    client, recorder = _sync(reply(200, envelope(answer)))

    saved = client.upsert_special_offer(offer)

    assert recorder.last.url.path == "/v3/marketplace/api/special-offer"
    assert json.loads(recorder.last.content) == {
        "merchantId": MERCHANT_ID,
        "externalId": "bday",
        "active": True,
        "startAt": "2023-01-01T12:00:00+00:00",
        "finishAt": "2023-02-01T12:00:00+00:00",
        "description": "Birthday discount",
        "tags": ["birthday"],
    }
    assert saved.id == 7
    assert saved.start_at == start


def test_malformed_order_is_unexpected_response() -> None:
    client, _ = _sync(reply(200, envelope({"status": "created"})))

    with pytest.raises(mb.UnexpectedResponse, match="id"):
        client.get_order(ORDER_ID)


async def test_async_methods_mirror_sync_methods() -> None:
    sync_methods = {n for n in vars(mb.Client) if not n.startswith("_")} - {"close"}
    async_methods = {n for n in vars(mb.AsyncClient) if not n.startswith("_")} - {"aclose"}

    assert sync_methods == async_methods


async def test_async_order_lifecycle() -> None:
    client, recorder = _async(reply(200, envelope(order_json(status="canceled"))))

    async with client:
        fetched = await client.get_order(ORDER_ID)
        updated = await client.update_order(ORDER_ID, mb.UpdateOrder(amount=Decimal("1.10")))
        canceled = await client.cancel_order(ORDER_ID)
        status = await client.set_order_status(ORDER_ID, "canceled")
        auth = await client.check_auth()

    assert [r.method for r in recorder.requests] == ["GET", "PUT", "DELETE", "PUT", "GET"]
    assert recorder.requests[1].content == b'{"amount":1.10}'
    assert fetched.id == updated.id == canceled.id == status.id == ORDER_ID
    assert auth.user_id is None


async def test_async_client_over_asgi_transport() -> None:
    seen: list[dict] = []

    async def app(scope, receive, send) -> None:
        seen.append(scope)
        body = envelope(order_json())
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"x-request-id", b"r")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    transport = httpx.ASGITransport(app=app)
    async with mb.AsyncClient(TOKEN, base_url="http://testserver", transport=transport) as client:
        order = await client.get_order(ORDER_ID)

    assert order.id == ORDER_ID
    assert seen[0]["path"] == f"/v3/billing/api/order/order/{ORDER_ID}"
