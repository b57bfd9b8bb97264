"""The fiscal receipt JSON of our API extension (docs/api.md "Fiscal receipts (54-FZ)").
Documentation models for OpenAPI; the answers are built by service.receipt_response."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal, get_args

from pydantic import Field

from marketbox.orders.schemas import _Model

Purpose = Literal["payment", "shipment", "refund", "correction", "reversal"]
PURPOSES: tuple[str, ...] = get_args(Purpose)
Kind = Literal["income", "income_return"]
KINDS: tuple[str, ...] = get_args(Kind)
Status = Literal["formed", "registered"]
STATUSES: tuple[str, ...] = get_args(Status)


class ReceiptItem(_Model):
    """One line of a receipt: the basket line it records, with its 54-FZ tags as numbers."""

    sku: str | None = None
    name: str = Field(description="Tag 1030: the item's name")
    price: Decimal = Field(description="Tag 1079: unit price including VAT")
    quantity: Decimal = Field(description="Tag 1023")
    amount: Decimal = Field(description="Tag 1043: the line's total including VAT")
    vatCode: str = Field(description="The line's vatCode (api.md §8.9)")
    vatRate: Decimal | None = Field(description="VAT percentage; null when not subject to VAT")
    vatAmount: Decimal = Field(description="The line's VAT")
    measure: str | None = Field(default=None, description="The unit symbol of the basket line")
    paymentType: str | None = Field(
        default=None, description="The basket line's paymentType as the merchant sent it"
    )
    paymentMethodSign: int = Field(
        description="Tag 1214: 1 full prepayment, 2 prepayment, 3 advance, 4 full settlement"
    )
    subjectSign: int = Field(description="Tag 1212: subject of settlement (1 goods, 4 service…)")
    measureSign: int = Field(description="Tag 2108: quantity measure (0 piece, 11 kg, 255 other…)")


class ReceiptParty(_Model):
    name: str | None = None
    vatNumber: str | None = None


class ReceiptCustomer(_Model):
    email: str | None = Field(default=None, description="Tag 1008: where the receipt is sent")
    phone: str | None = None
    name: str | None = Field(default=None, description="Tag 1227 (company payers)")
    vatNumber: str | None = Field(default=None, description="Tag 1228 (company payers)")


class ReceiptResponse(_Model):
    """A 54-FZ receipt record: what the platform sends (or would send) to a fiscal registrar."""

    id: str
    orderId: str = Field(description="The merchant's order (a refund's or correction's parent)")
    orderContainerId: str
    merchantId: str
    purpose: Purpose
    sourceId: str = Field(
        description="The payment, shipment, refund or correction order the receipt records"
    )
    kind: Kind
    calculationSign: int = Field(description="Tag 1054: 1 income, 2 return of income")
    status: Status
    currencyId: str
    amount: Decimal
    vatAmount: Decimal
    electronicAmount: Decimal = Field(description="Tag 1081: paid electronically")
    prepaidAmount: Decimal = Field(description="Tag 1215: settled by an earlier prepayment")
    paymentForm: Literal["electronic"]
    supplier: ReceiptParty
    customer: ReceiptCustomer
    items: list[ReceiptItem]
    fiscalAttributes: dict[str, Any] | None = None
    createdAt: str
