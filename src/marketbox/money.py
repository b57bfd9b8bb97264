"""Money rules: Decimal in, integer minor units in storage, exact JSON numbers out.

Rounding happens here and nowhere else: ROUND_HALF_UP to the currency's minor unit
(spec/api.md §8.5 "round half-up to 1 kopeck"). A float never becomes money: the JSON parser
reads numbers as Decimal, and building money from a float raises TypeError.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_DOWN, ROUND_HALF_UP, Decimal

# spec/api.md §8.9: the currencies the platform accepts, each with its minor-unit exponent.
CURRENCY_DECIMALS: dict[str, int] = {"RUB": 2, "USD": 2, "EUR": 2, "GBP": 2, "CNY": 2, "UZS": 2}
CURRENCIES = frozenset(CURRENCY_DECIMALS)

CENT = Decimal("0.01")
ONE = Decimal(1)

ROUNDING_MODES = {
    "floor": ROUND_FLOOR,
    "ceil": ROUND_CEILING,
    "halfUp": ROUND_HALF_UP,
    "halfDown": ROUND_HALF_DOWN,
}


def to_decimal(value: object) -> Decimal:
    """Exact Decimal from a JSON number (already Decimal/int) or a numeric string."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not an amount")
    if isinstance(value, float):
        raise TypeError("money must never pass through float")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        return Decimal(value.strip())
    raise TypeError(f"not an amount: {type(value).__name__}")


def round2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def to_minor(value: Decimal, currency: str = "RUB") -> int:
    """Integer minor units; the value must already be a whole number of them."""
    scaled = value.scaleb(CURRENCY_DECIMALS.get(currency, 2))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more decimals than {currency} allows")
    return int(scaled)


def from_minor(minor: int, currency: str = "RUB") -> Decimal:
    places = CURRENCY_DECIMALS.get(currency, 2)
    return Decimal(minor).scaleb(-places).quantize(Decimal(1).scaleb(-places))


def has_at_most_cents(value: Decimal) -> bool:
    return value == round2(value)


def vat_rate(vat_code: str) -> Decimal | None:
    """The percentage inside a `RUS_VATx` / `RUS_VATx_ADDED` code; None for VATNONE."""
    if vat_code == "VATNONE":
        return None
    digits = vat_code.removeprefix("RUS_VAT").removesuffix("_ADDED")
    return Decimal(digits)


def vat_from_total(total: Decimal, vat_code: str) -> Decimal:
    """VAT included in `total` for the code (spec/api.md §8.5 rule 2)."""
    rate = vat_rate(vat_code)
    if rate is None or rate == 0:
        return Decimal(0)
    return round2(total * rate / (100 + rate))


def round_whole(value: Decimal, policy: str) -> Decimal:
    return value.quantize(ONE, rounding=ROUNDING_MODES[policy])
