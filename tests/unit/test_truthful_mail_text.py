"""No text for people says a letter was sent, will be sent or is on its way, except where the
code checks the letter's state first (docs/mail.md "Truthful text"): the success page's line
picked by the letter's status (`payment_page.views.RECEIPT_MAIL_TEXTS`) and the payer form's
e-mail hint picked by how mail is delivered (`views.EMAIL_HINTS`). The catalogues, every
template and the demo shop's scripts are read; a new string that speaks of sending mail fails
here until it is made state-checked (and listed below) or reworded."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from marketbox.payment_page import views

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "marketbox"
DEMO_SHOP = ROOT / "examples" / "demo_shop"

# Sending, mailing, letters: in Russian and English ("e-mail", the field, claims nothing).
SPEAKS_OF_MAIL = re.compile(
    r"отправ|пришл[её]м|вышл|высыла|письм|на почту"
    r"|\bsen[dt]\b|\bsending\b|(?<!e-)\bmail(ed|ing)?\b|\be-?mail(ed|ing)? (you|to)\b"
    r"|\bletter|\binbox",
    re.IGNORECASE,
)

STATE_CHECKED = set(views.RECEIPT_MAIL_TEXTS.values()) | set(views.EMAIL_HINTS.values())
# Keys that match the pattern but claim no letter, each with the reason.
NOT_A_CLAIM = {
    # The text of the letters themselves (mail/service.py): read only by whoever received one.
    "mail.": "inside a letter",
    # A confirmation code of the guarantee payment method, shown from the method's own answer.
    "guarantee.": "a payment method's confirmation code, not a letter",
    # What the data is kept for, not a statement that anything was sent.
    "info.privacy.text": "purpose of the data",
    # The office's notification pages: HTTP notifications to the shop's server, not letters.
    "office.notif.": "HTTP notifications to a shop, not letters",
    # The office's mail view (docs/office.md "Mail"): its title and headings, and status words
    # and texts each picked by the letter's recorded status (templates/office/_mail.html).
    "office.mail.": "the mail view, by the letter's recorded status",
    "office.nav.mail": "the mail view's name",
    # The playground's verdict: the mini-app protocol's postMessage messages, not letters.
    "playground.detail.": "a mini-app's protocol messages, not letters",
    "playground.kind.": "the protocol log's kinds of message, not letters",
    "playground.note.": "the protocol log's notes on messages, not letters",
    # What the sandbox reset deletes (the letters' records among them).
    "office.sandbox.reset_": "what the reset deletes",
}


def _exempt(key: str) -> bool:
    return key in STATE_CHECKED or any(key.startswith(prefix) for prefix in NOT_A_CLAIM)


def test_the_catalogues_speak_of_sending_mail_only_in_state_checked_strings() -> None:
    offenders = []
    for po in sorted((SRC / "locale").glob("*/LC_MESSAGES/marketbox.po")):
        with po.open("rb") as file:
            catalog = read_po(file)
        for message in catalog:
            key = str(message.id if isinstance(message.id, str) else message.id[0])
            string = message.string
            texts = [string] if isinstance(string, str) else list(string or ())
            if not key or _exempt(key):
                continue
            offenders += [
                f"{po.parent.parent.name} {key}: {t}"
                for t in texts
                if SPEAKS_OF_MAIL.search(str(t or ""))
            ]
    assert offenders == []


def _template_text(source: str) -> str:
    """What a template prints by itself: comments, tags and expressions removed."""
    for pattern in (r"\{#.*?#\}", r"\{%.*?%\}", r"\{\{.*?\}\}", r"<[^>]*>"):
        source = re.sub(pattern, " ", source, flags=re.DOTALL)
    return source


def test_no_template_says_a_letter_was_sent_in_its_own_words() -> None:
    templates = sorted(SRC.rglob("templates/**/*.html")) + sorted(DEMO_SHOP.rglob("*.html"))
    assert templates
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in templates
        for match in [SPEAKS_OF_MAIL.search(_template_text(path.read_text()))]
        if match
    ]
    assert offenders == []


def test_the_demo_shop_promises_no_letter() -> None:
    """The demo shop sends no mail at all, so none of its strings may promise one."""
    scripts = sorted((DEMO_SHOP / "static").glob("*.js"))
    assert scripts
    literal = re.compile(r"'((?:[^'\\\n]|\\.)*)'|`((?:[^`\\]|\\.)*)`")
    offenders = [
        f"{path.name}: {text}"
        for path in scripts
        for match in literal.finditer(path.read_text())
        for text in [match.group(1) or match.group(2) or ""]
        if SPEAKS_OF_MAIL.search(text)
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "claim",
    [
        "Оплата обрабатывается, мы пришлём письмо",
        "The payment is being processed; we will email you",
        "Чек отправлен на {email}",
        "Receipt sent to {email}",
        "формирует их за продавца и отправляет через оператора фискальных данных",
        "Check your inbox",
    ],
)
def test_the_check_recognises_a_claim(claim: str) -> None:
    assert SPEAKS_OF_MAIL.search(claim)


# --- the platform's payment confirmation is not a fiscal receipt (issue 10 item 2) -----------

# What names the platform's confirmation or the letter that carries it: the page's title and
# link, the success page's lines about the letter, the e-mail hint, the letter's own link line.
CONFIRMATION_KEYS = (
    "receipt.title",
    "open_receipt",
    "mail.receipt.link",
    "office.mail.kind.buyer_receipt",
    *sorted(STATE_CHECKED),
)
# Words that would pass the confirmation off as a 54-FZ receipt («чек», «квитанция», "receipt");
# «не кассовый чек» / "not a fiscal receipt" and the fiscal receipts named as such are fine.
CALLS_IT_A_RECEIPT = re.compile(r"чек|квитанц|receipt", re.IGNORECASE)
DISCLAIMERS = re.compile(
    r"не кассов\w* чек\w*|кассов\w* чек\w*|not a fiscal receipt|fiscal receipts?", re.IGNORECASE
)


def _catalogue(lang: str) -> dict[str, str]:
    with (SRC / "locale" / lang / "LC_MESSAGES" / "marketbox.po").open("rb") as file:
        return {str(m.id): str(m.string) for m in read_po(file) if isinstance(m.id, str)}


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_the_payment_confirmation_is_never_called_a_receipt(lang: str) -> None:
    catalogue = _catalogue(lang)
    offenders = [
        f"{key}: {catalogue[key]}"
        for key in CONFIRMATION_KEYS
        if CALLS_IT_A_RECEIPT.search(DISCLAIMERS.sub("", catalogue[key]))
    ]
    assert offenders == []


def test_the_confirmation_page_says_it_is_not_a_fiscal_receipt() -> None:
    assert "не кассовый чек" in _catalogue("ru")["receipt.title"]
    assert "not a fiscal receipt" in _catalogue("en")["receipt.title"]
    for lang in ("ru", "en"):
        assert DISCLAIMERS.search(_catalogue(lang)["fiscal.lead"])


@pytest.mark.parametrize(
    "text",
    ["Квитанция об оплате", "Чек отправлен на {email}", "Payment receipt", "Open receipt"],
)
def test_the_check_recognises_a_receipt_name(text: str) -> None:
    assert CALLS_IT_A_RECEIPT.search(DISCLAIMERS.sub("", text))
