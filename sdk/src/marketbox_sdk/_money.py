"""Money handling: amounts are `decimal.Decimal`, never `float`.

Invoicebox sends amounts as JSON numbers (`19658.45`). The SDK parses them with
`parse_float=Decimal` and writes `Decimal` values back out as JSON numbers digit for digit,
so an amount never passes through binary floating point.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

__all__ = ["format_decimal", "to_decimal"]


def to_decimal(value: object, *, name: str = "amount") -> Decimal:
    """Convert `value` to a finite `Decimal`.

    Accepts `Decimal`, `int` and numeric `str` (`"19658.45"`). A `float` raises `TypeError`
    because it has already lost the exact decimal value (`0.1 + 0.2 != 0.3`); pass a string
    or a `Decimal` instead. `bool` is rejected too.
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be Decimal, int or str, not bool")
    if isinstance(value, float):
        raise TypeError(
            f"{name} must be Decimal, int or str, not float ({value!r}); "
            "floats cannot represent money exactly, use Decimal('...')"
        )
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{name} is not a number: {value!r}") from None
    else:
        raise TypeError(f"{name} must be Decimal, int or str, not {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{name} must be finite, got {value!r}")
    return result


def format_decimal(value: Decimal) -> str:
    """Render a finite `Decimal` as a JSON number literal, without exponent.

    `Decimal("19658.45")` -> `19658.45`, `Decimal("1e-2")` -> `0.01`, `Decimal("1E+2")` -> `100`.
    The digits (and trailing zeros) the caller gave are kept as they are.
    """
    if not value.is_finite():
        raise ValueError(f"cannot encode non-finite Decimal {value!r} as JSON")
    text = format(value, "f")
    if text.startswith("-") and value.is_zero():
        return text[1:]
    return text
