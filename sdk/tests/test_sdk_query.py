"""Filter, sort and paging query strings (api.md §6)."""

import datetime as dt
from decimal import Decimal

import httpx
import pytest
from sdk_support import BASE_URL, TOKEN, Recorder, envelope, order_json, reply

import marketbox_sdk as mb
from marketbox_sdk._query import build_query


def _list_reply():
    return reply(
        200, envelope([order_json()], metaData={"totalCount": 41, "pageSize": 20, "page": 2})
    )


def test_status_list_date_range_sort_and_paging() -> None:
    since = dt.datetime(2026, 8, 1, tzinfo=dt.UTC)
    recorder = Recorder(_list_reply())
    client = mb.Client(TOKEN, base_url=BASE_URL, transport=httpx.MockTransport(recorder))
    expected_pairs = [
        ("status[]", "created"),
        ("status[]", "completed"),
        ("createdAt[_ge]", "2026-08-01T00:00:00+00:00"),
        ("_order[createdAt]", "desc"),
        ("_page", "2"),
        ("_pageSize", "20"),
    ]
    expected_query = (
        "status%5B%5D=created&status%5B%5D=completed"
        "&createdAt%5B_ge%5D=2026-08-01T00%3A00%3A00%2B00%3A00"
        "&_order%5BcreatedAt%5D=desc&_page=2&_pageSize=20"
    )

    page = client.list_orders(
        status=["created", "completed"],
        created_at__ge=since,
        order_by="-created_at",
        page=2,
        page_size=20,
    )

    assert recorder.last.url.path == "/v3/filter/api/order/order"
    assert recorder.last.url.params.multi_items() == expected_pairs
    assert recorder.last.url.query.decode() == expected_query
    assert page.total_count == 41
    assert page.page == 2
    assert page.page_size == 20
    assert page.has_next is True
    assert [order.id for order in page] == [order_json()["id"]]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"conditions": {"status": "completed"}}, "status=completed"),
        (
            {"conditions": {"merchant_order_id": "ORD123456"}, "page_size": 5},
            "merchantOrderId=ORD123456&_pageSize=5",
        ),
        (
            {"conditions": {"paid_at__ge": dt.datetime(2021, 1, 27, tzinfo=dt.UTC)}},
            "paidAt[_ge]=2021-01-27T00:00:00+00:00",
        ),
        (
            {"conditions": {"amount__gt": Decimal("1000.50"), "amount__le": 5000}},
            "amount[_gt]=1000.50&amount[_le]=5000",
        ),
        ({"conditions": {"name__start": "John"}}, "name[_start]=John"),
        ({"conditions": {"status__ne": "canceled"}}, "status[_ne]=canceled"),
        ({"conditions": {"status__eq": "created"}}, "status[_eq]=created"),
        ({"conditions": {"shop_id": 333, "processable": False}}, "shopId=333&processable=false"),
        ({"conditions": {"status": None}}, ""),
        (
            {"filters": {"customer[type][eq]": "legal", "customer[vatNumber][eq]": "2323232323"}},
            "customer[type][eq]=legal&customer[vatNumber][eq]=2323232323",
        ),
        ({"order_by": ["categoryId", "-name"]}, "_order[categoryId]=asc&_order[name]=desc"),
        ({"order_by": {"created_at": "asc"}}, "_order[createdAt]=asc"),
        ({"page": 1}, "_page=1"),
    ],
)
def test_build_query(kwargs: dict, expected: str) -> None:
    pairs = build_query(**kwargs)

    assert "&".join(f"{k}={v}" for k, v in pairs) == expected


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"conditions": {"amount__between": 1}}, ValueError),
        ({"conditions": {"status__ne": ["a", "b"]}}, ValueError),
        ({"conditions": {"amount__gt": 10.5}}, TypeError),
        ({"order_by": {"createdAt": "down"}}, ValueError),
        ({"page": 0}, ValueError),
        ({"page_size": 0}, ValueError),
    ],
)
def test_build_query_rejects_bad_input(kwargs: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        build_query(**kwargs)


async def test_async_list_orders_builds_the_same_query() -> None:
    recorder = Recorder(_list_reply())
    transport = httpx.MockTransport(recorder)
    expected_pairs = [("merchantOrderId", "A-1"), ("_pageSize", "2")]

    async with mb.AsyncClient(TOKEN, base_url=BASE_URL, transport=transport) as client:
        page = await client.list_orders(merchant_order_id="A-1", page_size=2)

    assert recorder.last.url.params.multi_items() == expected_pairs
    assert len(page) == 1


def test_page_without_metadata() -> None:
    recorder = Recorder(reply(200, envelope([])))
    client = mb.Client(TOKEN, base_url=BASE_URL, transport=httpx.MockTransport(recorder))

    page = client.list_orders()

    assert page.items == []
    assert page.total_count is None
    assert page.has_next is False
    assert recorder.last.url.query == b""
