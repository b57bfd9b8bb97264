"""The office's tables (docs/office.md): its users and their one-time invites. Registered on
the shared ``metadata``; ``storage.schema`` imports this module for Alembic."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Table

from marketbox.storage.tables import metadata
from marketbox.storage.types import UTCDateTime

office_users = Table(
    "office_users",
    metadata,
    Column("id", String(36), primary_key=True),
    # Stored lower-cased: one account per address, whatever case it is typed in.
    Column("email", String(320), nullable=False, unique=True),
    # argon2id in its PHC string form; NULL until an invited user sets a password.
    Column("password_hash", String(255), nullable=True),
    Column("merchant_id", String(36), ForeignKey("merchants.id"), nullable=True),
    # merchant (sees its merchant's orders) | operator (the platform's own staff)
    Column("role", String(20), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

office_invites = Table(
    "office_invites",
    metadata,
    # SHA-256 hex of the token in the link: a leaked table opens no account.
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("office_users.id"), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    # Set when the password is chosen: the link works once.
    Column("used_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "user_id"),
)
