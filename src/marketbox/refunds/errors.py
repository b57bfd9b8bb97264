"""Refund errors (codes of spec/api.md §4 and our additions)::

RefundExceedsAvailable   422 validation_error   more than is left to refund (a line or the whole)
RefundLineUnknown        422 validation_error   a line whose sku the paid order does not have
"""

from __future__ import annotations

from marketbox.errors import FieldError, ValidationFailed


class RefundExceedsAvailable(ValidationFailed):
    """A refund may give back at most what was paid and not yet refunded."""

    message = "The refund exceeds what is left to refund"

    def __init__(self, field: str, available: str) -> None:
        super().__init__(
            f"The refund exceeds what is left to refund ({available})",
            fields=[FieldError(field, "wrong_value", f"at most {available}")],
        )


class RefundLineUnknown(ValidationFailed):
    """Refund lines are matched to the paid order's lines by `sku`."""

    message = "The paid order has no line with this sku"

    def __init__(self, field: str) -> None:
        super().__init__(
            self.message, fields=[FieldError(field, "wrong_value", "no such sku in the order")]
        )
