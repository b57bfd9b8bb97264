"""The shipment JSON contract (spec/api.md §10)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from annotated_types import Len, MaxLen
from pydantic import AfterValidator, Field

from marketbox.orders.schemas import BasketItem, _Model

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: str) -> str:
    """`YYYY-MM-DD`, ASCII digits, a real calendar day."""
    if not _ISO_DATE.fullmatch(value):
        raise ValueError("a date as YYYY-MM-DD")
    date.fromisoformat(value)
    return value


DocumentDate = Annotated[
    str, AfterValidator(_iso_date), Field(json_schema_extra={"format": "date"})
]


class CreateShipmentRequest(_Model):
    """Body of POST /v3/billing/api/order/shipment."""

    orderId: Annotated[str, Len(1, 36)]
    documentNumber: Annotated[str, MaxLen(36)] | None = None
    documentDate: DocumentDate | None = None
    basketItems: list[BasketItem] = Field(min_length=1)
    final: bool | None = None
    metaData: dict[str, Any] | list[Any] | None = None


class ShipmentResponse(_Model):
    """ShipmentResponse (documentation model for OpenAPI; see service.shipment_response)."""

    id: int
    orderId: str
    merchantId: str
    documentNumber: str | None = None
    documentDate: str | None = None
    basketItems: list[BasketItem]
    final: bool
    status: Literal["draft", "pending", "completed", "canceled"]
    type: str
    amount: Decimal
    vatAmount: Decimal
    currencyId: str
    createdAt: str
    metaData: dict[str, Any] | list[Any] | None = None
