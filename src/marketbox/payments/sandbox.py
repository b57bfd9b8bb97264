"""The sandbox card method: documented test cards with fixed outcomes, no acquirer behind it.

    card details --check_card--> CardErrors (bad input: nothing happens, the page shows the errors)
    card details --check_card--> Card --gateway.authorize--> approved (captured or held) | declined

`check_card` validates the form; the gateway (payments/gateway.py, chosen by
MARKETBOX_PAYMENT_GATEWAY) answers for the card. The sandbox gateway
(payments/sandbox_gateway.py) answers from the number alone (docs/payment-page.md lists them):

    4242 4242 4242 4242   approved, captured at once            (method "card")
    4000 0000 0000 0309   approved as a pre-authorisation (hold) (method "card_hold")
    4000 0000 0000 0002   declined: card_declined
    4000 0000 0000 9995   declined: insufficient_funds
    4000 0000 0000 0069   declined: expired_card (the bank says so, whatever the form date)
    any other valid card  approved, captured at once

The full card number and the CVC live only in the `Card` of one request, on their way to the
gateway: they are left out of its repr, and nothing stores, logs or echoes them. What may be
kept is the last four digits and the brand.

In production mode there is no acquirer yet, so the default gateway (`unavailable`) declines
every attempt with `acquirer_unavailable` instead of approving it by a table meant for tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from marketbox import parsing
from marketbox.payments.gateway import ACQUIRER_UNAVAILABLE as ACQUIRER_UNAVAILABLE

METHOD_CARD = "card"
METHOD_CARD_HOLD = "card_hold"

CARD_DECLINED = "card_declined"
INSUFFICIENT_FUNDS = "insufficient_funds"
EXPIRED_CARD = "expired_card"


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
OUTCOMES = {card.number: card.outcome for card in TEST_CARDS}
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
    """A checked card. `last4` and `brand` may be kept and shown; the number and the CVC are
    for the gateway only (left out of repr, never stored or logged)."""

    last4: str
    brand: str
    expiry_month: int
    expiry_year: int
    number: str = field(repr=False)
    cvc: str = field(repr=False)


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

    Returns the card (for the gateway) or the field errors.
    """
    errors: dict[str, str] = {}
    parsed: tuple[int, int] | None = None
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
    if errors or parsed is None:
        return None, CardErrors(errors)
    card = Card(
        last4=digits[-4:],
        brand=brand_of(digits),
        expiry_month=parsed[0],
        expiry_year=parsed[1],
        number=digits,
        cvc=cvc,
    )
    return card, CardErrors({})


def card_outcome(number: str) -> str:
    """The sandbox bank's answer for a card number: "capture", "hold" or a failure code."""
    return OUTCOMES.get(number, "capture")
