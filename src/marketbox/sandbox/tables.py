"""The sandbox clock's offset: one row, read by every process (docs/sandbox.md)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, Table

from marketbox.storage.tables import metadata
from marketbox.storage.types import UTCDateTime

# At most one row (id 1); no row means the clock is not moved.
sandbox_clock = Table(
    "sandbox_clock",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    # How far the clock is ahead of the real time, in whole seconds (never negative).
    Column("offset_seconds", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
