"""List query parsing (web/filters.py, api.md §6) without a database."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import quote

import pytest

from marketbox.errors import ValidationFailed
from marketbox.web import filters
from marketbox.web.filters import Condition

FIELDS: dict[str, filters.Parser] = {
    "id": str.lower,
    "status": filters.parse_str,
    "name": filters.parse_str,
    "amount": filters.parse_decimal,
    "shopId": filters.parse_int,
    "createdAt": filters.parse_datetime,
    "customer.type": filters.parse_str,
    "processable": filters.parse_bool,
}
SORTABLE = {"createdAt", "amount", "name"}


def parse(query: str) -> filters.ListQuery:
    return filters.parse_list_query(query, FIELDS, SORTABLE)


def conditions(query: str) -> list[Condition]:
    return parse(query).conditions


def refused(query: str) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        parse(query)
    assert caught.value.code == "validation_error"
    assert caught.value.status == 422
    return [f.name for f in caught.value.fields]


def test_defaults() -> None:
    query = parse("")

    assert query.conditions == []
    assert query.order == [("createdAt", True)]
    assert (query.page, query.page_size, query.offset) == (1, 30, 0)


def test_equality() -> None:
    assert conditions("status=created") == [Condition("status", "eq", ["created"])]


@pytest.mark.parametrize(
    "query",
    [
        "status[]=a&status[]=b",
        "status%5B%5D=a&status%5B%5D=b",
        "status[0]=a&status[1]=b",
        "status%5B0%5D=a&status%5B1%5D=b",
        "status=a&status=b",
        "status[_eq]=a&status[_eq]=b",
    ],
)
def test_in_lists(query: str) -> None:
    assert conditions(query) == [Condition("status", "in", ["a", "b"])]


def test_single_bracket_value_is_still_a_list() -> None:
    assert conditions("status[]=a") == [Condition("status", "in", ["a"])]


@pytest.mark.parametrize("op", sorted(filters.OPERATORS))
@pytest.mark.parametrize("underscore", ["_", ""])
def test_every_operator_with_and_without_underscore(op: str, underscore: str) -> None:
    assert conditions(f"name[{underscore}{op}]=x") == [Condition("name", op, ["x"])]


def test_nested_fields_and_their_operators() -> None:
    expected = [Condition("customer.type", "eq", ["legal"])]
    assert conditions("customer[type][eq]=legal") == expected
    assert conditions("customer[type][_eq]=legal") == expected
    assert conditions("customer[type]=legal") == expected
    assert conditions(quote("customer[type][eq]", safe="") + "=legal") == expected


def test_typed_values() -> None:
    parsed = conditions("amount[_ge]=10.50&shopId=333&processable=false&id=ABC")

    assert Condition("amount", "ge", [Decimal("10.50")]) in parsed
    assert Condition("shopId", "eq", [333]) in parsed
    assert Condition("processable", "eq", [False]) in parsed
    assert Condition("id", "eq", ["abc"]) in parsed


MARCH_1 = datetime(2021, 1, 27, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "2021-01-27T00:00:00",
        "2021-01-27T00:00:00Z",
        "2021-01-27T00:00:00+00:00",
        "2021-01-27T00:00:00%2B00:00",
        "2021-01-27T00:00:00+00:00",  # raw + arrives as a space
        "2021-01-27T03:00:00+03:00",
        "2021-01-26T19:00:00-05:00",
        "2021-01-27",
    ],
)
def test_datetimes(value: str) -> None:
    [cond] = conditions(f"createdAt[_ge]={value}")

    assert cond.values == [MARCH_1]
    assert cond.values[0].tzinfo is not None


def test_parse_datetime_directly() -> None:
    assert filters.parse_datetime("2021-01-27T00:00:00 00:00") == MARCH_1
    with pytest.raises(ValueError):
        filters.parse_datetime("yesterday")


def test_sorting() -> None:
    assert parse("_order[createdAt]=asc").order == [("createdAt", False)]
    assert parse("_order%5Bamount%5D=DESC").order == [("amount", True)]
    assert parse("_order[amount]=desc&_order[name]=asc").order == [
        ("amount", True),
        ("name", False),
    ]


@pytest.mark.parametrize(
    "query",
    [
        "_order=createdAt:desc",
        "_order[createdAt]=up",
        "_order[status]=asc",
        "_order[createdAt][x]=asc",
    ],
)
def test_bad_sorting(query: str) -> None:
    assert refused(query)


def test_paging_spellings() -> None:
    assert (parse("page=2&pageSize=10").page, parse("page=2&pageSize=10").page_size) == (2, 10)
    assert parse("_page=3&_pageSize=5").offset == 10
    both = parse("page=1&pageSize=10&_page=4&_pageSize=20")
    assert (both.page, both.page_size) == (4, 20)
    reversed_order = parse("_pageSize=20&pageSize=10")
    assert reversed_order.page_size == 20


@pytest.mark.parametrize(
    "query",
    ["pageSize=101", "_pageSize=0", "page=0", "page=-1", "_page=x", "pageSize=", "_page[1]=2"],
)
def test_bad_paging(query: str) -> None:
    assert refused(query)


def test_page_size_100_is_the_maximum() -> None:
    assert parse("_pageSize=100").page_size == 100


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("unknown=1", "unknown"),
        ("customer[phone]=1", "customer.phone"),
        ("amount=abc", "amount"),
        ("shopId=1.5", "shopId"),
        ("createdAt[_gt]=nope", "createdAt"),
        ("amount[_start]=1", "amount"),
        ("name[_gt]=a&name[_gt]=b", "name"),
        ("processable=maybe", "processable"),
        ("1bad=2", "1bad"),
    ],
)
def test_refusals_name_the_field(query: str, field: str) -> None:
    assert field in refused(query)


def test_every_error_is_reported_at_once() -> None:
    assert set(refused("unknown=1&amount=abc&pageSize=1000")) == {"unknown", "amount", "pageSize"}


def test_nan_and_infinity_are_no_numbers() -> None:
    assert refused("amount=NaN")
    assert refused("amount=Infinity")


def test_mixed_equality_spellings_join_one_in_list() -> None:
    query = filters.parse_list_query(
        "status[]=created&status=completed&status[0]=hold",
        {"status": filters.parse_str},
        {"createdAt"},
    )
    assert [(c.field, c.op, sorted(c.values)) for c in query.conditions] == [
        ("status", "in", ["completed", "created", "hold"])
    ]
