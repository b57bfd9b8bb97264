"""The SQL of the sandbox reset: which tables are emptied and which are kept."""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.storage.schema import metadata

# Every table is one or the other (tests/unit/test_sandbox.py checks): a new
# table must be classified here, and docs/sandbox.md "Reset" says what each list means.
KEPT = frozenset(
    {
        "merchants",  # the demo shop's credentials are restored by the service
        "instruments",
        "points_of_sale",
        "special_offers",
        "marketplace_settings",  # the operator's add-on strip limit
        "gate_connections",
        "office_users",  # the office's people and their pending invites
        "office_invites",  # who is connected now: live sockets outlive a reset
    }
)
EMPTIED = frozenset(
    {
        "order_containers",
        "orders",
        "payments",
        "payment_attempts",
        "gateway_operations",
        "sandbox_authorizations",
        "sandbox_operations",
        "notifications",
        "notification_attempts",
        "idempotency_keys",
        "guarantee_codes",
        "mail_messages",
        "receipts",
        "shipments",
        "sandbox_clock",
    }
)


async def empty_sandbox_tables(conn: AsyncConnection) -> dict[str, int]:
    """Delete every row of the EMPTIED tables, those that refer to others first; returns the
    number of rows deleted per table."""
    deleted: dict[str, int] = {}
    for table in reversed(metadata.sorted_tables):
        if table.name in EMPTIED:
            result = await conn.execute(delete(table))
            deleted[table.name] = max(result.rowcount or 0, 0)
    return deleted


async def restore_merchant_credentials(
    conn: AsyncConnection, merchant_id: str, *, token_hash: str, signing_key: str, algorithm: str
) -> None:
    merchants = metadata.tables["merchants"]
    await conn.execute(
        update(merchants)
        .where(merchants.c.id == merchant_id)
        .values(
            token_hash=token_hash,
            signing_key=signing_key,
            sign_algorithm=algorithm,
            # A rotation's overlap ends with the reset: only the documented secrets work.
            previous_token_hash=None,
            previous_token_valid_until=None,
            previous_signing_key=None,
            previous_signing_key_valid_until=None,
            # The demo shop answers its notifications asynchronously again.
            shipping_control=False,
        )
    )
