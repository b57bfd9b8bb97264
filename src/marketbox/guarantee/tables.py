"""Confirmation codes of the guarantee actions (api.md §11), one row per order and payment
method: the code now valid (hashed), how many sends and tries are left, when it expires.

Registered on the shared ``metadata``; ``storage.schema`` imports this module for Alembic.
Every change to a row happens under its order's container lock (service.py), so several API
processes share the counters without losing an update.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String, Table, UniqueConstraint

from marketbox.storage.tables import metadata
from marketbox.storage.types import UTCDateTime

guarantee_codes = Table(
    "guarantee_codes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("order_id", String(36), ForeignKey("orders.id"), nullable=False),
    Column("payment_method_id", String(36), nullable=False),
    # The payer (INN) the code was sent to; only that payer may use it.
    Column("payer_vat_number", String(20), nullable=False),
    # The public half the shop passes back with the code; a new send replaces it.
    Column("public_code", String(36), nullable=False, unique=True),
    # SHA-256 hex of "<public_code>:<code>": the code itself is never stored.
    Column("code_hash", String(64), nullable=False),
    Column("sends_left", Integer, nullable=False),
    Column("attempts_left", Integer, nullable=False),
    Column("sent_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    # active -> used (paid with it)
    Column("status", String(20), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("order_id", "payment_method_id"),
)
