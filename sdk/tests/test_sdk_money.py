"""Decimal money round-trips exactly; floats are refused."""

import datetime as dt
from decimal import Decimal

import pytest

from marketbox_sdk import BasketItem, to_decimal
from marketbox_sdk._json import dumps, format_datetime, loads


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("19658.45"), "19658.45"),
        (Decimal("0.1") + Decimal("0.2"), "0.3"),
        (Decimal("1e-2"), "0.01"),
        (Decimal("1E+2"), "100"),
        (Decimal("371.88"), "371.88"),
        (Decimal("120.000"), "120.000"),
        (Decimal("-0"), "0"),
        (Decimal("0.30000000000000004"), "0.30000000000000004"),
        (1200, "1200"),
    ],
)
def test_decimal_is_written_as_exact_json_number(value, expected: str) -> None:
    assert dumps({"amount": value}) == '{"amount":' + expected + "}"


@pytest.mark.parametrize("text", ["19658.45", "0.3", "0.01", "2790.67", "0.30000000000000004"])
def test_json_round_trip_keeps_digits(text: str) -> None:
    body = '{"amount":' + text + "}"

    parsed = loads(body)

    assert parsed["amount"] == Decimal(text)
    assert isinstance(parsed["amount"], Decimal)
    assert dumps(parsed) == body


def test_float_sum_is_not_what_decimal_gives() -> None:
    # The reason floats are refused: 0.1 + 0.2 as float is 0.30000000000000004.
    exact = Decimal("0.1") + Decimal("0.2")

    assert dumps(exact) == "0.3"
    with pytest.raises(TypeError):
        dumps(0.1 + 0.2)


@pytest.mark.parametrize("value", [19658.45, 0.1])
def test_float_money_raises_type_error(value: float) -> None:
    with pytest.raises(TypeError):
        to_decimal(value)
    with pytest.raises(TypeError):
        dumps({"amount": value})


def test_float_in_a_model_raises_type_error() -> None:
    with pytest.raises(TypeError):
        BasketItem(
            sku="a",
            name="n",
            measure="шт.",
            measure_code="796",
            quantity=1,
            amount=10.5,  # type: ignore[arg-type]
            amount_wo_vat=Decimal("10.5"),
            total_amount=Decimal("10.5"),
            total_vat_amount=0,
            vat_code="VATNONE",
            type="commodity",
            payment_type="full_payment",
        )


@pytest.mark.parametrize(
    ("value", "expected"),
    [("19658.45", Decimal("19658.45")), (7, Decimal(7)), (Decimal("1e-2"), Decimal("0.01"))],
)
def test_to_decimal_accepts_exact_inputs(value, expected: Decimal) -> None:
    assert to_decimal(value) == expected


@pytest.mark.parametrize("value", ["NaN", "Infinity", "abc"])
def test_to_decimal_rejects_non_numbers(value: str) -> None:
    with pytest.raises(ValueError):
        to_decimal(value)


def test_true_is_not_money() -> None:
    with pytest.raises(TypeError):
        to_decimal(True)


def test_non_ascii_text_is_kept_raw() -> None:
    assert dumps({"measure": "шт."}) == '{"measure":"шт."}'


def test_aware_datetime_is_sent_in_utc_with_offset() -> None:
    moscow = dt.timezone(dt.timedelta(hours=3))
    value = dt.datetime(2024, 7, 26, 3, 0, 0, 123456, tzinfo=moscow)

    assert format_datetime(value) == "2024-07-26T00:00:00+00:00"
    assert dumps({"expirationDate": value}) == '{"expirationDate":"2024-07-26T00:00:00+00:00"}'


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        dumps(dt.datetime(2024, 7, 26))


def test_date_is_sent_as_iso_date() -> None:
    assert dumps(dt.date(2024, 7, 30)) == '"2024-07-30"'
