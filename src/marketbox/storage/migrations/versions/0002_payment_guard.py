"""the payment's read-then-write guard; room on the outbox's pages

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-08 05:00:00

Written by hand (autogenerate sees neither functions nor storage parameters), and a revision
of its own so that a PostgreSQL database migrated before it gets it too: the functions a bank
confirmation compares (storage/tables.py ORDERS_VERSION, ORDERS_ARE;
payments/service.pay_container_at_once), and the notifications table's fillfactor, which
revision 0001 has set since 2026-12-08 but a database created before then lacks (only pages
written from now on get the room; docs/benchmarks.md item 35).
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The container's orders, each with its row version (xmin), in a fixed order, read in the
# calling statement's snapshot (STABLE). PL/pgSQL keeps the query's plan for the session; a
# SQL function that aggregates cannot be inlined and would be planned on every call.
ORDERS_VERSION = """
CREATE OR REPLACE FUNCTION marketbox_container_orders(container varchar) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT string_agg(id || '@' || CAST(xmin AS text), ',' ORDER BY id COLLATE "C")
        FROM orders WHERE container_id = container
    );
END $$
"""
# The same, with a fresh snapshot (VOLATILE: each query of the function takes its own under
# READ COMMITTED): raises serialization_failure when the orders are not the ones read.
ORDERS_ARE = """
CREATE OR REPLACE FUNCTION marketbox_container_orders_are(container varchar, version text)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF marketbox_container_orders(container) IS DISTINCT FROM version THEN
        RAISE EXCEPTION 'the orders of invoice % changed while it was being paid', container
            USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN true;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(ORDERS_VERSION)
    op.execute(ORDERS_ARE)
    op.execute("ALTER TABLE notifications SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS marketbox_container_orders_are(varchar, text)")
    op.execute("DROP FUNCTION IF EXISTS marketbox_container_orders(varchar)")
