"""Order update as the official PHP SDK sends it (api.md §8.4 and the PHP SDK addendum).

`UpdateOrderRequest::toArray()` is a PHP positional array: a JSON array when the set fields
form a prefix of (description, amount, vatAmount, expirationDate, basketItems, metaData,
customer), an object with numeric keys otherwise; the expiration date is a PHP DateTime as
`json_encode` writes it. Every position must do what it asks; an update that asks nothing is
a 422, never a silent 200. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.conftest import body, read
from tests.support.builders import basket_item, order_payload

ORDERS = "/v3/billing/api/order/order"


async def create(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.post(ORDERS, content=body(order_payload()))
    assert response.status_code == 200, response.text
    return read(response)["data"]


async def put(api: httpx.AsyncClient, order: dict[str, Any], raw: Any) -> httpx.Response:
    content = raw if isinstance(raw, bytes) else body(raw)
    return await api.put(f"{ORDERS}/{order['id']}", content=content)


def php_datetime(wall: datetime, timezone_type: int, zone: str) -> dict[str, Any]:
    """What PHP's json_encode writes for a DateTime."""
    return {
        "date": wall.strftime("%Y-%m-%d %H:%M:%S.%f"),
        "timezone_type": timezone_type,
        "timezone": zone,
    }


def noon_in_30_days() -> datetime:
    day = (datetime.now(UTC) + timedelta(days=30)).date()
    return datetime(day.year, day.month, day.day, 12, 0, 0)


async def test_a_json_array_updates_the_description(api: httpx.AsyncClient) -> None:
    order = await create(api)
    response = await put(
        api, order, b'["\\u041f\\u0440\\u043e\\u0435\\u0437\\u0434\\u043d\\u043e\\u0439"]'
    )

    assert response.status_code == 200, response.text
    assert read(response)["data"]["description"] == "Проездной"
    assert read(await api.get(f"{ORDERS}/{order['id']}"))["data"]["description"] == "Проездной"


async def test_each_position_does_what_it_asks(api: httpx.AsyncClient) -> None:
    order = await create(api)
    items = [basket_item(sku="new", quantity=2, amount=Decimal("60.00"), vat_code="RUS_VAT20")]
    wall = noon_in_30_days()
    full = [
        "Новое описание",
        Decimal("120.00"),
        Decimal("20.00"),
        php_datetime(wall, 3, "UTC"),
        items,
        {"flight": "SU-100"},
        {"type": "legal", "name": "ООО Ромашка", "vatNumber": "7707083893"},
    ]
    response = await put(api, order, full)

    assert response.status_code == 200, response.text
    data = read(response)["data"]
    assert data["description"] == "Новое описание"
    assert data["amount"] == Decimal("120.00")
    assert data["vatAmount"] == Decimal("20.00")
    assert data["expirationDate"] == wall.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    assert [item["sku"] for item in data["basketItems"]] == ["new"]
    assert data["metaData"] == {"flight": "SU-100"}
    assert data["customer"]["type"] == "legal"
    assert data["customer"]["name"] == "ООО Ромашка"
    assert read(await api.get(f"{ORDERS}/{order['id']}"))["data"] == data


@pytest.mark.parametrize(
    ("position", "value", "field", "expected"),
    [
        (0, "Только описание", "description", "Только описание"),
        (5, {"seat": "12A"}, "metaData", {"seat": "12A"}),
        (6, {"type": "private", "name": "Пётр"}, "customer", {"type": "private", "name": "Пётр"}),
    ],
)
async def test_one_position_alone_as_a_numeric_key_object(
    api: httpx.AsyncClient, position: int, value: Any, field: str, expected: Any
) -> None:
    order = await create(api)
    response = await put(api, order, {str(position): value})

    assert response.status_code == 200, response.text
    data = read(response)["data"]
    if field == "customer":
        assert {k: data[field].get(k) for k in expected} == expected
    else:
        assert data[field] == expected
    assert data["amount"] == order["amount"]  # nothing else moved


async def test_amount_positions_are_revalidated_like_named_fields(api: httpx.AsyncClient) -> None:
    order = await create(api)  # one item of 100.00, no VAT
    wrong = await put(api, order, {"1": Decimal("7.00")})
    assert wrong.status_code == 422
    assert read(wrong)["error"]["code"] == "wrong_total_amount"

    items = [basket_item(quantity=3, amount=Decimal("10.00"))]
    ok = await put(api, order, {"1": Decimal("30.00"), "2": 0, "4": items})
    assert ok.status_code == 200, ok.text
    assert read(ok)["data"]["amount"] == Decimal("30.00")
    assert read(ok)["data"]["basketItems"][0]["quantity"] == Decimal(3)


@pytest.mark.parametrize(
    ("timezone_type", "zone", "utc_hour"),
    [
        (1, "+03:00", 9),
        (1, "-05:30", 17),
        (2, "MSK", 9),
        (2, "PST", 20),
        (3, "Europe/Moscow", 9),
        (3, "Asia/Yekaterinburg", 7),
    ],
)
async def test_the_php_datetime_in_each_timezone_type(
    api: httpx.AsyncClient, timezone_type: int, zone: str, utc_hour: int
) -> None:
    order = await create(api)
    wall = noon_in_30_days()  # 12:00 in the zone
    response = await put(api, order, {"3": php_datetime(wall, timezone_type, zone)})

    assert response.status_code == 200, response.text
    expected = wall.replace(hour=utc_hour, minute=30 if zone == "-05:30" else 0)
    assert read(response)["data"]["expirationDate"] == expected.strftime("%Y-%m-%dT%H:%M:%S+00:00")


@pytest.mark.parametrize(
    "datetime_value",
    [
        {"date": "2030-01-01 00:00:00.000000", "timezone_type": 3, "timezone": "Mars/Olympus"},
        {"date": "2030-01-01 00:00:00.000000", "timezone_type": 2, "timezone": "XYZT"},
        {"date": "2030-01-01 00:00:00.000000", "timezone_type": 4, "timezone": "UTC"},
        {"date": "01.01.2030", "timezone_type": 3, "timezone": "UTC"},
        {"date": "2030-02-30 00:00:00.000000", "timezone_type": 1, "timezone": "+00:00"},
        {"date": "2020-01-01 00:00:00.000000", "timezone_type": 1, "timezone": "+00:00"},
        {"timezone_type": 1, "timezone": "+00:00"},
    ],
)
async def test_a_bad_php_datetime_is_wrong_expiration_date(
    api: httpx.AsyncClient, datetime_value: dict[str, Any]
) -> None:
    order = await create(api)
    response = await put(api, order, {"0": "Не применится", "3": datetime_value})

    assert response.status_code == 422
    error = read(response)["error"]
    assert error["code"] == "wrong_expiration_date"
    assert error["fields"][0]["name"] == "expirationDate"
    assert read(await api.get(f"{ORDERS}/{order['id']}"))["data"] == order  # nothing applied


async def test_null_positions_are_not_given(api: httpx.AsyncClient) -> None:
    order = await create(api)
    wall = noon_in_30_days()
    # The SDK without array_filter: all seven positions, nulls and `(array) null` = [].
    raw = [None, None, None, php_datetime(wall, 1, "+00:00"), None, [], None]
    response = await put(api, order, raw)

    assert response.status_code == 200, response.text
    data = read(response)["data"]
    assert data["expirationDate"] == wall.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    unchanged = ("description", "amount", "vatAmount", "basketItems", "metaData", "customer")
    assert {k: data.get(k) for k in unchanged} == {k: order.get(k) for k in unchanged}

    mixed = await put(api, order, {"0": "Смешанное", "1": None, "5": {"a": 1}, "6": None})
    assert mixed.status_code == 200, mixed.text
    assert read(mixed)["data"]["description"] == "Смешанное"
    assert read(mixed)["data"]["metaData"] == {"a": 1}
    assert read(mixed)["data"]["customer"] == order["customer"]


@pytest.mark.parametrize(
    "raw",
    [
        b"[]",
        b"{}",
        b"[null, null, null, null, null, [], null]",
        b'{"0": null, "6": null}',
        b'{"color": "red", "size": 3}',
        b'{"description": null, "unknown": 1}',
        b'[null, null, null, null, null, null, null, "eighth"]',
        b'{"7": "beyond"}',
        b'{"0": "x", "9": "beyond"}',
        b'{"0": "mixed", "description": "named"}',
        b'{"03": "not a php index"}',
        b'"a string"',
        b"42",
    ],
)
async def test_an_update_that_asks_nothing_known_is_422(api: httpx.AsyncClient, raw: bytes) -> None:
    order = await create(api)
    response = await put(api, order, raw)

    assert response.status_code == 422, response.text
    error = read(response)["error"]
    assert error["code"] == "validation_error"
    assert error["fields"]
    assert read(await api.get(f"{ORDERS}/{order['id']}"))["data"] == order


async def test_named_bodies_work_as_before(api: httpx.AsyncClient) -> None:
    order = await create(api)
    wall = noon_in_30_days()
    response = await put(
        api,
        order,
        {
            "description": "По имени",
            "expirationDate": wall.strftime("%Y-%m-%dT%H:%M:%S+03:00"),
            "someNewerField": "ignored",
        },
    )

    assert response.status_code == 200, response.text
    data = read(response)["data"]
    assert data["description"] == "По имени"
    assert data["expirationDate"] == (wall - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S+00:00")


async def test_field_errors_name_the_field_not_the_position(api: httpx.AsyncClient) -> None:
    order = await create(api)
    broken = basket_item()
    del broken["sku"]
    response = await put(api, order, {"4": [broken]})

    assert response.status_code == 422
    names = [f["name"] for f in read(response)["error"]["fields"]]
    assert names == ["basketItems[0].sku"]
