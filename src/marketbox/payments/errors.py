"""Payment domain errors."""

from __future__ import annotations

from marketbox.errors import Conflict, NotFound, ValidationFailed


class ContainerNotFound(NotFound):
    code = "invoice_not_found"
    message = "Invoice not found"


class ContainerNotPayable(Conflict):
    """The container is paid, canceled or expired: nothing to pay."""

    code = "wrong_order_status"
    message = "The invoice cannot be paid in its current status"

    def __init__(self, status: str) -> None:
        super().__init__(f"The invoice is {status}")
        self.status = status


class AlreadyPaid(ContainerNotPayable):
    code = "invoice_already_paid"
    message = "The invoice is already paid"

    def __init__(self) -> None:
        super().__init__("paid")


class AmountChanged(ValidationFailed):
    """The invoice total changed (an add-on joined) after the payer saw it."""

    code = "wrong_total_amount"
    message = "The invoice total has changed; review it and pay again"
