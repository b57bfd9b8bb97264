import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
import pytest
from babel import Locale
from babel import numbers as babel_numbers
from hypothesis import example, given, settings
from hypothesis import strategies as st

from marketbox import clock
from marketbox.toolkit import formatting
from marketbox.toolkit.formatting import (
    format_date,
    format_date_short,
    format_money,
    format_phone,
    format_quantity,
    mask_email,
    plural,
    plural_ru,
    register_filters,
)

NBSP = "\u00a0"
MINUS = "\u2212"
MSK = ZoneInfo("Europe/Moscow")
NOW_2024 = datetime(2024, 7, 20, 9, 0, tzinfo=UTC)
NOW_2025 = datetime(2025, 1, 10, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class FakeMoney:
    amount: Decimal
    currency: str


# --- money --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (Decimal("1234.56"), f"1{NBSP}234,56{NBSP}₽"),
        (Decimal("500"), f"500,00{NBSP}₽"),
        (Decimal("0"), f"0,00{NBSP}₽"),
        (Decimal("0.1"), f"0,10{NBSP}₽"),
        (Decimal("12480.00"), f"12{NBSP}480,00{NBSP}₽"),
        (Decimal("1234567.8"), f"1{NBSP}234{NBSP}567,80{NBSP}₽"),
        (Decimal("-150"), f"{MINUS}150,00{NBSP}₽"),
        (Decimal("-1234.5"), f"{MINUS}1{NBSP}234,50{NBSP}₽"),
        (42, f"42,00{NBSP}₽"),
    ],
)
def test_format_money_ru(amount: Decimal, expected: str) -> None:
    assert format_money(amount) == expected


def test_format_money_en() -> None:
    assert format_money(Decimal("1234.56"), "RUB", "en") == f"1,234.56{NBSP}₽"
    assert format_money(Decimal("-1234.56"), "RUB", "en") == f"{MINUS}1,234.56{NBSP}₽"
    assert format_money(Decimal("1234.56"), "USD", "en") == "$1,234.56"
    assert format_money(Decimal("-5"), "EUR", "en") == f"{MINUS}€5.00"


@pytest.mark.parametrize(
    ("currency", "expected"),
    [
        ("RUB", f"1{NBSP}000,00{NBSP}₽"),
        ("USD", f"1{NBSP}000,00{NBSP}$"),
        ("EUR", f"1{NBSP}000,00{NBSP}€"),
        ("GBP", f"1{NBSP}000,00{NBSP}£"),
        ("CNY", f"1{NBSP}000,00{NBSP}¥"),
        ("UZS", f"1{NBSP}000,00{NBSP}сум"),
        ("rub", f"1{NBSP}000,00{NBSP}₽"),
        ("KZT", f"1{NBSP}000,00{NBSP}KZT"),
    ],
)
def test_format_money_currencies_ru(currency: str, expected: str) -> None:
    assert format_money(Decimal("1000"), currency) == expected


def test_format_money_whole() -> None:
    assert format_money(Decimal("350"), whole=True) == f"350{NBSP}₽"
    assert format_money(Decimal("350.00"), whole=True) == f"350{NBSP}₽"
    assert format_money(Decimal("12000"), whole=True) == f"12{NBSP}000{NBSP}₽"
    # real kopecks are never hidden
    assert format_money(Decimal("349.90"), whole=True) == f"349,90{NBSP}₽"


def test_format_money_rounds_for_display_only() -> None:
    assert format_money(Decimal("1.005")) == f"1,01{NBSP}₽"
    assert format_money(Decimal("-0.001")) == f"0,00{NBSP}₽"


def test_format_money_accepts_money_like_object() -> None:
    assert format_money(FakeMoney(Decimal("10"), "USD"), locale="en") == "$10.00"


@pytest.mark.parametrize("bad", [1.5, 0.1 + 0.2, float("nan")])
def test_format_money_rejects_float(bad: float) -> None:
    with pytest.raises(TypeError):
        format_money(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["100", None, True])
def test_format_money_rejects_other_types(bad: object) -> None:
    with pytest.raises(TypeError):
        format_money(bad)  # type: ignore[arg-type]


# --- quantity ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "locale", "expected"),
    [
        (Decimal("2"), "ru", "2"),
        (Decimal("2.000"), "ru", "2"),
        (Decimal("1.50"), "ru", "1,5"),
        (Decimal("0.125"), "ru", "0,125"),
        (Decimal("10"), "ru", "10"),
        (Decimal("1E+1"), "ru", "10"),
        (Decimal("1000"), "ru", f"1{NBSP}000"),
        (Decimal("1.50"), "en", "1.5"),
        (Decimal("1000.5"), "en", "1,000.5"),
        (3, "ru", "3"),
        (Decimal("-2.50"), "ru", f"{MINUS}2,5"),
    ],
)
def test_format_quantity(value: Decimal, locale: str, expected: str) -> None:
    assert format_quantity(value, locale) == expected


def test_format_quantity_rejects_float() -> None:
    with pytest.raises(TypeError):
        format_quantity(1.5)  # type: ignore[arg-type]


# --- dates ---------------------------------------------------------------------------------


def test_format_date_other_year_shows_year() -> None:
    moment = datetime(2024, 7, 14, 18, 5, tzinfo=MSK)
    assert format_date(moment, "ru", now=NOW_2025) == f"14{NBSP}июля{NBSP}2024, 18:05"
    assert format_date(moment, "en", now=NOW_2025) == f"14{NBSP}July{NBSP}2024, 18:05"


def test_format_date_current_year_omits_year() -> None:
    moment = datetime(2024, 7, 14, 18, 5, tzinfo=MSK)
    assert format_date(moment, "ru", now=NOW_2024) == f"14{NBSP}июля, 18:05"
    assert format_date(moment, "ru", with_time=False, now=NOW_2024) == f"14{NBSP}июля"


def test_format_date_converts_to_moscow() -> None:
    # 15:05 UTC is 18:05 in Moscow; naive datetimes are taken as UTC
    aware = datetime(2024, 7, 14, 15, 5, tzinfo=UTC)
    naive = datetime(2024, 7, 14, 15, 5)
    expected = f"14{NBSP}июля{NBSP}2024, 18:05"
    assert format_date(aware, now=NOW_2025) == expected
    assert format_date(naive, now=NOW_2025) == expected


def test_format_date_crosses_midnight_into_next_year() -> None:
    # 22:30 UTC on 31 Dec is already 1 January in Moscow
    moment = datetime(2024, 12, 31, 22, 30, tzinfo=UTC)
    assert format_date(moment, now=NOW_2025) == f"1{NBSP}января, 01:30"


def test_format_date_other_zone_and_label() -> None:
    moment = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
    assert (
        format_date(moment, now=NOW_2025, with_zone=True) == f"1{NBSP}марта{NBSP}2024, 09:00 (МСК)"
    )
    assert format_date(moment, now=NOW_2025, tz="Asia/Yekaterinburg") == (
        f"1{NBSP}марта{NBSP}2024, 11:00"
    )


@pytest.mark.parametrize(
    ("month", "word"),
    [(1, "января"), (2, "февраля"), (5, "мая"), (8, "августа"), (12, "декабря")],
)
def test_format_date_genitive_months(month: int, word: str) -> None:
    assert format_date(date(2023, month, 3), now=NOW_2024) == f"3{NBSP}{word}{NBSP}2023"


def test_format_date_relative_today() -> None:
    moment = datetime(2024, 7, 20, 15, 5, tzinfo=UTC)
    assert format_date(moment, now=NOW_2024, relative=True) == f"сегодня в{NBSP}18:05"
    assert format_date(moment, "en", now=NOW_2024, relative=True) == "today at 18:05"
    earlier = datetime(2024, 7, 19, 15, 5, tzinfo=UTC)
    assert format_date(earlier, now=NOW_2024, relative=True) == f"19{NBSP}июля, 18:05"


def test_format_date_rejects_non_dates() -> None:
    with pytest.raises(TypeError):
        format_date("2024-07-14")  # type: ignore[arg-type]


def test_format_date_short() -> None:
    assert format_date_short(date(2024, 7, 4)) == "04.07.2024"
    assert format_date_short(datetime(2024, 12, 31, 22, 30, tzinfo=UTC)) == "01.01.2025"
    assert format_date_short(datetime(2024, 7, 4, 12, 0, tzinfo=UTC), "en") == "04.07.2024"


# --- phones --------------------------------------------------------------------------------

RU_PHONE = NBSP.join(["+7", "999", "123", "45", "67"])


@pytest.mark.parametrize(
    "raw",
    [
        "89991234567",
        "+7 (999) 123-45-67",
        "79991234567",
        "+79991234567",
        "8 999 123 45 67",
        "9991234567",
        79991234567,
    ],
)
def test_format_phone_russian(raw: str) -> None:
    assert format_phone(raw) == RU_PHONE


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+44 20 7946 0958", f"+44{NBSP}20{NBSP}7946{NBSP}0958"),
        ("+998901234567", "+998901234567"),
        ("  12345 ", "12345"),
        ("", ""),
        (None, ""),
    ],
)
def test_format_phone_other(raw: str | None, expected: str) -> None:
    assert format_phone(raw) == expected


# --- plurals -------------------------------------------------------------------------------

FORMS = ("товар", "товара", "товаров")


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "товаров"),
        (1, "товар"),
        (2, "товара"),
        (4, "товара"),
        (5, "товаров"),
        (11, "товаров"),
        (12, "товаров"),
        (14, "товаров"),
        (21, "товар"),
        (22, "товара"),
        (25, "товаров"),
        (101, "товар"),
        (111, "товаров"),
        (112, "товаров"),
        (-1, "товар"),
        (Decimal("1.5"), "товара"),
        (Decimal("2.0"), "товара"),
    ],
)
def test_plural_ru(n: int, expected: str) -> None:
    assert plural_ru(n, *FORMS) == expected


def test_plural_fills_n() -> None:
    forms = ("Найдена {n} точка", "Найдено {n} точки", "Найдено {n} точек")
    assert plural(21, forms) == "Найдена 21 точка"
    assert plural(24, forms) == "Найдено 24 точки"
    assert plural(1005, forms) == f"Найдено 1{NBSP}005 точек"
    assert plural(1, ("{n} item", "{n} items"), "en") == "1 item"
    assert plural(2, ("{n} item", "{n} items"), "en") == "2 items"
    assert plural(0, ("{n} item", "{n} items"), "en") == "0 items"


def test_plural_ru_needs_three_forms() -> None:
    with pytest.raises(ValueError):
        plural(2, ("item", "items"), "ru")


def test_plural_rejects_float() -> None:
    with pytest.raises(TypeError):
        plural_ru(2.0, *FORMS)  # type: ignore[arg-type]


# --- email ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("alice@mail.ru", "a…@mail.ru"),
        ("a@mail.ru", "a…@mail.ru"),
        ("not-an-email", "n…"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_email(email: str | None, expected: str) -> None:
    assert mask_email(email) == expected


# --- Jinja filters -------------------------------------------------------------------------


@pytest.fixture
def env() -> jinja2.Environment:
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    register_filters(environment)
    return environment


def test_filters_use_context_lang(env: jinja2.Environment) -> None:
    template = env.from_string(
        "{{ amount|money }}|{{ q|qty }}|{{ n|plural('товар', 'товара', 'товаров') }}"
    )
    values = {"amount": Decimal("1234.5"), "q": Decimal("1.50"), "n": 3}
    assert template.render(lang="ru", **values) == f"1{NBSP}234,50{NBSP}₽|1,5|товара"
    assert template.render(lang="en", **values) == f"1,234.50{NBSP}₽|1.5|товаров"


def test_filters_explicit_arguments(env: jinja2.Environment) -> None:
    template = env.from_string(
        "{{ a|money('USD', 'en') }}|{{ a|money(whole=true) }}|{{ d|date(now=now) }}|"
        "{{ d|date_short }}|{{ p|phone }}|{{ e|mask_email }}|{{ n|plural(forms) }}"
    )
    out = template.render(
        a=Decimal("350"),
        d=datetime(2024, 7, 14, 15, 5, tzinfo=UTC),
        now=NOW_2024,
        p="89991234567",
        e="alice@mail.ru",
        n=5,
        forms=["товар", "товара", "товаров"],
    )
    assert out == (
        f"$350.00|350{NBSP}₽|14{NBSP}июля, 18:05|14.07.2024|{RU_PHONE}|a…@mail.ru|товаров"
    )


# --- a grid of outputs pinned before the move to Babel (tests/unit/data/formatting.json) ---
# Every row is the arguments and the text the hand-written formatter gave for them; the
# Babel-based one must give the same bytes (no-break spaces, U+2212, genitive months, МСК).

GRID = json.loads((Path(__file__).parent / "data" / "formatting.json").read_text("utf-8"))


def _moment(text: str) -> date:
    return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)


def test_grid_money() -> None:
    for amount, currency, locale, whole, expected in GRID["money"]:
        got = format_money(Decimal(amount), currency, locale, whole)
        assert got == expected, (amount, currency, locale, whole)


def test_grid_quantity() -> None:
    for value, locale, expected in GRID["quantity"]:
        assert format_quantity(Decimal(value), locale) == expected, (value, locale)


def test_grid_dates() -> None:
    for moment, now, locale, with_time, with_zone, relative, tz, expected in GRID["date"]:
        got = format_date(
            _moment(moment),
            locale,
            with_time,
            datetime.fromisoformat(now),
            tz=tz,
            with_zone=with_zone,
            relative=relative,
        )
        assert got == expected, (moment, now, locale, with_time, with_zone, relative, tz)
    for moment, locale, expected in GRID["date_short"]:
        assert format_date_short(_moment(moment), locale) == expected, (moment, locale)


PLURAL_FORMS = {
    "ru": ("{n} товар", "{n} товара", "{n} товаров"),
    "en": ("{n} item", "{n} items"),
    "en3": ("{n} item", "{n} itemz", "{n} items"),
}


def test_grid_plurals() -> None:
    for n, which, expected in GRID["plural"]:
        locale = which[:2]
        assert plural(Decimal(n), PLURAL_FORMS[which], locale) == expected, (n, which)
        if "." not in n:
            assert plural(int(n), PLURAL_FORMS[which], locale) == expected, (n, which)


def test_format_date_takes_the_current_year_from_the_injectable_clock() -> None:
    moment = datetime(2031, 5, 4, 9, 0, tzinfo=UTC)
    clock.set_now(lambda: datetime(2031, 1, 1, tzinfo=UTC))
    try:
        assert format_date(moment) == f"4{NBSP}мая, 12:00"
    finally:
        clock.set_now(None)
    assert format_date(moment, now=NOW_2025) == f"4{NBSP}мая{NBSP}2031, 12:00"


@settings(max_examples=300, deadline=None)
@given(
    amount=st.decimals(min_value=0, max_value=Decimal("1e15"), places=2, allow_nan=False),
    locale=st.sampled_from(["ru", "en"]),
)
@example(amount=Decimal("999.99"), locale="ru")
@example(amount=Decimal("1000"), locale="en")
@example(amount=Decimal("1234567.5"), locale="ru")
def test_money_number_is_what_babel_lays_out(amount: Decimal, locale: str) -> None:
    # formatting._money_number lays the digits out itself with CLDR's symbols; Babel's own
    # pattern for the currency number must give the same text, with and without decimals.
    for places in (2, 0):
        value = amount if places else amount.to_integral_value()
        pattern = babel_numbers.parse_pattern("#,##0" + (".00" if places else ""))
        babel_text = pattern.apply(value, Locale.parse(locale))
        assert formatting._money_number(value, locale, places) == babel_text
