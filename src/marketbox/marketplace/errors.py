"""Marketplace errors (codes of spec/api.md §4 and our additions)::

PointOfSaleNotFound     404 not_found   unknown id, or another merchant's point of sale
ForeignMerchant         403 forbidden   merchantId names another merchant
"""

from __future__ import annotations

from marketbox.errors import Forbidden, NotFound


class PointOfSaleNotFound(NotFound):
    """No such point of sale for this merchant (another merchant's one is not found either)."""

    message = "Point of sale not found"


class ForeignMerchant(Forbidden):
    """The request's merchantId is not the merchant the token belongs to."""

    message = "merchantId does not belong to this token"
