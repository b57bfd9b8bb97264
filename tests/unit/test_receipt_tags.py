"""The 54-FZ dictionaries of receipts/tags.py: the API's string forms mapped onto tags 1212,
1214 and 2108 (docs/receipts.md "Tags")."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marketbox.receipts import tags


@pytest.mark.parametrize(
    ("payment_type", "sign"),
    [("full_prepayment", 1), ("prepayment", 2), ("advance", 3), ("full_payment", 4)],
)
def test_payment_type_is_tag_1214(payment_type: str, sign: int) -> None:
    assert tags.payment_method_sign(payment_type) == sign


@pytest.mark.parametrize(
    ("item_type", "subject"),
    [("commodity", 1), ("service", 4), (3, 3), ("12", 12), (33, 33), (28, 4), ("goods", 4)],
)
def test_item_type_is_tag_1212(item_type: object, subject: int) -> None:
    assert tags.subject_sign(item_type, tags.FULL_PREPAYMENT) == subject


def test_an_advance_is_a_payment_whatever_the_item() -> None:
    assert tags.subject_sign("commodity", tags.ADVANCE) == tags.SUBJECT_PAYMENT == 10


@pytest.mark.parametrize(
    ("okei", "measure"),
    [
        ("796", 0),
        ("166", 11),
        ("006", 22),
        ("6", 22),
        ("055", 32),
        ("112", 41),
        ("356", 71),
        ("359", 70),
        ("704", 255),
        (None, 0),
        ("", 0),
    ],
)
def test_okei_code_is_tag_2108(okei: str | None, measure: int) -> None:
    assert tags.measure_sign(okei) == measure


def test_vat_rate_of_each_code() -> None:
    assert tags.vat_rate("RUS_VAT20") == Decimal(20)
    assert tags.vat_rate("RUS_VAT22_ADDED") == Decimal(22)
    assert tags.vat_rate("VATNONE") is None
