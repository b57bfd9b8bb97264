"""The message catalogue: gettext catalogues looked up by key, Russian first, English for
`languageId=en`.

Every UI string lives in `marketbox/locale/<lang>/LC_MESSAGES/marketbox.po` (compiled to
`.mo` next to it) under a symbolic key such as "pay" or "status.paid"; both languages are
translations of the key. `t("pay", "en")` -> "Pay". Keyword arguments fill `{name}`
placeholders; a plural entry (msgid_plural) takes `n=` and picks its form with the
catalogue's Plural-Forms (CLDR's rules as Babel writes them). CONTRIBUTING.md tells how to
add a string or a language (`scripts/i18n`).

`pybabel extract` finds keys in calls of `t(...)`, `mt(...)`, `N_(...)` and `NP_(...)`;
a key built at run time ("status." ~ status) is named with `N_` where it is built, so the
extraction, and so `pybabel update`, keeps it.
"""

from __future__ import annotations

import gettext
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from marketbox.toolkit.formatting import format_quantity, gettext_count

Locale = str  # "ru" | "en"

DOMAIN = "marketbox"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
LANGUAGES: tuple[Locale, ...] = ("ru", "en")
DEFAULT_LOCALE: Locale = "ru"


def N_(key: str) -> str:
    """Mark a key that is used without a literal `t("...")` call, for `pybabel extract`."""
    return key


def NP_(key: str) -> str:
    """Mark a plural key (one with msgid_plural) for `pybabel extract`."""
    return key


def normalize_locale(value: object) -> Locale:
    """Map `languageId`, `lang` or an Accept-Language value to "ru" or "en" (default "ru")."""
    text = str(value or "").strip().lower()
    return "en" if text[:2] == "en" else "ru"


class _Missing(gettext.NullTranslations):
    """The last fallback: an unknown key raises instead of printing itself on a page."""

    def gettext(self, message: str) -> str:
        raise KeyError(message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        raise KeyError(msgid1)


@cache
def translations(locale: Locale) -> gettext.NullTranslations:
    """The compiled catalogue of one language (a missing `.mo` fails loudly)."""
    found = gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[locale])
    found.add_fallback(_Missing())
    return found


def t(key: str, locale: object = DEFAULT_LOCALE, /, **params: Any) -> str:
    """Translate `key`; `n=` picks a plural form, other keywords fill `{placeholders}`.

    An unknown key raises KeyError so that a typo fails in tests, not silently on a page.
    """
    loc = normalize_locale(locale)
    message = _singulars(loc).get(key)
    if message is None:
        message = _plural_or_missing(key, loc, params)
    return message.format(**params) if params else message


def _plural_or_missing(key: str, loc: Locale, params: dict[str, Any]) -> str:
    """A key `_singulars` lacks: a plural entry, whose `n` it takes from `params`, or else
    gettext's own answer (KeyError for an unknown key)."""
    catalogue = translations(loc)
    try:
        # A plural entry answers ngettext; a singular one (or an unknown key) raises here.
        # (gettext alone would not tell: it answers a plural entry with its form for 1.)
        catalogue.ngettext(key, key, 1)
    except KeyError:
        return catalogue.gettext(key)  # KeyError for an unknown key
    n = params.pop("n", None)
    if not isinstance(n, int | Decimal) or isinstance(n, bool):
        raise TypeError(f"message {key!r} is a plural and needs an integer or Decimal n=")
    message = catalogue.ngettext(key, key, gettext_count(n, loc))
    return message.replace("{n}", format_quantity(n, loc))


@cache
def _singulars(locale: Locale) -> dict[str, str]:
    """The catalogue's singular entries by key: most lookups (a page makes hundreds, a payment
    letter six) end here, without gettext's fallback chain and the KeyError that tells a
    plural entry apart. Plural and unknown keys take `_plural_or_missing`. (GNUTranslations keeps a
    plural entry under (msgid, form) keys, a singular one under its msgid.)"""
    catalogue = translations(locale)
    entries = getattr(catalogue, "_catalog", {})
    return {key: value for key, value in entries.items() if isinstance(key, str) and key}


@jinja2.pass_context
def _t_global(
    ctx: jinja2.runtime.Context, key: str, locale: str | None = None, **params: Any
) -> str:
    return t(key, locale or ctx.get("lang") or DEFAULT_LOCALE, **params)


def register_i18n(env: jinja2.Environment) -> None:
    """Expose `t` to templates; the locale defaults to the context variable `lang`:
    {{ t("pay") }}, {{ t("marketplace.found", n=total) }}, {{ t("pay", "en") }}."""
    env.globals["t"] = _t_global
