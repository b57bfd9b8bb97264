"""The payment-instrument JSON contract (spec/api.md §13.1, §13.2).

Request models describe shape and types; the amount rules (exact kopecks, the invoice total,
its currency) live in `instruments.py` so they answer with their own codes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from marketbox.orders.schemas import Amount, Customer, Str

INVOICE_STATUSES = ("paid", "pending", "canceled", "partial")


class _Model(BaseModel):
    # Unknown properties are ignored (clients send fields of newer API revisions).
    model_config = ConfigDict(extra="ignore", strict=False)


class PaymentOrder(_Model):
    """The instrument's payment details (a bank transfer's payer and order)."""

    type: Literal["legal", "private"]
    number: Str(36) | None = None  # type: ignore[valid-type]
    date: Str(36) | None = None  # type: ignore[valid-type]
    amount: Amount
    currencyId: Str(3, 1)  # type: ignore[valid-type]
    name: Str(500) | None = None  # type: ignore[valid-type]
    phone: Str(100) | None = None  # type: ignore[valid-type]
    vatNumber: Str(20) | None = None  # type: ignore[valid-type]
    taxRegistrationReasonCode: Str(9) | None = None  # type: ignore[valid-type]
    settlementAccount: Str(20) | None = None  # type: ignore[valid-type]
    correspondentAccount: Str(20) | None = None  # type: ignore[valid-type]
    bankName: Str(100) | None = None  # type: ignore[valid-type]
    bic: Str(9) | None = None  # type: ignore[valid-type]
    kbk: Str(20) | None = None  # type: ignore[valid-type]
    paymentPurpose: Str(210) | None = None  # type: ignore[valid-type]


class CreateInvoicePaymentRequest(_Model):
    """Body of POST /v3/payment/api/invoice/confirm (signed with `X-Signature`).

    `paymentOrderNumber`, `paymentOrderDate` and `customer` are the names of the docs' example
    (api.md §13.2 [conflict]); they are accepted as aliases of `paymentOrder`'s fields.
    """

    invoiceId: Str(36, 1)  # type: ignore[valid-type]
    paymentOperationId: Str(36, 1)  # type: ignore[valid-type]
    amount: Amount
    currencyId: Str(3, 1)  # type: ignore[valid-type]
    paymentOrder: PaymentOrder | None = None
    status: Literal["paid", "pending"] = "paid"
    paymentOrderNumber: Str(36) | None = None  # type: ignore[valid-type]
    paymentOrderDate: Str(36) | None = None  # type: ignore[valid-type]
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
    status: Literal[INVOICE_STATUSES]  # type: ignore[valid-type]
    paymentUrl: str
