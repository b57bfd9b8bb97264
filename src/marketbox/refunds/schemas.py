"""The refund JSON contract (spec/api.md §9.1-§9.3)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from marketbox.orders.schemas import Amount, BasketItem, Str, _Model

REFUND_STATUSES = ("draft", "created", "completed", "canceled")


class CreateRefundRequest(_Model):
    """Body of POST /v3/billing/api/order/refund-order."""

    parentId: Str(36, 1)  # type: ignore[valid-type]
    merchantOrderId: Str(256, 1)  # type: ignore[valid-type]
    amount: Amount
    vatAmount: Amount
    basketItems: list[BasketItem]
    description: Str(1000, 1)  # type: ignore[valid-type]
    status: Literal["created", "draft"] | None = None


class RefundableItem(BasketItem):
    """A paid order's line with what is still refundable (the MCP server reads both)."""

    availableAmount: Amount
    availableVatAmount: Amount


class RefundResponse(_Model):
    """RefundOrderResponse (documentation model for OpenAPI; see service.refund_response)."""

    id: str
    parentId: str
    description: str
    merchantOrderId: str
    merchantId: str
    amount: Decimal
    vatAmount: Decimal
    currencyId: str
    basketItems: list[BasketItem]
    createdAt: str
    status: Literal[REFUND_STATUSES]  # type: ignore[valid-type]
    # Our extension, after a correction order (§9.4): withheld, and what the buyer gets back.
    correctionAmount: Decimal | None = None
    payoutAmount: Decimal | None = None
