"""JSON with exact money (jsonutil.py): Decimal in, Decimal out, PHP style for notifications."""

from __future__ import annotations

import collections
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from marketbox import jsonutil


def test_point_one_plus_point_two_stays_exact() -> None:
    data = jsonutil.loads(b'{"a":0.1,"b":0.2}')

    assert isinstance(data["a"], Decimal)
    assert data["a"] + data["b"] == Decimal("0.3")
    assert jsonutil.dumps({"sum": data["a"] + data["b"]}) == b'{"sum":0.3}'


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (b"19658.45", Decimal("19658.45")),
        (b"1e-2", Decimal("0.01")),
        (b"0.30000000000000004", Decimal("0.30000000000000004")),
        (b"2790.67", Decimal("2790.67")),
    ],
)
def test_numbers_parse_to_exact_decimals(text: bytes, value: Decimal) -> None:
    parsed = jsonutil.loads(text)

    assert isinstance(parsed, Decimal)
    assert parsed == value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("19658.45"), b"19658.45"),
        (Decimal("0.30"), b"0.30"),
        (Decimal("100.00"), b"100.00"),
        (Decimal(0), b"0"),
        (1200, b"1200"),
    ],
)
def test_decimals_serialize_as_json_numbers(value: object, text: bytes) -> None:
    assert jsonutil.dumps(value) == text
    assert jsonutil.loads(jsonutil.dumps(value)) == value


def test_round_trip_of_a_document() -> None:
    document = {"amount": Decimal("19658.45"), "items": [{"q": Decimal("2.5")}], "ok": True}

    assert jsonutil.loads(jsonutil.dumps(document)) == document


def test_integers_stay_integers() -> None:
    parsed = jsonutil.loads(b"[1200, 0]")

    assert parsed == [1200, 0]
    assert all(type(v) is int for v in parsed)


def test_dumps_is_compact_utf8() -> None:
    assert jsonutil.dumps({"a": "Проездной", "b": [1, 2]}) == '{"a":"Проездной","b":[1,2]}'.encode()


def test_dumps_keeps_slashes_and_dumps_php_escapes_them() -> None:
    document = {"url": "https://pay.invoicebox.ru/order/1", "name": "Проездной билет"}

    assert (
        jsonutil.dumps(document)
        == '{"url":"https://pay.invoicebox.ru/order/1","name":"Проездной билет"}'.encode()
    )
    assert jsonutil.dumps_php(document) == (
        '{"url":"https:\\/\\/pay.invoicebox.ru\\/order\\/1","name":"Проездной билет"}'.encode()
    )


def test_dumps_php_escapes_slash_in_keys_and_keeps_other_escapes() -> None:
    assert jsonutil.dumps_php({"a/b": 'q"\\'}) == b'{"a\\/b":"q\\"\\\\"}'


@pytest.mark.parametrize("text", [b"NaN", b"[Infinity]", b"-Infinity", b"{", b"\xff", b""])
def test_invalid_json_is_refused(text: bytes) -> None:
    with pytest.raises(jsonutil.JSONDecodeError):
        jsonutil.loads(text)


def test_json_decode_error_is_a_value_error() -> None:
    assert issubclass(jsonutil.JSONDecodeError, ValueError)


def test_an_indented_body_keeps_every_number_as_it_was_sent() -> None:
    # The office shows a notification's body indented: 3190.00 must not become 3190.0.
    body = b'{"amount":3190.00,"vatAmount":0.0,"quantity":2,"name":"\xd0\xa7\xd0\xb0\xd0\xb9"}'
    shown = jsonutil.dumps_indented(jsonutil.loads(body))
    assert '"amount": 3190.00' in shown
    assert '"vatAmount": 0.0' in shown
    assert '"quantity": 2' in shown
    assert '"name": "Чай"' in shown


# What orjson does not write goes to simplejson (jsonutil.dumps): the same bytes either way.
Point = collections.namedtuple("Point", "x y")


@pytest.mark.parametrize(
    "value",
    [
        {"amount": Decimal("1200.10"), "quantity": Decimal("2"), "vat": Decimal("1E+2")},
        {"name": "Иван «Ёлкин»", "note": 'line\nbreak\t"quoted"\\ \x01 \u2028', "url": "a/b"},
        [10**30, -(2**64), 2**63 - 1, True, None, [], {}],  # beyond 64 bits: simplejson
        {1: "integer key", "nested": {2.5: "float key"}},  # keys that are not strings
        Point(1, Decimal("2.50")),  # simplejson writes a namedtuple as an object
        {"deep": [[[[{"a": [Decimal("0.01")]}]]]]},
        ("a", "tuple"),
    ],
)
def test_dumps_writes_what_simplejson_wrote(value: object) -> None:
    assert jsonutil.dumps(value) == jsonutil._simplejson_dumps(value)


@pytest.mark.parametrize("value", [datetime(2026, 12, 8, tzinfo=UTC), {"at": date(2026, 12, 8)}])
def test_dumps_still_refuses_what_is_not_json(value: object) -> None:
    with pytest.raises(TypeError):
        jsonutil.dumps(value)


def test_dumps_refuses_a_lone_surrogate_as_before() -> None:
    with pytest.raises(UnicodeEncodeError):
        jsonutil.dumps({"name": "\ud800"})
