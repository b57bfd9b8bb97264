"""The marketplace pages' `mt(...)`: the shared catalogue's `t` under the name its templates
use, and the keys those pages build at run time, named here for `pybabel extract`.

The strings live in the gettext catalogue (marketbox/locale/<lang>/LC_MESSAGES/marketbox.po)
with every other UI string; see marketbox.toolkit.i18n.
"""

from __future__ import annotations

from typing import Any

import jinja2

from marketbox.toolkit import i18n
from marketbox.toolkit.i18n import N_, NP_

# _macros.html: the language switch, "lang." ~ code
LANGUAGE_KEYS = (N_("lang.ru"), N_("lang.en"))
# home.html: t("marketplace.found", n=total) is a plural entry
PLURAL_KEYS = (NP_("marketplace.found"),)


def mt(key: str, locale: str = "ru", /, **params: Any) -> str:
    return i18n.t(key, "en" if locale == "en" else "ru", **params)


@jinja2.pass_context
def _mt_global(ctx: jinja2.runtime.Context, key: str, **params: Any) -> str:
    return mt(key, ctx.get("lang") or "ru", **params)


def register(env: jinja2.Environment) -> None:
    env.globals["mt"] = _mt_global
