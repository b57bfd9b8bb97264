"""GET /v3/filter/api/order/order with every query spelling real clients send (api.md §6)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from marketbox import clock
from tests.conftest import body, read
from tests.support.builders import basket_item, order_payload

ORDERS = "/v3/billing/api/order/order"
LIST = "/v3/filter/api/order/order"
T0 = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def orders(api: httpx.AsyncClient) -> AsyncIterator[list[dict[str, Any]]]:
    """Three orders created one hour apart from T0 (clock pinned): A (100), B (200), C (300).

    B is canceled, so statuses are A created, B canceled, C created.
    """
    created = []
    try:
        for i, (number, price) in enumerate((("A", "100.00"), ("B", "200.00"), ("C", "300.00"))):
            at = T0 + timedelta(hours=i)
            clock.set_now(lambda at=at: at)
            payload = order_payload(
                merchant_order_id=number,
                items=[basket_item(amount=Decimal(price))],
                expirationDate=(at + timedelta(days=1)).isoformat(),
            )
            response = await api.post(ORDERS, content=body(payload))
            assert response.status_code == 200, response.text
            created.append(read(response)["data"])
        clock.set_now(lambda: T0 + timedelta(hours=3))
        canceled = await api.delete(f"{ORDERS}/{created[1]['id']}")
        assert canceled.status_code == 200
        yield created
    finally:
        clock.set_now(None)


async def numbers(api: httpx.AsyncClient, query: str) -> list[str]:
    response = await api.get(f"{LIST}?{query}")
    assert response.status_code == 200, response.text
    return [o["merchantOrderId"] for o in read(response)["data"]]


async def refused(api: httpx.AsyncClient, query: str) -> dict[str, Any]:
    response = await api.get(f"{LIST}?{query}")
    assert response.status_code == 422, response.text
    error = read(response)["error"]
    assert error["code"] == "validation_error"
    assert error["fields"]
    return error


def enc(key: str) -> str:
    """Percent-encode brackets the way PHP's http_build_query and MCP's URLSearchParams do."""
    return quote(key, safe="")


async def test_default_order_is_created_at_desc(api: httpx.AsyncClient, orders: list) -> None:
    assert await numbers(api, "") == ["C", "B", "A"]


@pytest.mark.parametrize(
    "query",
    [
        "status[]=created&status[]=canceled",
        f"{enc('status[]')}=created&{enc('status[]')}=canceled",
        f"{enc('status[0]')}=created&{enc('status[1]')}=canceled",
        "status[0]=created&status[1]=canceled",
        "status=created&status=canceled",
    ],
)
async def test_in_lists_in_every_spelling(api: httpx.AsyncClient, orders: list, query: str) -> None:
    assert await numbers(api, query) == ["C", "B", "A"]
    only = query.replace("canceled", "expired")
    assert await numbers(api, only) == ["C", "A"]


@pytest.mark.parametrize("underscore", ["_", ""])
@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("eq", "created", ["C", "A"]),
        ("ne", "created", ["B"]),
    ],
)
async def test_status_operators(
    api: httpx.AsyncClient, orders: list, underscore: str, op: str, value: str, expected: list
) -> None:
    assert await numbers(api, f"status[{underscore}{op}]={value}") == expected
    assert await numbers(api, f"{enc(f'status[{underscore}{op}]')}={value}") == expected


@pytest.mark.parametrize("underscore", ["_", ""])
@pytest.mark.parametrize(
    ("op", "expected"),
    [
        ("eq", ["B"]),
        ("ne", ["C", "A"]),
        ("gt", ["C"]),
        ("ge", ["C", "B"]),
        ("lt", ["A"]),
        ("le", ["B", "A"]),
    ],
)
async def test_amount_operators(
    api: httpx.AsyncClient, orders: list, underscore: str, op: str, expected: list
) -> None:
    assert await numbers(api, f"amount[{underscore}{op}]=200") == expected


@pytest.mark.parametrize("underscore", ["_", ""])
async def test_start_operator(api: httpx.AsyncClient, orders: list, underscore: str) -> None:
    assert await numbers(api, f"merchantOrderId[{underscore}start]=B") == ["B"]
    assert await numbers(api, f"merchantOrderId[{underscore}start]=%25") == []  # LIKE-escaped


@pytest.mark.parametrize(
    "value",
    [
        "2030-03-01T13:00:00",  # no offset: UTC
        "2030-03-01T13:00:00+00:00",
        "2030-03-01T13:00:00Z",
        "2030-03-01T16:00:00+03:00",
        "2030-03-01T13:00:00%2B00:00",  # percent-encoded +
        "2030-03-01T13:00:00+00:00".replace("+", "%20"),  # + decoded as a space
        "2030-03-01T13:00:00 00:00",
    ],
)
async def test_datetime_filters_in_every_format(
    api: httpx.AsyncClient, orders: list, value: str
) -> None:
    assert await numbers(api, f"createdAt[_ge]={value}") == ["C", "B"]
    assert await numbers(api, f"{enc('createdAt[_lt]')}={value.replace(' ', '+')}") == ["A"]


async def test_literal_plus_in_a_query_string_is_a_space_and_still_works(
    api: httpx.AsyncClient, orders: list
) -> None:
    # PHP sends `+` for spaces; a raw `+` in the offset reaches us as a space.
    assert await numbers(api, "createdAt[_ge]=2030-03-01T13:00:00+00:00") == ["C", "B"]


async def test_expiration_and_paid_at_filters(api: httpx.AsyncClient, orders: list) -> None:
    assert await numbers(api, "expirationDate[_gt]=2030-03-02T13:30:00") == ["C"]
    assert await numbers(api, "paidAt[_ge]=2000-01-01T00:00:00") == []


async def test_sorting(api: httpx.AsyncClient, orders: list) -> None:
    assert await numbers(api, "_order[createdAt]=asc") == ["A", "B", "C"]
    assert await numbers(api, f"{enc('_order[createdAt]')}=desc") == ["C", "B", "A"]
    assert await numbers(api, "_order[amount]=desc") == ["C", "B", "A"]
    assert await numbers(api, "_order[status]=asc&_order[createdAt]=desc") == ["B", "C", "A"]
    assert await numbers(api, "_order[status]=desc&_order[createdAt]=asc") == ["A", "C", "B"]


@pytest.mark.parametrize(
    "query",
    [
        "_order=createdAt:desc",
        "_order[createdAt]=sideways",
        "_order[basketItems]=asc",
        "_pageSize=101",
        "pageSize=1000",
        "_pageSize=0",
        "_page=0",
        "_page=x",
        "unknownField=1",
        "customer[type][eq]=legal",
        "amount[_start]=1",
        "createdAt[_ge]=yesterday",
        "amount[_gt]=abc",
        "status[_gt]=a&status[_gt]=b",
    ],
)
async def test_bad_queries_are_422(api: httpx.AsyncClient, orders: list, query: str) -> None:
    await refused(api, query)


async def test_paging_and_metadata(api: httpx.AsyncClient, orders: list) -> None:
    first = read(await api.get(f"{LIST}?_pageSize=2"))
    second = read(await api.get(f"{LIST}?_pageSize=2&_page=2"))

    assert first["metaData"] == {"totalCount": 3, "pageSize": 2, "page": 1}
    assert [o["merchantOrderId"] for o in first["data"]] == ["C", "B"]
    assert second["metaData"] == {"totalCount": 3, "pageSize": 2, "page": 2}
    assert [o["merchantOrderId"] for o in second["data"]] == ["A"]
    assert read(await api.get(LIST))["metaData"] == {"totalCount": 3, "pageSize": 30, "page": 1}
    assert read(await api.get(f"{LIST}?_pageSize=2&_page=9"))["data"] == []


async def test_plain_paging_spelling_and_underscore_wins(
    api: httpx.AsyncClient, orders: list
) -> None:
    plain = read(await api.get(f"{LIST}?page=2&pageSize=1"))
    both = read(await api.get(f"{LIST}?page=1&pageSize=1&_page=3&_pageSize=1"))

    assert plain["metaData"] == {"totalCount": 3, "pageSize": 1, "page": 2}
    assert [o["merchantOrderId"] for o in plain["data"]] == ["B"]
    assert both["metaData"]["page"] == 3
    assert [o["merchantOrderId"] for o in both["data"]] == ["A"]


async def test_mcp_lookup_by_number(api: httpx.AsyncClient, orders: list) -> None:
    response = read(await api.get(f"{LIST}?merchantOrderId=B&_pageSize=5"))

    assert [o["id"] for o in response["data"]] == [orders[1]["id"]]
    assert response["metaData"] == {"totalCount": 1, "pageSize": 5, "page": 1}


async def test_mcp_full_query(api: httpx.AsyncClient, orders: list) -> None:
    query = (
        f"status=created&{enc('createdAt[_ge]')}={quote('2030-03-01T00:00:00+00:00', safe='')}"
        f"&{enc('_order[createdAt]')}=desc&_page=1&_pageSize=20"
    )
    assert await numbers(api, query) == ["C", "A"]


async def test_filter_by_ids(api: httpx.AsyncClient, orders: list) -> None:
    a, _, c = orders
    assert await numbers(api, f"id={a['id'].upper()}") == ["A"]
    assert await numbers(api, f"id[]={a['id']}&id[]={c['id']}") == ["C", "A"]
    assert await numbers(api, f"orderContainerId={c['orderContainerId']}") == ["C"]
    assert await numbers(api, f"merchantId={a['merchantId']}") == ["C", "B", "A"]


async def test_expired_appears_once_the_deadline_passes(
    api: httpx.AsyncClient, orders: list
) -> None:
    assert await numbers(api, "status=expired") == []

    clock.set_now(lambda: T0 + timedelta(days=1, minutes=30))  # A is due, C is not yet
    assert await numbers(api, "status=expired") == ["A"]
    assert await numbers(api, "status=created") == ["C"]

    clock.set_now(lambda: T0 + timedelta(days=2))
    listed = read(await api.get(LIST))["data"]
    assert [(o["merchantOrderId"], o["status"]) for o in listed] == [
        ("C", "expired"),
        ("B", "canceled"),
        ("A", "expired"),
    ]
