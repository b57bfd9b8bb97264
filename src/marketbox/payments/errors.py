"""Payment domain errors."""

from __future__ import annotations

from marketbox.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed


class ContainerNotFound(NotFound):
    code = "invoice_not_found"
    message = "Invoice not found"


class ContainerNotPayable(Conflict):
    """The container is paid, canceled or expired: nothing to pay."""

    code = "wrong_order_status"
    message = "The invoice cannot be paid in its current status"

    def __init__(self, status: str) -> None:
        super().__init__(f"The invoice is {status}")
        # Not `status`: that class attribute is the HTTP status the envelope is sent with.
        self.container_status = status


class AlreadyPaid(ContainerNotPayable):
    code = "invoice_already_paid"
    message = "The invoice is already paid"

    def __init__(self) -> None:
        super().__init__("paid")


class AmountChanged(ValidationFailed):
    """The invoice total changed (an add-on joined) after the payer saw it."""

    code = "wrong_total_amount"
    message = "The invoice total has changed; review it and pay again"


class SignatureError(Forbidden):
    """A payment instrument's request whose `X-Signature` is missing or wrong (api.md §13.2)."""

    code = "signature_error"
    message = "The request signature is missing or wrong"


class PaymentOperationReused(ValidationFailed):
    """A paymentOperationId already confirmed a different invoice, amount or currency."""

    message = "paymentOperationId was already used for another payment"

    def __init__(self) -> None:
        super().__init__(fields=[FieldError("paymentOperationId", "wrong_value", "")])


class NotPayableHere(ContainerNotPayable):
    """The container holds an order the merchant settles outside the platform."""

    def __init__(self) -> None:
        super().__init__("not payable through the platform")


class WrongCurrency(ValidationFailed):
    code = "wrong_currency"
    message = "The currency differs from the invoice's"
