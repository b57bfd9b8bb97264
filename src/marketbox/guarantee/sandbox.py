"""Sandbox guarantee instruments and payers: fixed, documented answers, nothing sent anywhere.

Payment methods (`paymentMethodId`), and the method their payments are recorded with:

    39363265   guarantee fund     ("guarantee_fund")
    39363266   promised payment   ("promised_payment")

Payers are found by `customer.vatNumber` (companies of the sandbox company lookup):

    0001047185   ООО "Кедровый причал"            registered, no limit: every branch succeeds
    0004088341   ООО "Лавка у пруда"              registered, 1 000.00 available: invoices
                                                   above it answer notEnoughMoney
    0003022651   АО "Окские измерительные системы" registered, but the code cannot be
                                                   delivered: send-code answers error
    any other INN, or none                         notRegistered

The code "sent" to a sandbox payer is always `SANDBOX_CODE`. In production there is no
guarantee provider yet: no payer is registered, so validate answers notRegistered and
send-code error, and no code ever exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

SANDBOX_CODE = "000000"

# paymentMethodId -> the `method` a payment with it is recorded with.
PAYMENT_METHODS = {
    "39363265": "guarantee_fund",
    "39363266": "promised_payment",
}


@dataclass(frozen=True)
class Payer:
    vat_number: str
    name: str
    # What the payer may spend, in the invoice's currency; None: no limit.
    available: Decimal | None = None
    # False: the instrument cannot deliver a code to this payer (send-code answers error).
    delivers_code: bool = True


PAYERS: tuple[Payer, ...] = (
    Payer("0001047185", 'ООО "Кедровый причал"'),
    Payer("0004088341", 'ООО "Лавка у пруда"', available=Decimal("1000.00")),
    Payer("0003022651", 'АО "Окские измерительные системы"', delivers_code=False),
)
_BY_INN = {payer.vat_number: payer for payer in PAYERS}


def find_payer(vat_number: str | None, *, mode: str) -> Payer | None:
    """The registered payer with this INN; none in production (no provider yet)."""
    if mode != "sandbox" or not vat_number:
        return None
    return _BY_INN.get(vat_number)


def new_code(payer: Payer) -> str:
    """The code delivered to a sandbox payer (a real provider would make a random one)."""
    return SANDBOX_CODE
