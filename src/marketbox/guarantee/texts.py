"""What the guarantee actions say to the shop (`resultNote`) and to the payer (`pay`'s
`resultData.message`), in the request's `languageId` (ru by default).

The strings live in the gettext catalogue (marketbox/locale/<lang>/LC_MESSAGES/marketbox.po)
as "guarantee.note.<key>", "guarantee.title.<key>" and "guarantee.message.<key>".
"""

from __future__ import annotations

from marketbox.toolkit import i18n
from marketbox.toolkit.i18n import N_

NOTE_KEYS = ("notRegistered", "notEnoughMoney", "notDelivered", "noSendsLeft", "codeAlreadySent")
# pay results -> (title, message); {left} in a message is the number of tries left.
MESSAGE_KEYS = (
    "alreadyPaid",
    "wrongCode",
    "limitReached",
    "notEnoughMoney",
    "codeExpired",
    "otherPayer",
)

# The catalogue keys built from the lists above, named for `pybabel extract`.
_CATALOGUE_KEYS = (
    N_("guarantee.note.notRegistered"),
    N_("guarantee.note.notEnoughMoney"),
    N_("guarantee.note.notDelivered"),
    N_("guarantee.note.noSendsLeft"),
    N_("guarantee.note.codeAlreadySent"),
    N_("guarantee.title.alreadyPaid"),
    N_("guarantee.message.alreadyPaid"),
    N_("guarantee.title.wrongCode"),
    N_("guarantee.message.wrongCode"),
    N_("guarantee.title.limitReached"),
    N_("guarantee.message.limitReached"),
    N_("guarantee.title.notEnoughMoney"),
    N_("guarantee.message.notEnoughMoney"),
    N_("guarantee.title.codeExpired"),
    N_("guarantee.message.codeExpired"),
    N_("guarantee.title.otherPayer"),
    N_("guarantee.message.otherPayer"),
)


def _language(language: str) -> str:
    # Only an exact "en" answers in English (not "EN" or "en-US"), as the API always did.
    return "en" if language == "en" else "ru"


def note(language: str, key: str) -> str:
    if key not in NOTE_KEYS:
        raise KeyError(key)
    catalogue_key = f"guarantee.note.{key}"
    return i18n.t(catalogue_key, _language(language))


def message(language: str, key: str, **values: object) -> dict[str, str]:
    if key not in MESSAGE_KEYS:
        raise KeyError(key)
    lang = _language(language)
    title_key, text_key = f"guarantee.title.{key}", f"guarantee.message.{key}"
    # str.format even without values, as before: the texts hold no literal braces.
    return {"title": i18n.t(title_key, lang), "message": i18n.t(text_key, lang).format(**values)}
