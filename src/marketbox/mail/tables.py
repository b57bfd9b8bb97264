"""The mail_messages table (docs/mail.md): every e-mail the platform means to send, written in
the transaction of the event it tells about, then sent (or captured in the sandbox) by the
worker. Registered on the shared ``metadata``; ``storage.schema`` imports this module for
Alembic."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text

from marketbox.storage.tables import metadata
from marketbox.storage.types import UTCDateTime

mail_messages = Table(
    "mail_messages",
    metadata,
    Column("id", String(36), primary_key=True),
    # buyer_receipt (to the payer) | merchant_payment (to the merchant's notification e-mail)
    Column("kind", String(30), nullable=False),
    Column("recipient", String(320), nullable=False),
    # ru | en: the language the subject and body are written in
    Column("language", String(2), nullable=False),
    Column("subject", String(500), nullable=False),
    # Plain text, frozen when the event is recorded: every attempt sends the same letter.
    Column("body", Text, nullable=False),
    Column("container_id", String(36), ForeignKey("order_containers.id"), nullable=False),
    # Whose mail it is (the API and CLI list a merchant's letters): the merchant a notice is
    # addressed to; for a buyer's letter, the merchant of the invoice's main order.
    Column("merchant_id", String(36), nullable=True),
    # The order the letter is about; NULL for a letter about the whole invoice.
    Column("order_id", String(36), nullable=True),
    # pending -> sent | captured (sandbox, no SMTP: stored, never sent) | failed (given up)
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", String(1000), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    Index(None, "status", "next_attempt_at"),
    Index(None, "container_id"),
    Index(None, "merchant_id", "created_at"),
)
