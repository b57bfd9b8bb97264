"""The sandbox card method: documented test cards with fixed outcomes, no acquirer behind it.

    card details --check--> CardErrors (bad input: nothing happens, the page shows the errors)
    card details --authorize--> CardOutcome: approved (capture or hold) | declined (failure code)

The full card number and the CVC live only in the local variables of `check_card`; the
outcome keeps the last four digits and the brand, which is all that may ever be stored,
logged or shown. Outcomes depend on the number alone (docs/payment-page.md lists them):

    4242 4242 4242 4242   approved, captured at once            (method "card")
    4000 0000 0000 0309   approved as a pre-authorisation (hold) (method "card_hold")
    4000 0000 0000 0002   declined: card_declined
    4000 0000 0000 9995   declined: insufficient_funds
    4000 0000 0000 0069   declined: expired_card (the bank says so, whatever the form date)
    any other valid card  approved, captured at once

In production mode there is no acquirer yet, so every attempt is declined with
`acquirer_unavailable` instead of being approved by a table meant for tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from marketbox import parsing

METHOD_CARD = "card"
METHOD_CARD_HOLD = "card_hold"

CARD_DECLINED = "card_declined"
INSUFFICIENT_FUNDS = "insufficient_funds"
EXPIRED_CARD = "expired_card"
ACQUIRER_UNAVAILABLE = "acquirer_unavailable"


@dataclass(frozen=True)
class TestCard:
    number: str
    outcome: str  # "capture" | "hold" | a failure code
    description_ru: str
    description_en: str

    @property
    def display(self) -> str:
        return " ".join(self.number[i : i + 4] for i in range(0, len(self.number), 4))


TEST_CARDS: tuple[TestCard, ...] = (
    TestCard("4242424242424242", "capture", "успешная оплата", "successful payment"),
    TestCard("4000000000000309", "hold", "успешная предавторизация (холд)", "successful hold"),
    TestCard("4000000000000002", CARD_DECLINED, "банк отклонит оплату", "declined by the bank"),
    TestCard("4000000000009995", INSUFFICIENT_FUNDS, "недостаточно средств", "insufficient funds"),
    TestCard("4000000000000069", EXPIRED_CARD, "срок действия карты истёк", "expired card"),
)
_OUTCOMES = {card.number: card.outcome for card in TEST_CARDS}
FAILURE_CODES = (CARD_DECLINED, INSUFFICIENT_FUNDS, EXPIRED_CARD, ACQUIRER_UNAVAILABLE)

MAX_YEARS_AHEAD = 20
# ASCII digits only: `\d` alone would take "٣" or "１" too.
_EXPIRY_RE = re.compile(r"^\s*([0-9]{1,2})\s*/?\s*([0-9]{2}|[0-9]{4})\s*$")


@dataclass(frozen=True)
class CardErrors:
    """Field -> error code ("required" | "invalid" | "expired"); empty when the input is fine."""

    fields: dict[str, str]

    def __bool__(self) -> bool:
        return bool(self.fields)


@dataclass(frozen=True)
class Card:
    """A checked card, without its number: only what may be kept."""

    last4: str
    brand: str
    outcome: str


@dataclass(frozen=True)
class CardOutcome:
    approved: bool
    hold: bool
    failure_code: str | None
    last4: str
    brand: str

    @property
    def method(self) -> str:
        return METHOD_CARD_HOLD if self.hold else METHOD_CARD


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def brand_of(digits: str) -> str:
    if digits.startswith("4"):
        return "visa"
    if digits[:2] in {"51", "52", "53", "54", "55"} or "2221" <= digits[:4] <= "2720":
        return "mastercard"
    if "2200" <= digits[:4] <= "2204":
        return "mir"
    return "card"


def parse_expiry(text: str) -> tuple[int, int] | None:
    """(month, four-digit year) from «MM/YY», «MMYY», «MM / YYYY»; None when unreadable."""
    match = _EXPIRY_RE.match(text or "")
    if match is None:
        return None
    month, year = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        return None
    return month, (2000 + year if year < 100 else year)


def check_card(
    number: str, expiry: str, cvc: str, *, now: datetime
) -> tuple[Card | None, CardErrors]:
    """Validate the form input: Luhn, a future MM/YY, a 3-digit CVC.

    Returns the card (last four digits and its test outcome) or the field errors; never
    the number itself.
    """
    errors: dict[str, str] = {}
    digits = re.sub(r"[\s-]", "", number or "")
    if not digits:
        errors["card_number"] = "required"
    elif not parsing.is_ascii_digits(digits) or not 12 <= len(digits) <= 19:
        errors["card_number"] = "invalid"
    elif not luhn_valid(digits):
        errors["card_number"] = "invalid"
    if not (expiry or "").strip():
        errors["card_expiry"] = "required"
    else:
        parsed = parse_expiry(expiry)
        if parsed is None:
            errors["card_expiry"] = "invalid"
        elif (parsed[1], parsed[0]) < (now.year, now.month):
            # A card is valid to the end of its expiry month.
            errors["card_expiry"] = "expired"
        elif parsed[1] > now.year + MAX_YEARS_AHEAD:
            errors["card_expiry"] = "invalid"
    cvc = (cvc or "").strip()
    if not cvc:
        errors["card_cvc"] = "required"
    elif not re.fullmatch(r"[0-9]{3}", cvc):
        errors["card_cvc"] = "invalid"
    if errors:
        return None, CardErrors(errors)
    card = Card(last4=digits[-4:], brand=brand_of(digits), outcome=_OUTCOMES.get(digits, "capture"))
    return card, CardErrors({})


def authorize(card: Card, *, sandbox: bool = True) -> CardOutcome:
    """The simulated bank's answer for a checked card."""
    if not sandbox:
        return CardOutcome(False, False, ACQUIRER_UNAVAILABLE, card.last4, card.brand)
    if card.outcome in ("capture", "hold"):
        return CardOutcome(True, card.outcome == "hold", None, card.last4, card.brand)
    return CardOutcome(False, False, card.outcome, card.last4, card.brand)
