"""Order amount, currency, language and date rules (spec/api.md §8.5), each with its code.

The checks run in the documented order and the first failure answers. Amounts are Decimal;
PHP clients may send float noise (``0.30000000000000004``): a value within 1e-9 of a whole
kopeck is taken as that kopeck, any other third decimal is refused as `validation_error`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from marketbox import money, parsing
from marketbox.errors import FieldError, ValidationFailed
from marketbox.orders.schemas import BasketItem

LANGUAGES = ("ru", "en")
_NOISE = Decimal("1e-9")
# How far ahead an order's deadline may be (docs/api.md "Accepted values"): ten years is
# beyond any invoice, and keeps the date printable in every time zone.
MAX_EXPIRATION_AHEAD = timedelta(days=3653)


class OrderRuleError(ValidationFailed):
    """A §8.5 rule with an Invoicebox code of its own."""

    code = "validation_error"

    def __init__(self, code: str, message: str, field: str) -> None:
        # The real API leaves the field message empty ("Calculation Error" sample, api.md §3).
        super().__init__(message, fields=[FieldError(field, "wrong_value", "")])
        self.code = code  # type: ignore[misc]


def clean_amount(value: Decimal, field: str) -> Decimal:
    """Exact cents, forgiving float noise, refusing real sub-kopeck values."""
    rounded = money.round2(value)
    if rounded != value and abs(value - rounded) > _NOISE:
        raise ValidationFailed(
            "Amounts have at most 2 decimals",
            fields=[FieldError(field, "wrong_value", "At most 2 decimals")],
        )
    return rounded


def clean_quantity(value: Decimal, field: str) -> Decimal:
    micro = value.quantize(Decimal("0.000001"))
    cleaned = micro if abs(value - micro) <= _NOISE else value
    if cleaned <= 0:
        raise ValidationFailed(
            "Quantity must be positive", fields=[FieldError(field, "wrong_value", "Must be > 0")]
        )
    return cleaned.normalize() if cleaned == cleaned.to_integral_value() else cleaned


def check_currency(currency: str) -> None:
    if currency not in money.CURRENCIES:
        raise OrderRuleError(
            "wrong_currency", f"Currency {currency!r} is not supported", "currencyId"
        )


def check_language(language: str | None) -> None:
    if language is not None and language not in LANGUAGES:
        raise OrderRuleError(
            "language_not_found", f"Language {language!r} is not supported", "languageId"
        )


def parse_expiration(value: str, now: datetime) -> datetime:
    """A deadline after `now` and at most `MAX_EXPIRATION_AHEAD` later, in UTC."""
    try:
        parsed = parsing.parse_datetime(value)
    except parsing.ParseError as exc:
        raise OrderRuleError(
            "wrong_expiration_date",
            f"expirationDate is not an RFC 3339 date-time in range: {exc}",
            "expirationDate",
        ) from exc
    if parsed <= now:
        raise OrderRuleError(
            "wrong_expiration_date", "expirationDate is in the past", "expirationDate"
        )
    if parsed > now + MAX_EXPIRATION_AHEAD:
        raise OrderRuleError(
            "wrong_expiration_date",
            "expirationDate is more than 10 years ahead",
            "expirationDate",
        )
    return parsed.replace(microsecond=0)


def _line_total_matches(quantity: Decimal, unit: Decimal, total: Decimal, policy: str) -> bool:
    exact = quantity * unit
    if policy == "strict":
        return money.round2(exact) == total
    if policy == "none":
        return money.round2(exact) <= total
    return money.round2(exact) == total or money.round_whole(exact, policy) == total


def check_basket(
    items: Sequence[BasketItem], *, round_policy: str, validate_amounts: bool
) -> list[dict[str, Any]]:
    """Normalise every line and check rules 1-4; returns the lines as stored."""
    lines = []
    for i, item in enumerate(items):
        prefix = f"basketItems[{i}]"
        quantity = clean_quantity(item.quantity, f"{prefix}.quantity")
        amount = clean_amount(item.amount, f"{prefix}.amount")
        amount_wo_vat = clean_amount(item.amountWoVat, f"{prefix}.amountWoVat")
        total = clean_amount(item.totalAmount, f"{prefix}.totalAmount")
        total_vat = clean_amount(item.totalVatAmount, f"{prefix}.totalVatAmount")
        if amount < 0 or amount_wo_vat < 0 or total < 0 or total_vat < 0:
            negatives = [
                name
                for name, value in (
                    ("amount", amount),
                    ("amountWoVat", amount_wo_vat),
                    ("totalAmount", total),
                    ("totalVatAmount", total_vat),
                )
                if value < 0
            ]
            raise ValidationFailed(
                "Amounts must not be negative",
                fields=[
                    FieldError(f"{prefix}.{n}", "wrong_value", "Must be >= 0") for n in negatives
                ],
            )
        if validate_amounts:
            if not _line_total_matches(quantity, amount, total, round_policy):
                raise OrderRuleError(
                    "wrong_basket_item_total_amount",
                    f"totalAmount of line {i + 1} is not quantity × amount",
                    f"{prefix}.totalAmount",
                )
            expected_vat = money.vat_from_total(total, item.vatCode)
            if abs(expected_vat - total_vat) > money.CENT or total_vat > total:
                raise OrderRuleError(
                    "wrong_basket_item_total_vat_amount",
                    f"totalVatAmount of line {i + 1} does not match {item.vatCode}",
                    f"{prefix}.totalVatAmount",
                )
            # A roundPolicy may move totalAmount away from quantity × amount (rule 1); the
            # same distance is allowed here, else rounded lines could never pass rule 3.
            slack = money.CENT + abs(total - money.round2(quantity * amount))
            if abs(money.round2(amount_wo_vat * quantity) + total_vat - total) > slack:
                raise OrderRuleError(
                    "wrong_basket_item_amount_wo_vat",
                    f"amountWoVat of line {i + 1} is inconsistent with totalAmount and VAT",
                    f"{prefix}.amountWoVat",
                )
        line = item.model_dump(exclude_none=True, mode="python")
        line.update(
            quantity=quantity,
            amount=amount,
            amountWoVat=amount_wo_vat,
            totalAmount=total,
            totalVatAmount=total_vat,
        )
        lines.append(line)
    return lines


def check_totals(
    amount: Decimal, vat_amount: Decimal, lines: Sequence[dict[str, Any]], *, validate_amounts: bool
) -> None:
    if amount < 0 or vat_amount < 0:
        raise ValidationFailed(
            "Amounts must not be negative",
            fields=[
                FieldError("amount" if amount < 0 else "vatAmount", "wrong_value", "Must be >= 0")
            ],
        )
    if not validate_amounts:
        return
    if amount != sum((line["totalAmount"] for line in lines), Decimal(0)):
        raise OrderRuleError("wrong_total_amount", "Calculation Error", "amount")
    if (
        vat_amount != sum((line["totalVatAmount"] for line in lines), Decimal(0))
        or vat_amount > amount
    ):
        raise OrderRuleError("wrong_total_vat_amount", "Calculation Error", "vatAmount")


def check_notification_url(url: str | None, *, require_https: bool) -> None:
    """Production refuses plain-http callbacks (notifications.md §1: HTTPS is expected)."""
    if require_https and url is not None and not url.lower().startswith("https://"):
        raise ValidationFailed(
            "notificationUrl must use https in production mode",
            fields=[FieldError("notificationUrl", "wrong_value", "https required")],
        )
