"""The fiscal registrar seam (docs/receipts.md "Plugging a fiscal registrar").

A `FiscalProvider` takes one formed receipt (the JSON of `service.receipt_response`: kind and
tag 1054, lines with tags 1212/2108/1214, VAT, totals, supplier, buyer contact) and registers it
on a cash register (directly or through a cloud cash-register service), answering the fiscal
attributes it got back, or None when nothing was registered. It is called with no database
transaction open; the receipt's `id` is stable, so a provider can use it as its idempotency key.

`LoggingFiscalProvider` is the stub: it writes the document to the log and registers nothing,
so receipts stay `formed`.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from marketbox import jsonutil

log = logging.getLogger("marketbox.receipts")


class FiscalProvider(Protocol):
    async def register(self, receipt: dict[str, Any]) -> dict[str, Any] | None:
        """Register one receipt; the registrar's fiscal attributes (e.g. fiscal drive number,
        document number, fiscal sign) or None. Raise to have it offered again later."""
        ...


class LoggingFiscalProvider:
    """Writes what would be sent to the log; nothing is fiscalized."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.log = logger or log

    async def register(self, receipt: dict[str, Any]) -> dict[str, Any] | None:
        self.log.info(
            "fiscal receipt formed (not registered: logging provider) receipt=%s order=%s %s",
            receipt["id"],
            receipt["orderId"],
            jsonutil.dumps(receipt).decode(),
        )
        return None
