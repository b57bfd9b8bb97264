"""Order amount rules of api.md §8.5, each failing with its documented code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from marketbox.errors import ValidationFailed
from marketbox.orders import validation
from marketbox.orders.schemas import BasketItem, CreateOrderRequest
from marketbox.orders.validation import OrderRuleError

D = Decimal


def item(**overrides: Any) -> BasketItem:
    values: dict[str, Any] = {
        "sku": "sku-1",
        "name": "Билет",
        "measure": "шт.",
        "measureCode": "796",
        "quantity": D(1),
        "amount": D("100.00"),
        "amountWoVat": D("100.00"),
        "totalAmount": D("100.00"),
        "totalVatAmount": D(0),
        "vatCode": "VATNONE",
        "type": "service",
        "paymentType": "full_prepayment",
    }
    values.update(overrides)
    return BasketItem.model_validate(values)


def check(*items: BasketItem, policy: str = "strict", validate: bool = True) -> list[dict]:
    return validation.check_basket(list(items), round_policy=policy, validate_amounts=validate)


def code_of(*items: BasketItem, policy: str = "strict") -> str:
    with pytest.raises(ValidationFailed) as caught:
        check(*items, policy=policy)
    return caught.value.code


DOCS_EXAMPLE = {
    "quantity": D(3),
    "amount": D("123.96"),
    "amountWoVat": D("103.30"),
    "totalAmount": D("371.88"),
    "totalVatAmount": D("61.98"),
    "vatCode": "RUS_VAT20",
}


def test_docs_example_3_x_123_96() -> None:
    [line] = check(item(**DOCS_EXAMPLE))

    assert line["totalAmount"] == D("371.88")
    assert line["totalVatAmount"] == D("61.98")
    validation.check_totals(D("371.88"), D("61.98"), [line], validate_amounts=True)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"totalAmount": D("371.87")}, "wrong_basket_item_total_amount"),
        ({"totalAmount": D("371.89")}, "wrong_basket_item_total_amount"),
        ({"totalVatAmount": D("61.96")}, "wrong_basket_item_total_vat_amount"),
        ({"vatCode": "RUS_VAT10"}, "wrong_basket_item_total_vat_amount"),
        ({"vatCode": "VATNONE"}, "wrong_basket_item_total_vat_amount"),
        ({"amountWoVat": D("103.40")}, "wrong_basket_item_amount_wo_vat"),
        ({"amountWoVat": D("123.96")}, "wrong_basket_item_amount_wo_vat"),
    ],
)
def test_each_line_rule_has_its_code(change: dict, code: str) -> None:
    assert code_of(item(**{**DOCS_EXAMPLE, **change})) == code


def test_line_rules_run_in_the_documented_order() -> None:
    everything_wrong = item(
        **{**DOCS_EXAMPLE, "totalAmount": D("1.00"), "totalVatAmount": D("5.00")}
    )
    assert code_of(everything_wrong) == "wrong_basket_item_total_amount"


def test_vat_tolerance_is_one_kopeck() -> None:
    check(item(**{**DOCS_EXAMPLE, "totalVatAmount": D("61.97")}))
    check(item(**{**DOCS_EXAMPLE, "totalVatAmount": D("61.99")}))


@pytest.mark.parametrize(
    ("code", "total", "vat"),
    [
        ("RUS_VAT10", "110.00", "10.00"),
        ("RUS_VAT10_ADDED", "110.00", "10.00"),
        ("RUS_VAT20_ADDED", "120.00", "20.00"),
        ("RUS_VAT22", "122.00", "22.00"),
        ("RUS_VAT22_ADDED", "122.00", "22.00"),
        ("RUS_VAT5", "105.00", "5.00"),
        ("RUS_VAT5_ADDED", "105.00", "5.00"),
        ("RUS_VAT7", "107.00", "7.00"),
        ("RUS_VAT7_ADDED", "107.00", "7.00"),
        ("RUS_VAT0", "100.00", "0"),
        ("VATNONE", "100.00", "0"),
    ],
)
def test_every_vat_code(code: str, total: str, vat: str) -> None:
    wo_vat = D(total) - D(vat)
    line = item(
        vatCode=code,
        amount=D(total),
        totalAmount=D(total),
        totalVatAmount=D(vat),
        amountWoVat=wo_vat,
    )
    check(line)
    wrong = item(
        vatCode=code,
        amount=D(total),
        totalAmount=D(total),
        totalVatAmount=D(vat) + D("0.02"),
        amountWoVat=wo_vat - D("0.02"),
    )
    assert code_of(wrong) == "wrong_basket_item_total_vat_amount"


def test_unknown_vat_code_is_a_schema_error() -> None:
    with pytest.raises(ValidationError):
        item(vatCode="RUS_VAT18")


FRACTIONAL = {"quantity": D("2.5"), "amount": D("10.10"), "amountWoVat": D("10.10")}  # 25.25
HALF = {"quantity": D("2.5"), "amount": D("10.20"), "amountWoVat": D("10.20")}  # 25.50


@pytest.mark.parametrize(
    ("policy", "line", "accepted", "refused"),
    [
        ("strict", FRACTIONAL, ["25.25"], ["25.00", "25.26", "26.00"]),
        ("none", FRACTIONAL, ["25.25", "25.26", "30.00"], ["25.24", "25.00"]),
        ("floor", FRACTIONAL, ["25.25", "25.00"], ["26.00", "25.20"]),
        ("ceil", FRACTIONAL, ["25.25", "26.00"], ["25.00"]),
        ("halfUp", HALF, ["25.50", "26.00"], ["25.00"]),
        ("halfDown", HALF, ["25.50", "25.00"], ["26.00"]),
        ("halfUp", FRACTIONAL, ["25.00"], ["26.00"]),
    ],
)
def test_round_policies(policy: str, line: dict, accepted: list[str], refused: list[str]) -> None:
    for total in accepted:
        check(item(**line, totalAmount=D(total)), policy=policy)
    for total in refused:
        code = code_of(item(**line, totalAmount=D(total)), policy=policy)
        assert code == "wrong_basket_item_total_amount", (policy, total)


def test_rounded_line_with_vat_passes_every_rule() -> None:
    # 2.5 × 10.10 = 25.25, ceil → 26.00; VAT 20/120 of 26.00 = 4.33
    line = item(
        quantity=D("2.5"),
        amount=D("10.10"),
        amountWoVat=D("8.42"),
        totalAmount=D("26.00"),
        totalVatAmount=D("4.33"),
        vatCode="RUS_VAT20",
    )
    check(line, policy="ceil")


def test_disable_validate_skips_amount_rules_but_not_shape() -> None:
    lines = check(item(totalAmount=D("1.00")), validate=False)
    validation.check_totals(D("5.00"), D(0), lines, validate_amounts=False)

    with pytest.raises(ValidationFailed):
        check(item(amount=D("-1.00")), validate=False)


@pytest.mark.parametrize(
    ("amount", "vat", "code"),
    [
        (D("100.01"), D(0), "wrong_total_amount"),
        (D("99.99"), D(0), "wrong_total_amount"),
        (D("100.00"), D("0.01"), "wrong_total_vat_amount"),
    ],
)
def test_order_totals(amount: Decimal, vat: Decimal, code: str) -> None:
    lines = check(item(), item(sku="sku-2", amount=D(0), amountWoVat=D(0), totalAmount=D(0)))
    with pytest.raises(OrderRuleError) as caught:
        validation.check_totals(amount, vat, lines, validate_amounts=True)

    assert caught.value.code == code
    assert caught.value.fields[0].as_dict() == {
        "name": "amount" if code == "wrong_total_amount" else "vatAmount",
        "code": "wrong_value",
        "message": "",
    }


def test_order_total_is_the_sum_of_lines() -> None:
    lines = check(item(), item(sku="sku-2", **DOCS_EXAMPLE))
    validation.check_totals(D("471.88"), D("61.98"), lines, validate_amounts=True)


# --- Exact decimals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field", ["quantity", "amount", "amountWoVat", "totalAmount", "totalVatAmount"]
)
def test_floats_are_refused_by_the_schema(field: str) -> None:
    with pytest.raises(ValidationError):
        item(**{field: 100.0})


def test_booleans_are_no_amounts() -> None:
    with pytest.raises(ValidationError):
        item(amount=True)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("0.30000000000000004", "0.30"),  # PHP json_encode of 0.1 + 0.2
        ("0.29999999999999999", "0.30"),
        ("19658.45", "19658.45"),
        ("1E+2", "100.00"),
        ("100", "100.00"),
    ],
)
def test_float_noise_is_forgiven(raw: str, clean: str) -> None:
    result = validation.clean_amount(D(raw), "amount")

    assert result == D(clean)
    assert str(result) == clean


@pytest.mark.parametrize("raw", ["0.301", "0.305", "19658.455", "0.30001"])
def test_real_fractions_of_a_kopeck_are_refused(raw: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validation.clean_amount(D(raw), "basketItems[0].amount")

    assert caught.value.code == "validation_error"
    assert caught.value.fields[0].name == "basketItems[0].amount"


def test_noisy_line_is_normalised() -> None:
    [line] = check(
        item(amount=D("0.30000000000000004"), amountWoVat=D("0.30"), totalAmount=D("0.30"))
    )

    assert line["amount"] == D("0.30")


@pytest.mark.parametrize("quantity", [D(0), D(-1)])
def test_quantity_must_be_positive(quantity: Decimal) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check(item(quantity=quantity))
    assert caught.value.code == "validation_error"


def test_fractional_quantity_is_kept() -> None:
    [line] = check(item(quantity=D("2.5"), totalAmount=D("250.00"), amountWoVat=D("100.00")))
    assert line["quantity"] == D("2.5")


# --- Currency, language, expiration ------------------------------------------------------------


@pytest.mark.parametrize("currency", ["RUB", "USD", "EUR", "GBP", "CNY", "UZS"])
def test_supported_currencies(currency: str) -> None:
    validation.check_currency(currency)


@pytest.mark.parametrize("currency", ["XYZ", "rub", ""])
def test_unsupported_currency(currency: str) -> None:
    with pytest.raises(OrderRuleError) as caught:
        validation.check_currency(currency)
    assert caught.value.code == "wrong_currency"


def test_languages() -> None:
    validation.check_language("ru")
    validation.check_language("en")
    validation.check_language(None)
    with pytest.raises(OrderRuleError) as caught:
        validation.check_language("de")
    assert caught.value.code == "language_not_found"


NOW = datetime(2024, 7, 25, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-07-26T00:00:00+00:00", datetime(2024, 7, 26, tzinfo=UTC)),
        ("2024-07-26T03:00:00+03:00", datetime(2024, 7, 26, tzinfo=UTC)),
        ("2024-07-26T00:00:00Z", datetime(2024, 7, 26, tzinfo=UTC)),
        ("2024-07-26T00:00:00", datetime(2024, 7, 26, tzinfo=UTC)),
        ("2024-07-26T00:00:00.123456+00:00", datetime(2024, 7, 26, tzinfo=UTC)),
    ],
)
def test_expiration_formats(value: str, expected: datetime) -> None:
    assert validation.parse_expiration(value, NOW) == expected


@pytest.mark.parametrize(
    "value", ["tomorrow", "", "2024-07-25T09:00:00+00:00", "2024-07-24T00:00:00+00:00"]
)
def test_bad_or_past_expiration(value: str) -> None:
    with pytest.raises(OrderRuleError) as caught:
        validation.parse_expiration(value, NOW)
    assert caught.value.code == "wrong_expiration_date"


def test_create_request_requires_a_basket() -> None:
    payload = {
        "description": "x",
        "merchantId": "m",
        "merchantOrderId": "1",
        "amount": D(1),
        "vatAmount": D(0),
        "currencyId": "RUB",
        "expirationDate": (NOW + timedelta(days=1)).isoformat(),
        "basketItems": [],
        "customer": {},
    }
    with pytest.raises(ValidationError):
        CreateOrderRequest.model_validate(payload)
