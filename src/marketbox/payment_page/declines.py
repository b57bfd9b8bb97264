"""Why a payment failed, in words, and what a mini-app is told about it: the one source of
the decline text for every screen the buyer may see after a decline (the payment page's fail
page and its form, the marketplace shell around an order-mode mini-app; docs/payment-page.md
"Declines").

    failure code of the last declined payment  ->  message key («На карте недостаточно средств…»)
    invoice status                             ->  the protocol's paymentResult status
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.payment_page import invoice as invoice_model
from marketbox.payment_page import repository
from marketbox.payment_page.invoice import Invoice
from marketbox.payments import sandbox
from marketbox.payments.errors import ContainerNotFound
from marketbox.toolkit.i18n import N_

REASONS = {
    sandbox.CARD_DECLINED: N_("fail.declined"),
    sandbox.INSUFFICIENT_FUNDS: N_("fail.insufficient_funds"),
    sandbox.EXPIRED_CARD: N_("fail.expired_card"),
    sandbox.ACQUIRER_UNAVAILABLE: N_("fail.acquirer_unavailable"),
}
# A code we have no words for (another gateway's) still gets a true, general sentence.
DEFAULT_REASON = N_("fail.declined")


def reason_key(failure_code: str | None) -> str:
    return REASONS.get(failure_code or "", DEFAULT_REASON)


async def last_decline_reason(conn: AsyncConnection, container_id: str) -> str | None:
    """The message key of the invoice's latest declined payment; None when none was declined."""
    declined = await repository.latest_declined(conn, container_id)
    if declined is None:
        return None
    return reason_key(declined._mapping["failure_code"])


def payment_result(invoice: Invoice) -> str:
    """The invoice's state as a `paymentResult` status (spec/miniapps.md §3.2): a declined,
    still payable invoice is `pending`."""
    if invoice.status == "paid":
        held = (invoice.payment or {}).get("method") == sandbox.METHOD_CARD_HOLD
        return "hold" if held else "completed"
    if invoice.status in ("canceled", "expired"):
        return invoice.status
    return "pending"


@dataclass(frozen=True)
class Outcome:
    """How an invoice's payment ended, for the marketplace shell around an order-mode
    mini-app (docs/marketplace.md "After the payment")."""

    invoice: Invoice
    result: str  # paymentResult status
    reason: str | None  # message key of the last decline while the invoice is still payable

    @property
    def declined(self) -> bool:
        return self.result == "pending" and self.reason is not None


async def outcome(conn: AsyncConnection, container_id: str, *, shop_id: int) -> Outcome | None:
    """The outcome of an invoice whose main order belongs to the point of sale `shop_id`; None
    for an unknown invoice or another point of sale's (the shell then shows nothing)."""
    try:
        invoice = await invoice_model.load(conn, container_id)
    except ContainerNotFound:
        return None
    if invoice.shop_id != shop_id:
        return None
    reason = await last_decline_reason(conn, invoice.id) if invoice.is_payable else None
    return Outcome(invoice, payment_result(invoice), reason)
