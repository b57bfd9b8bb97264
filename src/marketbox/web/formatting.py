"""Display formatting: the one place that turns values into text for people.

Templates never format by hand; they call these functions as Jinja filters (see
`register_filters`). Rules follow spec/design.md §4 "Russian typography": no-break
spaces (U+00A0) inside numbers, before ₽ and inside phone numbers, U+2212 for minus,
decimal comma and genitive months in Russian.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from marketbox import money

NBSP = "\u00a0"
MINUS = "\u2212"
ELLIPSIS = "\u2026"

DEFAULT_TZ = ZoneInfo("Europe/Moscow")

# symbol, placed before the number in English (prefix) or after it everywhere (suffix)
_CURRENCIES: dict[str, tuple[str, bool]] = {
    "RUB": ("₽", False),
    "USD": ("$", True),
    "EUR": ("€", True),
    "GBP": ("£", True),
    "CNY": ("¥", True),
    "UZS": ("сум", False),
}

_MONTHS_RU_GENITIVE = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)  # fmt: skip
_MONTHS_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_ZONE_LABELS_RU = {"Europe/Moscow": "МСК"}
_ZONE_LABELS_EN = {"Europe/Moscow": "MSK"}

_CENTS = Decimal("0.01")


def _locale(locale: str | None) -> str:
    # Kept local (not imported from i18n) so formatting has no dependency on the catalogue.
    return "en" if (locale or "").lower().startswith("en") else "ru"


def _to_decimal(value: object, what: str) -> Decimal:
    if isinstance(value, float):
        raise TypeError(f"{what} must be Decimal or int, not float: {value!r}")
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{what} must be Decimal or int, not {type(value).__name__}")
    return Decimal(value)


def _group(digits: str, sep: str) -> str:
    """Group a string of integer digits by thousands: '1234567' -> '1 234 567'."""
    head = len(digits) % 3 or 3
    parts = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return sep.join(parts)


def _number(value: Decimal, locale: str, places: int | None) -> str:
    """Unsigned number text; `places=None` keeps the value's own digits without trailing zeros."""
    value = abs(value)
    if places is None:
        text = format(value.normalize(), "f")
    else:
        # Display rounding only: amounts should arrive already quantized by marketbox.money.
        text = format(value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP), "f")
    int_part, _, frac = text.partition(".")
    group_sep, dec_sep = (",", ".") if locale == "en" else (NBSP, ",")
    out = _group(int_part, group_sep)
    return f"{out}{dec_sep}{frac}" if frac else out


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
    symbol, prefix = _CURRENCIES.get(code, (code, False))
    quantized = money.round2(value)
    places = 0 if whole and quantized == quantized.to_integral_value() else 2
    number = _number(quantized, loc, places)
    sign = MINUS if quantized < 0 else ""
    if loc == "en" and prefix:
        return f"{sign}{symbol}{number}"
    return f"{sign}{number}{NBSP}{symbol}"


def format_quantity(value: Decimal | int, locale: str = "ru") -> str:
    """«1,5», «2», «1 000» (ru) / «1.5», «1,000» (en): no trailing zeros, no exponent."""
    number = _to_decimal(value, "quantity")
    text = _number(number, _locale(locale), None)
    return f"{MINUS}{text}" if number < 0 else text


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

    `now` pins "the current year" (tests, previews). A plain `date` prints without time.
    `with_zone` appends «(МСК)» for buyers who may be elsewhere; `relative` prints
    «сегодня в 18:05» for events of today.
    """
    loc = _locale(locale)
    zone = _resolve_tz(tz)
    local = _localize(dt, zone)
    today = _localize(now if now is not None else datetime.now(UTC), zone)
    has_time = with_time and isinstance(local, datetime)
    time_text = f"{local:%H:%M}" if isinstance(local, datetime) else ""

    if relative and has_time and local.timetuple()[:3] == today.timetuple()[:3]:
        text = f"today at {time_text}" if loc == "en" else f"сегодня в{NBSP}{time_text}"
    else:
        months = _MONTHS_EN if loc == "en" else _MONTHS_RU_GENITIVE
        text = f"{local.day}{NBSP}{months[local.month - 1]}"
        if local.year != today.year:
            text += f"{NBSP}{local.year}"
        if has_time:
            text += f", {time_text}"
    if with_zone and has_time:
        key = getattr(zone, "key", "")
        labels = _ZONE_LABELS_EN if loc == "en" else _ZONE_LABELS_RU
        label = labels.get(key) or (local.tzname() if isinstance(local, datetime) else "")
        text += f" ({label})"
    return text


def format_date_short(dt: date, locale: str = "ru", *, tz: str | tzinfo | None = None) -> str:
    """«14.07.2024», for forms and tables (same numeric form in both languages)."""
    local = _localize(dt, _resolve_tz(tz))
    return f"{local.day:02d}.{local.month:02d}.{local.year:04d}"


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


def plural_ru(n: int | Decimal, one: str, few: str, many: str) -> str:
    """Russian plural form: 1 товар, 2 товара, 5 товаров (fractions take the `few` form)."""
    number = _to_decimal(n, "n")
    if number != number.to_integral_value():
        return few
    k = abs(int(number))
    if k % 10 == 1 and k % 100 != 11:
        return one
    if 2 <= k % 10 <= 4 and not 12 <= k % 100 <= 14:
        return few
    return many


def plural(n: int | Decimal, forms: Sequence[str], locale: str = "ru") -> str:
    """Pick a plural form and fill `{n}` in it.

    `forms` is (one, few, many) for Russian and (one, other) for English; a 3-form tuple
    in English uses its first and last form. «Найдено {n} точек продаж» -> «Найдено 5 точек продаж».
    """
    loc = _locale(locale)
    if loc == "en":
        number = _to_decimal(n, "n")
        form = forms[0] if number == 1 else forms[-1]
    else:
        if len(forms) != 3:
            raise ValueError("Russian plural needs three forms: one, few, many")
        form = plural_ru(n, forms[0], forms[1], forms[2])
    return form.replace("{n}", format_quantity(n, loc)) if "{n}" in form else form


def mask_email(email: str | None) -> str:
    """«alice@mail.ru» -> «a…@mail.ru», for «Чек отправлен на …»."""
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


def register_filters(env: jinja2.Environment) -> None:
    """Add money, date, date_short, phone, qty, plural and mask_email filters to `env`."""
    env.filters.update(
        money=_money_filter,
        date=_date_filter,
        date_short=_date_short_filter,
        phone=format_phone,
        qty=_qty_filter,
        plural=_plural_filter,
        mask_email=mask_email,
    )
