"""The payment-instrument JSON contract (spec/api.md §13.1, §13.2).

Request models describe shape and types; the amount rules (exact kopecks, the invoice total,
its currency) live in `instruments.py` so they answer with their own codes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from annotated_types import Len, MaxLen
from pydantic import BaseModel, ConfigDict

from marketbox.orders.schemas import Amount, Customer

InvoiceStatus = Literal["paid", "pending", "canceled", "partial"]
INVOICE_STATUSES: tuple[str, ...] = get_args(InvoiceStatus)


class _Model(BaseModel):
    # Unknown properties are ignored (clients send fields of newer API revisions).
    model_config = ConfigDict(extra="ignore", strict=False)


class PaymentOrder(_Model):
    """The instrument's payment details (a bank transfer's payer and order)."""

    type: Literal["legal", "private"]
    number: Annotated[str, MaxLen(36)] | None = None
    date: Annotated[str, MaxLen(36)] | None = None
    amount: Amount
    currencyId: Annotated[str, Len(1, 3)]
    name: Annotated[str, MaxLen(500)] | None = None
    phone: Annotated[str, MaxLen(100)] | None = None
    vatNumber: Annotated[str, MaxLen(20)] | None = None
    taxRegistrationReasonCode: Annotated[str, MaxLen(9)] | None = None
    settlementAccount: Annotated[str, MaxLen(20)] | None = None
    correspondentAccount: Annotated[str, MaxLen(20)] | None = None
    bankName: Annotated[str, MaxLen(100)] | None = None
    bic: Annotated[str, MaxLen(9)] | None = None
    kbk: Annotated[str, MaxLen(20)] | None = None
    paymentPurpose: Annotated[str, MaxLen(210)] | None = None


class CreateInvoicePaymentRequest(_Model):
    """Body of POST /v3/payment/api/invoice/confirm (signed with `X-Signature`).

    `paymentOrderNumber`, `paymentOrderDate` and `customer` are the names of the docs' example
    (api.md §13.2 [conflict]); they are accepted as aliases of `paymentOrder`'s fields.
    """

    invoiceId: Annotated[str, Len(1, 36)]
    paymentOperationId: Annotated[str, Len(1, 36)]
    amount: Amount
    currencyId: Annotated[str, Len(1, 3)]
    paymentOrder: PaymentOrder | None = None
    status: Literal["paid", "pending"] = "paid"
    paymentOrderNumber: Annotated[str, MaxLen(36)] | None = None
    paymentOrderDate: Annotated[str, MaxLen(36)] | None = None
    customer: Customer | None = None

    def payment_order(self) -> dict[str, Any] | None:
        """`paymentOrder` as given, or built from the example's alias fields; None if neither."""
        if self.paymentOrder is not None:
            return self.paymentOrder.model_dump(exclude_none=True, mode="python")
        if self.paymentOrderNumber is None and self.paymentOrderDate is None and not self.customer:
            return None
        payer = self.customer.model_dump(exclude_none=True) if self.customer else {}
        order = {
            "type": payer.get("type") or "private",
            "number": self.paymentOrderNumber,
            "date": self.paymentOrderDate,
            "amount": self.amount,
            "currencyId": self.currencyId,
            **{
                k: payer.get(k) for k in ("name", "phone", "vatNumber", "taxRegistrationReasonCode")
            },
        }
        return {k: v for k, v in order.items() if v is not None}


class InvoicePaymentResponse(CreateInvoicePaymentRequest):
    """The confirmation echoed back with the platform's transaction `id`."""

    id: str


class InvoiceCustomer(_Model):
    type: Literal["legal", "private"]
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    vatNumber: str | None = None
    taxRegistrationReasonCode: str | None = None
    registrationAddress: str | None = None


class InvoiceResponse(_Model):
    """An invoice (order container) as a payment instrument sees it (documentation model)."""

    id: str
    number: str
    createdAt: str
    expirationDate: str
    description: str
    amount: Decimal
    vatAmount: Decimal
    currencyId: str
    customer: InvoiceCustomer
    status: InvoiceStatus
    paymentUrl: str
