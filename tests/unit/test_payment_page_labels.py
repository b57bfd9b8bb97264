"""Who is paid, as the payment page and the confirmation name each order (issue 10 item 6):
the point of sale and what the order is, else the merchant's display name."""

from __future__ import annotations

import pytest

from marketbox.payment_page.invoice import _label


@pytest.mark.parametrize(
    ("shop_title", "description", "expected"),
    [
        ("Такси в аэропорт", "Комфорт", "Такси в аэропорт — Комфорт"),
        # the description only repeats the title, or there is none: the title alone
        ("Такси в аэропорт", "такси в аэропорт", "Такси в аэропорт"),
        ("Бизнес-зал", "Бизнес-зал", "Бизнес-зал"),
        ("Бизнес-зал", "  ", "Бизнес-зал"),
        # no point of sale: the merchant's display name, never the order's description
        (None, "Тестовый заказ", "Демо-магазин"),
        ("", "Тестовый заказ", "Демо-магазин"),
    ],
)
def test_an_order_is_named_by_its_point_of_sale(
    shop_title: str | None, description: str, expected: str
) -> None:
    assert _label(shop_title, description, "Демо-магазин") == expected
