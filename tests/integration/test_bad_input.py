"""No 500, ever, for bad input: what the schema fuzzer and hand-made attacks found.

Every case answers a clear 4xx (the API in the error envelope, naming the field at fault; the
payment page with its own page) and changes nothing in the database. Each test runs on SQLite
and on PostgreSQL, where NUL characters and integer overflow bite hardest.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import simplejson
from sqlalchemy import select

from marketbox.merchants import service as merchants_service
from marketbox.security import signing
from marketbox.storage.db import Database
from marketbox.storage.schema import metadata
from tests.conftest import TEST_PUBLIC_URL, body, read
from tests.support.builders import basket_item, order_payload

ORDERS = "/v3/billing/api/order/order"
ORDER_LIST = "/v3/filter/api/order/order"
SHOPS = "/v3/marketplace/api/shop"
OFFERS = "/v3/marketplace/api/special-offer"
INVOICES = "/v3/payment/api/invoice"

OUT_OF_RANGE_DATES = [
    "0001-01-01T00:00:00+03:00",
    "9999-12-31T23:59:59-05:00",
    "9999-12-31T23:00Z",
    "0001-01-01T00:00:00Z",
    "２０３０-01-01T00:00:00Z",
]
HUGE_NUMBERS = ["1e400", "99999999999999999999999", "-1e400", "1E+999999"]
UNICODE_DIGITS = ["²", "٣", "１"]


async def snapshot(db: Database) -> dict[str, list[str]]:
    """Every row of every table, to prove a refused request changed nothing."""
    async with db.transaction() as conn:
        return {
            table.name: sorted(repr(tuple(row)) for row in await conn.execute(select(table)))
            for table in metadata.sorted_tables
        }


def envelope(response: httpx.Response, status: int, code: str = "validation_error") -> dict:
    assert response.status_code == status, response.text
    error = read(response)["error"]
    assert error["code"] == code, error
    return error


def field_names(error: dict) -> set[str]:
    return {f["name"] for f in error["fields"]}


async def create(api: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await api.post(ORDERS, content=body(order_payload(**overrides)))
    assert response.status_code == 200, response.text
    return read(response)["data"]


def raw_order(**replacements: str) -> bytes:
    """The builder's order as JSON text with some values replaced by raw JSON text."""
    text = body(order_payload()).decode()
    for name, raw in replacements.items():
        text, count = re.subn(rf'"{name}":("[^"]*"|[-0-9.eE+]+)', f'"{name}":{raw}', text, count=1)
        assert count == 1, name
    return text.encode()


# --- the payment page of a non-processable order -----------------------------------------------


async def test_non_processable_invoice_shows_a_settled_with_seller_page(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await create(api, processable=False)
    path = httpx.URL(order["paymentUrl"]).path
    before = await snapshot(db)

    ru = await api.get(path)
    en = await api.get(path, params={"lang": "en"})
    paid = await api.post(
        f"{path}/pay",
        data={"expected_amount": "100.00", "card_number": "4242424242424242", "csrf_token": "x"},
    )

    assert ru.status_code == 200 and en.status_code == 200
    assert 'data-status="outside"' in ru.text
    assert "оплачивается напрямую продавцу" in ru.text
    assert "settled with the seller directly" in en.text
    assert 'name="card_number"' not in ru.text
    assert paid.status_code == 409 and 'data-status="outside"' in paid.text
    assert await snapshot(db) == before


# --- dates at the ends of the calendar ---------------------------------------------------------


@pytest.mark.parametrize("value", OUT_OF_RANGE_DATES)
async def test_order_expiration_out_of_range_is_refused(
    api: httpx.AsyncClient, db: Database, value: str
) -> None:
    order = await create(api, merchant_order_id="KEEP")
    before = await snapshot(db)

    created = await api.post(
        ORDERS, content=body(order_payload(merchant_order_id="NEW", expirationDate=value))
    )
    updated = await api.put(f"{ORDERS}/{order['id']}", content=body({"expirationDate": value}))

    for response in (created, updated):
        error = envelope(response, 422, "wrong_expiration_date")
        assert field_names(error) == {"expirationDate"}
    assert await snapshot(db) == before


async def test_expiration_is_at_most_ten_years_ahead(api: httpx.AsyncClient, db: Database) -> None:
    before = await snapshot(db)
    far = await api.post(ORDERS, content=body(order_payload(expires_in=timedelta(days=3660))))
    envelope(far, 422, "wrong_expiration_date")
    assert await snapshot(db) == before

    # Nine years ahead is accepted, and the payment page prints the deadline (Moscow time).
    near = await create(api, expires_in=timedelta(days=9 * 365))
    page = await api.get(httpx.URL(near["paymentUrl"]).path)
    assert page.status_code == 200 and "Оплатить до" in page.text


@pytest.mark.parametrize("value", OUT_OF_RANGE_DATES)
@pytest.mark.parametrize("param", ["createdAt[_ge]", "expirationDate[lt]", "paidAt", "createdAt[]"])
async def test_order_list_date_filters_out_of_range_are_refused(
    api: httpx.AsyncClient, param: str, value: str
) -> None:
    response = await api.get(ORDER_LIST, params={param: value})
    error = envelope(response, 422)
    assert field_names(error) == {param.split("[")[0]}


@pytest.mark.parametrize("value", OUT_OF_RANGE_DATES)
async def test_special_offer_dates_out_of_range_are_refused(
    api: httpx.AsyncClient, db: Database, value: str
) -> None:
    before = await snapshot(db)
    offer = {
        "externalId": "offer-1",
        "active": True,
        "startAt": "2024-01-01T00:00:00Z",
        "finishAt": "2099-01-01T00:00:00Z",
        "description": "Скидка",
        "tags": [],
    }
    for field in ("startAt", "finishAt"):
        response = await api.post(OFFERS, content=body({**offer, field: value}))
        error = envelope(response, 422)
        assert field_names(error) == {field}
    assert await snapshot(db) == before


# --- payment instruments -----------------------------------------------------------------------


@pytest.fixture
async def instrument(db: Database) -> merchants_service.Credentials:
    async with db.transaction() as conn:
        return await merchants_service.create_instrument(conn, name="Bank", sign_algorithm="sha1")


@pytest.mark.parametrize("value", [*OUT_OF_RANGE_DATES, "2024-07-2²T00:00:00Z"])
async def test_invoice_date_filters_out_of_range_are_refused(
    client: httpx.AsyncClient, instrument: merchants_service.Credentials, value: str
) -> None:
    auth = {"Authorization": f"Bearer {instrument.token}"}
    response = await client.get(INVOICES, params={"createdAt[_le]": value}, headers=auth)
    error = envelope(response, 422)
    assert field_names(error) == {"createdAt"}


async def test_invoice_confirmation_with_nul_or_huge_amount_is_refused(
    client: httpx.AsyncClient,
    api: httpx.AsyncClient,
    db: Database,
    instrument: merchants_service.Credentials,
) -> None:
    order = await create(api)
    before = await snapshot(db)
    auth = {"Authorization": f"Bearer {instrument.token}", "Content-Type": "application/json"}
    base = (
        f'{{"invoiceId":"{order["orderContainerId"]}","paymentOperationId":"op-1",'
        '"currencyId":"RUB","amount":{amount}}'
    )
    for raw, field in (
        (base.replace("op-1", "op\\u0000").replace("{amount}", "100.00"), "paymentOperationId"),
        (base.replace("{amount}", "1e400"), "amount"),
        (base.replace("{amount}", '"١٠٠"'), "amount"),
    ):
        content = raw.encode()
        signature = signing.sign(content, instrument.signing_key, "sha1")
        response = await client.post(
            f"{INVOICES}/confirm", content=content, headers={**auth, "X-Signature": signature}
        )
        error = envelope(response, 422)
        assert field_names(error) == {field}
    assert await snapshot(db) == before


# --- numbers that overflow ---------------------------------------------------------------------


@pytest.mark.parametrize("number", HUGE_NUMBERS)
@pytest.mark.parametrize("field", ["amount", "vatAmount", "totalAmount", "quantity"])
async def test_huge_amounts_are_refused(
    api: httpx.AsyncClient, db: Database, field: str, number: str
) -> None:
    before = await snapshot(db)
    response = await api.post(ORDERS, content=raw_order(**{field: number}))
    error = envelope(response, 422)
    assert any(name.endswith(field) for name in field_names(error)), error
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    "shop_id", ["99999999999999999999", '"99999999999999999999"', "2147483648", '"٣"', '"²"']
)
async def test_order_shop_id_out_of_range_is_refused(
    api: httpx.AsyncClient, db: Database, shop_id: str
) -> None:
    before = await snapshot(db)
    payload = body(order_payload()).decode()
    raw = payload[:-1] + f',"shopId":{shop_id}}}'
    response = await api.post(ORDERS, content=raw.encode())
    error = envelope(response, 422)
    assert field_names(error) == {"shopId"}
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("page", "99999999999999999999"),
        ("pageSize", "99999999999999999999"),
        ("_page", "100001"),
        ("shopId", "99999999999999999999"),
        ("shopId[_ge]", "2147483648"),
        ("amount[_gt]", "1e400"),
        ("amount", "99999999999999999999999"),
        ("vatAmount[_le]", "sNaN"),
        *[("page", digit) for digit in UNICODE_DIGITS],
        *[("pageSize", digit) for digit in UNICODE_DIGITS],
        *[("shopId", f"1{digit}") for digit in UNICODE_DIGITS],
        *[("amount", f"1{digit}") for digit in UNICODE_DIGITS],
        *[(f"status[{digit}]", "created") for digit in UNICODE_DIGITS],
        ("merchantOrderId", "a\x00b"),
        ("status[]", "\x00"),
    ],
)
async def test_order_list_refuses_bad_numbers_and_nul(
    api: httpx.AsyncClient, param: str, value: str
) -> None:
    response = await api.get(ORDER_LIST, params={param: value})
    error = envelope(response, 422)
    assert error["fields"], error


@pytest.mark.parametrize(
    "shop_id", ["99999999999999999999", "2147483648", "0", *UNICODE_DIGITS, "1%00"]
)
async def test_point_of_sale_ids_in_paths_out_of_range_are_not_found(
    api: httpx.AsyncClient, db: Database, shop_id: str
) -> None:
    before = await snapshot(db)
    read_one = await api.get(f"{SHOPS}/{shop_id}")
    update = await api.post(f"{SHOPS}/{shop_id}", content=body({"title": "Новое"}))
    page = await api.get(f"/marketplace/shop/{shop_id}")

    envelope(read_one, 404, "not_found")
    envelope(update, 404, "not_found")
    assert page.status_code == 404
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("id", "99999999999999999999"),
        ("brandId[_lt]", "2147483648"),
        ("page", "99999999999999999999"),
        ("id", "٣"),
        ("title", "a\x00"),
        ("q", "\x00"),
    ],
)
async def test_point_of_sale_list_refuses_bad_numbers_and_nul(
    api: httpx.AsyncClient, param: str, value: str
) -> None:
    envelope(await api.get(SHOPS, params={param: value}), 422)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("brandId", "99999999999999999999"),
        ("brandId", '"٣"'),
        ("yandexMetrikaId", "18446744073709551616"),
        ("yandexMetrikaId", '"１"'),
        ("minOrderSum", "1e400"),
        ("lat", "1e400"),
        ("lat", '"٣"'),
        ("lon", "-179.99999999999999999999999999999999"),
        ("lat", "1E-40"),
    ],
)
async def test_point_of_sale_numbers_out_of_range_are_refused(
    api: httpx.AsyncClient, db: Database, field: str, value: str
) -> None:
    before = await snapshot(db)
    raw = f'{{"title":"Кофейня","shopUrl":"https://shop.example","{field}":{value}}}'
    error = envelope(await api.post(SHOPS, content=raw.encode()), 422)
    assert field_names(error) == {field}
    assert await snapshot(db) == before


async def test_special_offer_shop_id_out_of_range_is_refused(
    api: httpx.AsyncClient, db: Database
) -> None:
    before = await snapshot(db)
    raw = (
        '{"externalId":"o","active":true,"startAt":"2024-01-01T00:00:00Z",'
        '"finishAt":"2099-01-01T00:00:00Z","description":"d","tags":[],'
        '"shopId":99999999999999999999}'
    )
    error = envelope(await api.post(OFFERS, content=raw.encode()), 422)
    assert field_names(error) == {"shopId"}
    assert await snapshot(db) == before


# --- NUL characters and lone surrogates --------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        (ORDERS, {"description": "a\x00b"}, "description"),
        (ORDERS, {"merchantOrderId": "\x00"}, "merchantOrderId"),
        (ORDERS, {"customer": {"type": "private", "name": "Ива\x00н"}}, "customer.name"),
        (ORDERS, {"basketItems": [basket_item(sku="s\x00")]}, "basketItems[0].sku"),
        (ORDERS, {"description": "\ud800"}, "description"),
        (SHOPS, {"title": "Кофе\x00"}, "title"),
        (OFFERS, {"externalId": "\x00", "description": "d"}, "externalId"),
    ],
)
async def test_nul_characters_are_refused_at_the_edge(
    api: httpx.AsyncClient, db: Database, path: str, payload: dict, field: str
) -> None:
    before = await snapshot(db)
    # ASCII JSON: NUL and the lone surrogate travel as \u escapes, as a client sends them.
    document = order_payload(**payload) if path == ORDERS else payload
    content = simplejson.dumps(document, use_decimal=True).encode()
    error = envelope(await api.post(path, content=content), 422)
    assert field_names(error) == {field}
    assert await snapshot(db) == before


async def test_nul_in_an_update_is_refused(api: httpx.AsyncClient, db: Database) -> None:
    order = await create(api)
    before = await snapshot(db)
    response = await api.put(f"{ORDERS}/{order['id']}", content=b'{"description":"x\\u0000"}')
    error = envelope(response, 422)
    assert field_names(error) == {"description"}
    assert await snapshot(db) == before


# --- JSON nested too deep ----------------------------------------------------------------------


@pytest.mark.parametrize("path", [ORDERS, SHOPS, OFFERS])
async def test_json_nested_5000_deep_is_refused(
    api: httpx.AsyncClient, db: Database, path: str
) -> None:
    before = await snapshot(db)
    deep = '{"metaData":' + "[" * 5000 + "]" * 5000 + "}"
    error = envelope(await api.post(path, content=deep.encode()), 422)
    assert "nested deeper" in error["message"]
    assert await snapshot(db) == before


async def test_json_nested_within_the_limit_is_read(api: httpx.AsyncClient) -> None:
    meta = {"a": [[[[{"b": [1, 2]}]]]]}
    order = await create(api, metaData=meta)
    assert order["metaData"] == meta


# --- the payment page form ---------------------------------------------------------------------


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, name
    return match.group(1)


async def post_form(api: httpx.AsyncClient, order: dict[str, Any], **fields: str) -> httpx.Response:
    path = httpx.URL(order["paymentUrl"]).path
    page = await api.get(path)
    assert page.status_code == 200
    form = {
        "csrf_token": _hidden(page.text, "csrf_token"),
        "expected_amount": _hidden(page.text, "expected_amount"),
        "customer_type": "private",
        "name": "Иван",
        "email": "ivan@example.com",
        "phone": "+7 999 000 11 22",
        "card_number": "4242 4242 4242 4242",
        "card_expiry": f"12/{(datetime.now(UTC).year + 3) % 100:02d}",
        "card_cvc": "123",
    }
    form.update(fields)
    return await api.post(f"{path}/pay", data=form)


@pytest.mark.parametrize(
    "fields",
    [
        {"card_number": "４２４２ ４２４２ ４２４２ ４２４２"},
        {"card_number": "4242 4242 4242 424²"},
        {"card_number": "٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢"},
        {"card_expiry": "１２/３０"},
        {"card_expiry": "12/٣٠"},
        {"card_cvc": "１２３"},
        {"card_cvc": "12²"},
        {"phone": "+7 ９９９ ０００ １１ ２２"},
        {"customer_type": "legal", "inn": "７７０７０８３８９３", "name": "ООО «Ромашка»"},
        {"customer_type": "legal", "inn": "770708389²", "name": "ООО «Ромашка»"},
        {"customer_type": "legal", "inn": "7707083893", "kpp": "７７０２０１００１", "name": "ООО"},
    ],
    ids=lambda f: "-".join(f"{k}" for k in f),
)
async def test_payment_form_refuses_unicode_digits(
    api: httpx.AsyncClient, db: Database, fields: dict[str, str]
) -> None:
    order = await create(api)
    before = await snapshot(db)

    response = await post_form(api, order, **fields)

    assert response.status_code == 422, response.text
    assert 'name="card_number"' in response.text  # the form again, with the error shown
    assert await snapshot(db) == before


@pytest.mark.parametrize("amount", ["sNaN", "NaN", "Infinity", "-Infinity", "1e999", "١٠٠"])
async def test_payment_with_a_non_number_expected_amount_pays_nothing(
    api: httpx.AsyncClient, db: Database, amount: str
) -> None:
    order = await create(api)
    before = await snapshot(db)

    response = await post_form(api, order, expected_amount=amount)

    # The same answer as a stale total: the invoice as it is now, nothing charged.
    assert response.status_code == 409, response.text
    assert "Сумма счёта изменилась" in response.text
    assert await snapshot(db) == before


@pytest.mark.parametrize("phone", ["8 (９００) ５５５-６６-７７", "+7 900 555 6٦ ٧٧"])
async def test_marketplace_buyer_phone_takes_ascii_digits_only(
    client: httpx.AsyncClient, phone: str
) -> None:
    response = await client.post(
        "/marketplace/buyer",
        data={"name": "Анна", "email": "anna@example.org", "phone": phone, "next": "/"},
        headers={"Origin": TEST_PUBLIC_URL},
    )

    assert response.status_code == 422
    assert "mb_buyer" not in response.headers.get("set-cookie", "")
