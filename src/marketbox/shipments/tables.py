"""The shipments table (api.md §10). Registered on the shared ``metadata``; ``storage.schema``
imports this module for Alembic. Amounts are integer minor units (STYLE.md §6)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, Integer, String, Table

from marketbox.storage.tables import metadata
from marketbox.storage.types import ExactJSON, UTCDateTime

shipments = Table(
    "shipments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", String(36), ForeignKey("orders.id"), nullable=False),
    Column("merchant_id", String(36), ForeignKey("merchants.id"), nullable=False),
    Column("document_number", String(36), nullable=True),
    Column("document_date", String(10), nullable=True),
    Column("basket_items", ExactJSON, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("vat_amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    # The last shipment: the order is fulfilled and what is left of a hold is released.
    Column("final", Boolean, nullable=False, server_default="0"),
    # completed | canceled (api.md §10.1: draft and pending are not used, documents are at once)
    Column("status", String(20), nullable=False),
    # What this shipment captured of a held payment, and what a final one released.
    Column("captured_minor", BigInteger, nullable=False, server_default="0"),
    Column("released_minor", BigInteger, nullable=False, server_default="0"),
    Column("meta_data", ExactJSON, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "order_id"),
    Index(None, "merchant_id", "created_at"),
)
