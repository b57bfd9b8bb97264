"""The refund JSON contract (spec/api.md §9.1-§9.3)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal, get_args

from annotated_types import Len
from pydantic import WithJsonSchema

from marketbox import parsing
from marketbox.orders.schemas import Amount, BasketItem, _Model

RefundStatus = Literal["draft", "created", "completed", "canceled"]
REFUND_STATUSES: tuple[str, ...] = get_args(RefundStatus)


class CreateRefundRequest(_Model):
    """Body of POST /v3/billing/api/order/refund-order."""

    parentId: Annotated[str, Len(1, 36)]
    merchantOrderId: Annotated[str, Len(1, 256)]
    amount: Amount
    vatAmount: Amount
    basketItems: list[BasketItem]
    description: Annotated[str, Len(1, 1000)]
    status: Literal["created", "draft"] | None = None


class RefundableItem(BasketItem):
    """A paid order's line as it can still be refunded: `quantity` and the totals are what is
    left (0 once refunded in full; the PHP SDK passes the lines straight back), and so are
    `availableAmount` / `availableVatAmount` (the MCP server reads those)."""

    quantity: Annotated[
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
    status: RefundStatus
    # Our extension, after a correction order (§9.4): withheld, and what the buyer gets back.
    correctionAmount: Decimal | None = None
    payoutAmount: Decimal | None = None
