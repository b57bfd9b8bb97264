"""Money rules (money.py): Decimal only, half-up to the kopeck, minor units, VAT extraction."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marketbox import money


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("19658.45"), Decimal("19658.45")),
        (7, Decimal(7)),
        ("  12.30 ", Decimal("12.30")),
        ("0.30000000000000004", Decimal("0.30000000000000004")),
    ],
)
def test_to_decimal_is_exact(value: object, expected: Decimal) -> None:
    result = money.to_decimal(value)

    assert result == expected
    assert isinstance(result, Decimal)


@pytest.mark.parametrize("value", [0.1, True, None, [1], object()])
def test_to_decimal_refuses_floats_and_non_numbers(value: object) -> None:
    with pytest.raises(TypeError):
        money.to_decimal(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.005", "0.01"),
        ("0.015", "0.02"),
        ("2.675", "2.68"),  # a float would give 2.67
        ("0.004999", "0.00"),
        ("-0.005", "-0.01"),
        ("61.976", "61.98"),
        ("100", "100.00"),
    ],
)
def test_round2_is_half_up(value: str, expected: str) -> None:
    assert money.round2(Decimal(value)) == Decimal(expected)
    assert str(money.round2(Decimal(value))) == expected


@pytest.mark.parametrize(
    ("amount", "minor"),
    [("19658.45", 1965845), ("0.01", 1), ("0", 0), ("100", 10000), ("0.10", 10)],
)
def test_minor_units_round_trip(amount: str, minor: int) -> None:
    assert money.to_minor(Decimal(amount)) == minor
    assert money.from_minor(minor) == Decimal(amount)
    assert str(money.from_minor(minor, "RUB")).count(".") == 1
    assert len(str(money.from_minor(minor)).split(".")[1]) == 2


def test_to_minor_refuses_a_fraction_of_a_kopeck() -> None:
    with pytest.raises(ValueError):
        money.to_minor(Decimal("0.001"))


def test_sum_of_tenths_is_exact() -> None:
    assert money.to_minor(Decimal("0.1") + Decimal("0.2")) == 30


@pytest.mark.parametrize(
    ("code", "rate"),
    [
        ("VATNONE", None),
        ("RUS_VAT0", Decimal(0)),
        ("RUS_VAT5", Decimal(5)),
        ("RUS_VAT7_ADDED", Decimal(7)),
        ("RUS_VAT10", Decimal(10)),
        ("RUS_VAT20", Decimal(20)),
        ("RUS_VAT20_ADDED", Decimal(20)),
        ("RUS_VAT22", Decimal(22)),
        ("RUS_VAT22_ADDED", Decimal(22)),
    ],
)
def test_vat_rate_of_every_code_shape(code: str, rate: Decimal | None) -> None:
    assert money.vat_rate(code) == rate


@pytest.mark.parametrize(
    ("total", "code", "vat"),
    [
        ("371.88", "RUS_VAT20", "61.98"),  # the docs' example (api.md §8.5)
        ("110.00", "RUS_VAT10", "10.00"),
        ("122.00", "RUS_VAT22", "22.00"),
        ("122.00", "RUS_VAT22_ADDED", "22.00"),  # same extraction formula (api.md §8.9)
        ("120.00", "RUS_VAT20_ADDED", "20.00"),
        ("105.00", "RUS_VAT5", "5.00"),
        ("100.00", "RUS_VAT0", "0"),
        ("100.00", "VATNONE", "0"),
        ("0.05", "RUS_VAT20", "0.01"),  # 0.008333 rounds half-up to a kopeck
    ],
)
def test_vat_from_total(total: str, code: str, vat: str) -> None:
    assert money.vat_from_total(Decimal(total), code) == Decimal(vat)


@pytest.mark.parametrize(
    ("value", "policy", "expected"),
    [
        ("10.50", "floor", "10"),
        ("10.50", "ceil", "11"),
        ("10.50", "halfUp", "11"),
        ("10.50", "halfDown", "10"),
        ("10.51", "halfDown", "11"),
        ("10.49", "halfUp", "10"),
        ("10.01", "ceil", "11"),
        ("10.99", "floor", "10"),
    ],
)
def test_round_whole(value: str, policy: str, expected: str) -> None:
    assert money.round_whole(Decimal(value), policy) == Decimal(expected)


@pytest.mark.parametrize(
    ("value", "ok"), [("1.23", True), ("1.2", True), ("1", True), ("1.234", False)]
)
def test_has_at_most_cents(value: str, ok: bool) -> None:
    assert money.has_at_most_cents(Decimal(value)) is ok
