"""Saved playground runs (docs/miniapps.md "Sharing a run"): sandbox data, emptied by the
sandbox reset. Registered on the shared ``metadata``; ``storage.schema`` imports this module."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, String, Table, Text

from marketbox.storage.tables import metadata
from marketbox.storage.types import UTCDateTime

playground_runs = Table(
    "playground_runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("url", Text, nullable=False),
    # order | suborder
    Column("mode", String(10), nullable=False),
    # No rule broken (playground/rules.py); a list or a badge reads it without the body.
    Column("passed", Boolean, nullable=False),
    # JSON {"context", "log", "verdict"}, exactly as /playground/runs/{id}.json serves it.
    Column("body", Text, nullable=False),
    Index(None, "created_at"),
)
