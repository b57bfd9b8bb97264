"""Display formatting: the one place that turns values into text for people.

Numbers, money and dates go through Babel with CLDR locale data (group and decimal
separators, currency patterns, month names in the genitive, plural categories). Where the
Russian typography of the pages (docs/architecture.md, "Text for people") asks for something
CLDR does not give, the difference is applied here and commented: U+2212 for minus, our own
currency symbols (₽ after the number in English too), the year left out when it is the
current one, «МСК».
Templates never format by hand; they call these functions as Jinja filters
(`register_filters`). Money is Decimal end to end: a float raises TypeError.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers

import marketbox.clock as clock
from marketbox.money import round2

NBSP = "\u00a0"
MINUS = "\u2212"
ELLIPSIS = "\u2026"

DEFAULT_TZ = ZoneInfo("Europe/Moscow")

# Currency symbol and whether English puts it before the number. CLDR would write «CN¥»,
# «UZS» and, in English, «RUB 1,234.56»; the UI writes ₽ after the number in both languages,
# «сум» for the sum and the bare code for a currency not listed here.
_CURRENCIES: dict[str, tuple[str, bool]] = {
    "RUB": ("₽", False),
    "USD": ("$", True),
    "EUR": ("€", True),
    "GBP": ("£", True),
    "CNY": ("¥", True),
    "UZS": ("сум", False),
}

# CLDR has no short name for Moscow time in Russian («Москва, стандартное время» at best).
_ZONE_LABELS = {"ru": {"Europe/Moscow": "МСК"}, "en": {"Europe/Moscow": "MSK"}}
# «сегодня в 18:05»: CLDR's relative day names are not in Babel's public API.
_TODAY_AT = {"ru": f"сегодня в{NBSP}{{time}}", "en": "today at {time}"}

# Babel date patterns (CLDR syntax). MMMM is the format-context month name: genitive in
# Russian («14 июля»). No-break spaces keep a date on one line.
_DAY_MONTH = f"d{NBSP}MMMM"
_YEAR = f"{NBSP}y"
_TIME = "HH:mm"
_SHORT_DATE = "dd.MM.yyyy"  # the same numeric form in both languages, as in forms and tables


def _locale(locale: str | None) -> str:
    # Kept local (not imported from i18n) so formatting has no dependency on the catalogue.
    return "en" if (locale or "").lower().startswith("en") else "ru"


@cache
def _cldr(locale: str) -> Locale:
    return Locale.parse(locale)


def _to_decimal(value: object, what: str) -> Decimal:
    if isinstance(value, float):
        raise TypeError(f"{what} must be Decimal or int, not float: {value!r}")
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{what} must be Decimal or int, not {type(value).__name__}")
    return Decimal(value)


def _minus(text: str) -> str:
    # CLDR's minus sign for ru and en is the hyphen-minus; the UI uses U+2212.
    return text.replace("-", MINUS, 1) if text.startswith("-") else text


def _money_number(value: Decimal, locale: str, places: int) -> str:
    """The unsigned number of an amount, laid out by CLDR's currency number pattern
    «#,##0.00» (grouping by thousands, two decimals) with the locale's symbols.

    `value` comes rounded to `places` already (format_money), so laying it out is all that is
    left: Python's own grouping by thousands, then CLDR's group and decimal symbols in place
    of "," and ".". That is the pattern's whole meaning for these locales, and the same text
    as Babel's `NumberPattern.apply` (tests/unit/test_formatting.py compares them), which
    fetched the symbols anew on every call: a third of a payment letter's cost (bench/
    "confirm")."""
    return f"{abs(value):,.{places}f}".translate(_money_symbols(locale))


@cache
def _money_symbols(locale: str) -> dict[int, str]:
    cldr = _cldr(locale)
    return str.maketrans(
        {
            ",": babel_numbers.get_group_symbol(cldr),
            ".": babel_numbers.get_decimal_symbol(cldr),
        }
    )


def format_money(
    amount: Decimal | int | Any,
    currency: str = "RUB",
    locale: str = "ru",
    whole: bool = False,
) -> str:
    """«1 234,56 ₽» (ru) or «1,234.56 ₽» (en), minus as U+2212.

    `amount` may also be a Money-like object with `.amount` and `.currency`; its currency
    wins. `whole=True` is the marketing form («от 350 ₽»): it drops «,00» but never hides
    kopecks that are really there.
    """
    if hasattr(amount, "amount") and hasattr(amount, "currency"):
        amount, currency = amount.amount, amount.currency
    value = _to_decimal(amount, "amount")
    loc = _locale(locale)
    code = currency.upper()
    # Display rounding is marketbox.money's half-up; Babel then only lays the digits out.
    quantized = round2(value)
    places = 0 if whole and quantized == quantized.to_integral_value() else 2
    number = _money_number(quantized, loc, places)
    sign = MINUS if quantized < 0 else ""  # CLDR's minus is the hyphen-minus; the UI's U+2212
    symbol, prefix = _CURRENCIES.get(code, (code, False))
    # CLDR's English pattern «¤#,##0.00» for the prefix currencies; the Russian «#,##0.00 ¤»
    # (no-break space) for everything else, in English too.
    if loc == "en" and prefix:
        return f"{sign}{symbol}{number}"
    return f"{sign}{number}{NBSP}{symbol}"


def format_quantity(value: Decimal | int, locale: str = "ru") -> str:
    """«1,5», «2», «1 000» (ru) / «1.5», «1,000» (en): no trailing zeros, no exponent."""
    number = _to_decimal(value, "quantity")
    # decimal_quantization=False keeps every significant digit instead of CLDR's three.
    text = babel_numbers.format_decimal(number, locale=_locale(locale), decimal_quantization=False)
    return _minus(text)


def _resolve_tz(tz: str | tzinfo | None) -> tzinfo:
    if tz is None:
        return DEFAULT_TZ
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def _localize(dt: date, tz: tzinfo) -> date:
    """Aware datetimes move to `tz`; naive ones are taken as UTC (how we store them)."""
    if isinstance(dt, datetime):
        aware = dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
        return aware.astimezone(tz)
    if isinstance(dt, date):
        return dt
    raise TypeError(f"expected date or datetime, not {type(dt).__name__}")


def _cldr_format(value: date, pattern: str, locale: str) -> str:
    if not isinstance(value, datetime):
        return babel_dates.format_date(value, pattern, locale=_cldr(locale))
    if "s" in pattern.lower():
        # `value` is already in the display zone; Babel keeps it there.
        return babel_dates.format_datetime(
            value, pattern, tzinfo=value.tzinfo, locale=_cldr(locale)
        )
    # Our patterns stop at minutes, so one minute's texts are the same: kept by the wall-clock
    # minute and its zone (an aware datetime alone compares by its instant, whatever its
    # zone), they cost a dictionary lookup instead of Babel's two passes.
    minute = value.replace(second=0, microsecond=0, tzinfo=None)
    return _cldr_format_minute(minute, value.tzinfo, pattern, locale)


@lru_cache(maxsize=4096)
def _cldr_format_minute(minute: datetime, zone: tzinfo | None, pattern: str, locale: str) -> str:
    # `minute` is the wall-clock time in `zone`, which Babel keeps.
    return babel_dates.format_datetime(
        minute.replace(tzinfo=zone), pattern, tzinfo=zone, locale=_cldr(locale)
    )


def format_date(
    dt: date,
    locale: str = "ru",
    with_time: bool = True,
    now: datetime | None = None,
    *,
    tz: str | tzinfo | None = None,
    with_zone: bool = False,
    relative: bool = False,
) -> str:
    """«14 июля 2024, 18:05» / «14 July 2024, 18:05»; the year is left out when it is now's year.

    `now` is "the current year" (default: marketbox.clock, so a pinned clock pins it too).
    A plain `date` prints without time.
    `with_zone` appends «(МСК)» for buyers who may be elsewhere; `relative` prints
    «сегодня в 18:05» for events of today.
    """
    loc = _locale(locale)
    zone = _resolve_tz(tz)
    local = _localize(dt, zone)
    today = _localize(now if now is not None else clock.now(), zone)
    has_time = with_time and isinstance(local, datetime)
    time_text = _cldr_format(local, _TIME, loc) if isinstance(local, datetime) else ""

    if relative and has_time and local.timetuple()[:3] == today.timetuple()[:3]:
        text = _TODAY_AT[loc].format(time=time_text)
    else:
        # CLDR's own medium pattern always shows the year; we drop it for the current one.
        pattern = _DAY_MONTH + (_YEAR if local.year != today.year else "")
        text = _cldr_format(local, pattern, loc)
        if has_time:
            text += f", {time_text}"
    if with_zone and has_time:
        key = getattr(zone, "key", "")
        label = _ZONE_LABELS[loc].get(key) or (
            local.tzname() if isinstance(local, datetime) else ""
        )
        text += f" ({label})"
    return text


def format_date_short(dt: date, locale: str = "ru", *, tz: str | tzinfo | None = None) -> str:
    """«14.07.2024», for forms and tables (same numeric form in both languages)."""
    local = _localize(dt, _resolve_tz(tz))
    return _cldr_format(local, _SHORT_DATE, "ru")


def format_phone(value: str | int | None) -> str:
    """«+7 999 123 45 67» with no-break spaces from any Russian input; other numbers kept
    readable (trimmed, inner spaces made unbreakable)."""
    if value is None:
        return ""
    raw = str(value).strip()
    digits = re.sub(r"\D", "", raw)
    international = raw.startswith("+")
    if len(digits) == 11 and (digits[0] == "7" or (digits[0] == "8" and not international)):
        digits = digits[1:]  # +7 / 7 country code, or the domestic trunk prefix 8
    elif not (len(digits) == 10 and digits[0] == "9" and not international):
        return re.sub(r"\s+", NBSP, raw)
    parts = ("+7", digits[0:3], digits[3:6], digits[6:8], digits[8:10])
    return NBSP.join(parts)


def plural_category(n: int | Decimal, locale: str = "ru") -> str:
    """The CLDR plural category of `n`: "one", "few", "many" or "other".

    Whole Decimals count as integers («2.0» is «2»), and the sign is ignored («−1 товар»).
    """
    number = abs(_to_decimal(n, "n"))
    if number == number.to_integral_value():
        number = Decimal(int(number))
    return _cldr(_locale(locale)).plural_form(number)


# Which of the forms a template passes belongs to each CLDR category. Russian fractions are
# CLDR's "other"; they take the genitive singular («1,5 товара»), the `few` form.
_FORM_INDEX = {
    "ru": {"one": 0, "few": 1, "many": 2, "other": 1},
    "en": {"one": 0, "other": -1},
}


def gettext_count(n: int | Decimal, locale: str = "ru") -> int:
    """The whole number to give gettext's `ngettext` for `n` (its Plural-Forms take integers).

    Whole numbers go as they are, without the sign in Russian; fractions, and negatives in
    English, go as 2, whose form is the one `plural` picks for them («1,5 товара», «−1 items»).
    """
    number = _to_decimal(n, "n")
    if number != number.to_integral_value() or (number < 0 and _locale(locale) == "en"):
        return 2
    return abs(int(number))


def plural_ru(n: int | Decimal, one: str, few: str, many: str) -> str:
    """Russian plural form: 1 товар, 2 товара, 5 товаров (fractions take the `few` form)."""
    return (one, few, many)[_FORM_INDEX["ru"][plural_category(n, "ru")]]


def plural(n: int | Decimal, forms: Sequence[str], locale: str = "ru") -> str:
    """Pick a plural form and fill `{n}` in it.

    `forms` is (one, few, many) for Russian and (one, other) for English; a 3-form tuple
    in English uses its first and last form. «Найдено {n} точек продаж» -> «Найдено 5 точек продаж».
    """
    loc = _locale(locale)
    if loc == "ru" and len(forms) != 3:
        raise ValueError("Russian plural needs three forms: one, few, many")
    category = plural_category(n, loc)
    if loc == "en" and n < 0:
        category = "other"  # CLDR ignores the sign; the pages have always said «−1 items»
    form = forms[_FORM_INDEX[loc][category]]
    return form.replace("{n}", format_quantity(n, loc)) if "{n}" in form else form


def mask_email(email: str | None) -> str:
    """«alice@mail.ru» -> «a…@mail.ru», for «Подтверждение оплаты отправлено на …»."""
    if not email:
        return ""
    local, at, domain = email.strip().partition("@")
    if not at:
        return f"{local[:1]}{ELLIPSIS}"
    return f"{local[:1]}{ELLIPSIS}@{domain}"


# --- Jinja ---------------------------------------------------------------------------------
# Filters take the page language from the template context variable `lang` unless a locale
# is passed explicitly: {{ total|money }}, {{ total|money("USD", whole=true) }}.


def _ctx_locale(ctx: jinja2.runtime.Context, locale: str | None) -> str:
    return _locale(locale or ctx.get("lang"))


@jinja2.pass_context
def _money_filter(
    ctx: jinja2.runtime.Context,
    amount: Any,
    currency: str = "RUB",
    locale: str | None = None,
    whole: bool = False,
) -> str:
    return format_money(amount, currency, _ctx_locale(ctx, locale), whole)


@jinja2.pass_context
def _date_filter(
    ctx: jinja2.runtime.Context,
    dt: date,
    with_time: bool = True,
    locale: str | None = None,
    **kwargs: Any,
) -> str:
    return format_date(dt, _ctx_locale(ctx, locale), with_time, **kwargs)


@jinja2.pass_context
def _date_short_filter(ctx: jinja2.runtime.Context, dt: date, locale: str | None = None) -> str:
    return format_date_short(dt, _ctx_locale(ctx, locale))


@jinja2.pass_context
def _qty_filter(
    ctx: jinja2.runtime.Context, value: Decimal | int, locale: str | None = None
) -> str:
    return format_quantity(value, _ctx_locale(ctx, locale))


@jinja2.pass_context
def _plural_filter(
    ctx: jinja2.runtime.Context, n: int | Decimal, *forms: Any, locale: str | None = None
) -> str:
    # Accept both n|plural("товар", "товара", "товаров") and n|plural(["товар", ...]).
    chosen: Sequence[str] = forms[0] if len(forms) == 1 and not isinstance(forms[0], str) else forms
    return plural(n, chosen, _ctx_locale(ctx, locale))


# Units of a clock shift (docs/sandbox.md): days, hours, minutes, seconds.
_SHIFT_UNITS = {"ru": ("д", "ч", "мин", "с"), "en": ("d", "h", "min", "s")}


def format_shift(delta: timedelta, locale: str = "ru") -> str:
    """How far the sandbox clock is moved: «+2 ч», «+1 д 3 ч 30 мин» (en «+1 d 3 h 30 min»);
    a no-break space before each unit and between the parts."""
    seconds = int(delta.total_seconds())
    sign = "+" if seconds >= 0 else MINUS
    seconds = abs(seconds)
    units = _SHIFT_UNITS[_locale(locale)]
    amounts = (seconds // 86400, seconds % 86400 // 3600, seconds % 3600 // 60, seconds % 60)
    parts = [f"{n}{NBSP}{unit}" for n, unit in zip(amounts, units, strict=True) if n]
    return sign + NBSP.join(parts or [f"0{NBSP}{units[3]}"])


@jinja2.pass_context
def _sandbox_clock_shift(ctx: jinja2.runtime.Context, locale: str | None = None) -> str:
    """The sandbox clock's shift for the banner every page shows while it is moved; "" when
    the clock runs true (always in production, which never moves it)."""
    offset = clock.offset()
    return format_shift(offset, _ctx_locale(ctx, locale)) if offset else ""


def register_filters(env: jinja2.Environment) -> None:
    """Add money, date, date_short, phone, qty, plural and mask_email filters to `env`, and
    the `sandbox_clock_shift()` global."""
    env.globals["sandbox_clock_shift"] = _sandbox_clock_shift
    env.filters.update(
        money=_money_filter,
        date=_date_filter,
        date_short=_date_short_filter,
        phone=format_phone,
        qty=_qty_filter,
        plural=_plural_filter,
        mask_email=mask_email,
    )
