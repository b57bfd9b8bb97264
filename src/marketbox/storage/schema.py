"""Every table of every domain, gathered on one MetaData for Alembic and the drift test."""

from __future__ import annotations

# Domains with tables of their own register them on `metadata` when imported.
import marketbox.guarantee.tables
import marketbox.mail.tables
import marketbox.marketplace.tables
import marketbox.office.tables
import marketbox.playground.tables
import marketbox.receipts.tables
import marketbox.sandbox.tables
import marketbox.shipments.tables  # noqa: F401
from marketbox.storage.tables import metadata

__all__ = ["metadata"]
