"""The gettext catalogues (marketbox/locale/<lang>/LC_MESSAGES/marketbox.po) and `t`."""

import io
import json
import os
import re
import string
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from marketbox.guarantee import texts as guarantee_texts
from marketbox.marketplace import texts
from marketbox.toolkit.i18n import DOMAIN, LANGUAGES, LOCALE_DIR, normalize_locale, register_i18n, t

NBSP = "\u00a0"
ROOT = Path(__file__).resolve().parents[2]
Message = str | tuple[str, ...]


def _po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def _read(path: Path, lang: str | None = None) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=lang)


def _entries(lang: str) -> dict[str, Message]:
    """Key -> text, or key -> forms for a plural entry."""
    out: dict[str, Message] = {}
    for message in _read(_po_path(lang), lang):
        if message.id:
            key = message.id[0] if isinstance(message.id, tuple) else message.id
            out[key] = tuple(message.string) if message.pluralizable else message.string
    return out


RU = _entries("ru")
EN = _entries("en")


def test_catalogues_have_the_same_keys() -> None:
    assert set(RU) == set(EN)
    assert len(RU) > 200


def test_every_entry_is_translated() -> None:
    for lang in LANGUAGES:
        for message in _read(_po_path(lang), lang):
            if message.id:
                forms = message.string if message.pluralizable else (message.string,)
                assert all(forms), (lang, message.id)
                assert not message.fuzzy, (lang, message.id)


def test_compiled_catalogues_match_their_po_files() -> None:
    # The .mo files are committed so that a fresh clone runs; `scripts/i18n` rebuilds them.
    for lang in LANGUAGES:
        compiled = io.BytesIO()
        write_mo(compiled, _read(_po_path(lang), lang))
        mo = _po_path(lang).with_suffix(".mo")
        assert compiled.getvalue() == mo.read_bytes(), f"run scripts/i18n compile ({lang})"


def test_extraction_finds_every_key_and_no_other(tmp_path: Path) -> None:
    # `pybabel update` keeps only what `pybabel extract` finds: a key built at run time must
    # be named with N_ (a plural with NP_), or the next update would drop it. A key in the
    # code that the catalogue lacks is a typo or a missing translation.
    pot = tmp_path / "marketbox.pot"
    pybabel = Path(sys.executable).with_name("pybabel")
    env = {**os.environ, "PYBABEL": str(pybabel)}
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "i18n"), "extract", str(pot)],
        check=True,
        env=env,
        capture_output=True,
    )
    template = _read(pot)
    extracted = {m.id[0] if isinstance(m.id, tuple) else m.id for m in template if m.id}
    assert extracted == set(RU)
    plurals = {m.id[0] for m in template if m.id and m.pluralizable}
    assert plurals == {key for key, value in RU.items() if isinstance(value, tuple)}


def test_plural_forms_come_from_cldr() -> None:
    ru, en = _read(_po_path("ru"), "ru"), _read(_po_path("en"), "en")
    assert ru.num_plurals == 3 and en.num_plurals == 2
    assert ru.plural_forms == Catalog(locale="ru").plural_forms
    assert en.plural_forms == Catalog(locale="en").plural_forms


def _placeholders(message: Message) -> set[str]:
    forms = message if isinstance(message, tuple) else (message,)
    return {name for form in forms for _, name, _, _ in string.Formatter().parse(form) if name}


@pytest.mark.parametrize("key", sorted(RU))
def test_messages_agree_between_languages(key: str) -> None:
    ru, en = RU[key], EN[key]
    assert _placeholders(ru) == _placeholders(en)
    assert isinstance(ru, tuple) == isinstance(en, tuple)
    if isinstance(ru, tuple):
        assert len(ru) == 3
        assert len(en) == 2


@pytest.mark.parametrize("key", sorted(RU))
def test_russian_messages_follow_typography(key: str) -> None:
    forms = RU[key] if isinstance(RU[key], tuple) else (RU[key],)
    for form in forms:
        assert isinstance(form, str)
        assert '"' not in form, "use «ёлочки»"
        assert not re.search(r"№ |\d %", form), "a no-break space goes after № and before %"
        if len(form.split()) <= 2:
            assert not form.endswith("."), "no full stop in short labels"


@pytest.mark.parametrize(
    ("key", "ru", "en"),
    [
        ("pay", "Оплатить", "Pay"),
        ("status.pending", "Ожидает оплаты", "Awaiting payment"),
        ("status.paid", "Оплачен", "Paid"),
        ("status.canceled", "Отменён", "Canceled"),
        ("status.expired", "Срок оплаты истёк", "Payment period expired"),
        ("error.generic", "Что-то пошло не так", "Something went wrong"),
        ("back_to_shop", "Вернуться в магазин", "Back to the shop"),
        ("invoice_no", "Счёт №", "Invoice No."),
        ("pay_until", "Оплатить до", "Pay by"),
        ("total", "Итого", "Total"),
        ("payer.name", "ФИО", "Full name"),
        ("payer.email", "Эл. почта", "Email"),
        ("payer.private", "Физическое лицо", "Individual"),
        ("payer.legal", "Организация или ИП", "Company or sole trader"),
        ("method.card", "Банковская карта", "Bank card"),
        ("success.title", "Оплата прошла", "Payment successful"),
        ("fail.title", "Оплата не прошла", "Payment failed"),
        (
            "receipt.title",
            "Подтверждение оплаты (не кассовый чек)",
            "Payment confirmation (not a fiscal receipt)",
        ),
        ("addon.added", "Добавлено", "Added"),
        ("suborder", "Доп. услуга", "Add-on"),
        ("marketplace", "Маркетплейс", "Marketplace"),
        ("marketplace.nothing_found", "Ничего не нашлось", "Nothing found"),
    ],
)
def test_t(key: str, ru: str, en: str) -> None:
    assert t(key, "ru") == ru
    assert t(key, "en") == en


def test_t_default_locale_is_russian() -> None:
    assert t("pay") == "Оплатить"
    assert t("pay", None) == "Оплатить"
    assert t("pay", "de") == "Оплатить"


def test_t_fills_placeholders() -> None:
    assert t("invoice_number", "ru", number="123-1") == f"Счёт №{NBSP}123-1"
    assert (
        t("receipt.sent_to", "en", email="a…@mail.ru") == "Payment confirmation sent to a…@mail.ru"
    )


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, "Найдена 1 точка продаж"),
        (2, "Найдено 2 точки продаж"),
        (5, "Найдено 5 точек продаж"),
        (11, "Найдено 11 точек продаж"),
        (21, "Найдена 21 точка продаж"),
        (22, "Найдено 22 точки продаж"),
        (24, "Найдено 24 точки продаж"),
        (25, "Найдено 25 точек продаж"),
        (111, "Найдено 111 точек продаж"),
    ],
)
def test_t_plural_ru(n: int, expected: str) -> None:
    assert t("marketplace.found", "ru", n=n) == expected


def test_t_plural_en() -> None:
    assert t("marketplace.found", "en", n=1) == "1 point of sale found"
    assert t("marketplace.found", "en", n=21) == "21 points of sale found"
    assert t("items", "ru", n=Decimal(3)) == "3 товара"


def test_t_plural_needs_n() -> None:
    with pytest.raises(TypeError):
        t("marketplace.found", "ru")
    with pytest.raises(TypeError):
        t("marketplace.found", "ru", n=2.0)


def test_t_unknown_key_raises() -> None:
    with pytest.raises(KeyError):
        t("no.such.key", "ru")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ru", "ru"),
        ("en", "en"),
        ("EN", "en"),
        ("en-US", "en"),
        ("en_GB", "en"),
        ("ru-RU,ru;q=0.9", "ru"),
        ("de", "ru"),
        ("", "ru"),
        (None, "ru"),
    ],
)
def test_normalize_locale(value: str | None, expected: str) -> None:
    assert normalize_locale(value) == expected


def test_register_i18n_uses_context_lang() -> None:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    register_i18n(env)
    template = env.from_string(
        "{{ t('pay') }} / {{ t('marketplace.found', n=n) }} / {{ t('pay', 'ru') }}"
    )
    assert template.render(lang="en", n=3) == "Pay / 3 points of sale found / Оплатить"
    assert template.render(lang="ru", n=3) == "Оплатить / Найдено 3 точки продаж / Оплатить"
    assert env.from_string("{{ t('pay') }}").render() == "Оплатить"


# --- every string of every catalogue, as it was before the move to gettext ------------------

SNAPSHOT = json.loads(
    (Path(__file__).parent / "data" / "catalogues.json").read_text(encoding="utf-8")
)


def _echo(text: str) -> dict[str, str]:
    """Fill each `{name}` with itself, so the lookup returns the message as written."""
    return {name: f"{{{name}}}" for _, name, _, _ in string.Formatter().parse(text) if name}


def _lookups() -> dict[str, Callable[..., Any]]:
    return {
        "shared": t,
        "payment_page": t,
        "marketplace": lambda key, lang, **p: texts.mt(key, lang, **p),
    }


@pytest.mark.parametrize("catalogue", ["shared", "payment_page", "marketplace"])
@pytest.mark.parametrize("lang", ["ru", "en"])
def test_catalogue_strings_are_unchanged(catalogue: str, lang: str) -> None:
    lookup = _lookups()[catalogue]
    for key, expected in SNAPSHOT[catalogue][lang].items():
        if isinstance(expected, dict):  # a plural: its text for each n
            got = {n: lookup(key, lang, n=Decimal(n)) for n in expected}
            got_int = {n: lookup(key, lang, n=int(n)) for n in expected if "." not in n}
            assert got_int == {n: v for n, v in expected.items() if "." not in n}, key
        else:
            got = lookup(key, lang, **_echo(expected))
        assert got == expected, key


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_guarantee_strings_are_unchanged(lang: str) -> None:
    for key, expected in SNAPSHOT["guarantee.note"][lang].items():
        assert guarantee_texts.note(lang, key) == expected
    for key, expected in SNAPSHOT["guarantee.message"][lang].items():
        assert guarantee_texts.message(lang, key, left="{left}") == expected
