"""The refund JSON contract (spec/api.md §9.1-§9.3)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import WithJsonSchema

from marketbox import parsing
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
    """A paid order's line as it can still be refunded: `quantity` and the totals are what is
    left (0 once refunded in full; the PHP SDK passes the lines straight back), and so are
    `availableAmount` / `availableVatAmount` (the MCP server reads those)."""

    quantity: Annotated[  # type: ignore[assignment]
        Decimal, WithJsonSchema(parsing.decimal_json_schema(Decimal(0), parsing.MAX_AMOUNT))
    ]
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
