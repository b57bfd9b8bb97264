"""The receipts table (docs/receipts.md): one row per 54-FZ receipt the platform would send to a
fiscal registrar. Registered on the shared ``metadata``; ``storage.schema`` imports this module
for Alembic. Amounts are integer minor units (STYLE.md §6); the lines keep exact decimals."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Table, UniqueConstraint

from marketbox.storage.tables import metadata
from marketbox.storage.types import ExactJSON, UTCDateTime

receipts = Table(
    "receipts",
    metadata,
    Column("id", String(36), primary_key=True),
    # Tag 1054: income («приход») | income_return («возврат прихода»)
    Column("kind", String(20), nullable=False),
    # What the receipt is for: payment | shipment | refund | correction
    Column("purpose", String(20), nullable=False),
    # The event's own id: the payment, the shipment, the refund or the correction order.
    # With `purpose` and `order_id` it is unique: an event never gets two receipts.
    Column("source_id", String(36), nullable=False),
    # The merchant's order the receipt belongs to (a refund's or correction's paid order).
    Column("order_id", String(36), ForeignKey("orders.id"), nullable=False),
    Column("merchant_id", String(36), ForeignKey("merchants.id"), nullable=False),
    Column("container_id", String(36), ForeignKey("order_containers.id"), nullable=False),
    Column("currency", String(3), nullable=False),
    # The receipt's total and VAT: the sums of its lines.
    Column("amount_minor", BigInteger, nullable=False),
    Column("vat_amount_minor", BigInteger, nullable=False),
    # Tag 1081: paid electronically now; tag 1215: settled by an earlier prepayment.
    # Together they make the total.
    Column("electronic_minor", BigInteger, nullable=False),
    Column("prepaid_minor", BigInteger, nullable=False),
    # Tag 1081's sign: every payment through the platform is `electronic`.
    Column("payment_form", String(20), nullable=False),
    # Lines: sku, name, price, quantity, amount, vatCode, vatRate, vatAmount, measure, and the
    # tags 1212 (subject), 2108 (measure) and 1214 (payment method sign) as numbers.
    Column("lines", ExactJSON, nullable=False),
    # Supplier (the merchant): name and INN, as printed on the receipt.
    Column("supplier_name", String(500), nullable=False),
    Column("supplier_inn", String(20), nullable=False),
    # Buyer contact (tag 1008) where the fiscal data operator sends the receipt; a company
    # payer's name and INN (tags 1227, 1228).
    Column("customer_email", String(100), nullable=True),
    Column("customer_phone", String(100), nullable=True),
    Column("customer_name", String(500), nullable=True),
    Column("customer_inn", String(20), nullable=True),
    # formed (what would be sent to a fiscal registrar) -> registered (a registrar answered
    # with the fiscal attributes); receipts/fiscal.py is the seam.
    Column("status", String(20), nullable=False),
    # What a registrar answered (fiscal drive, document number, fiscal sign); NULL until then.
    Column("fiscal_attributes", ExactJSON, nullable=True),
    Column("handed_over_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("purpose", "source_id", "order_id"),
    Index(None, "order_id"),
    Index(None, "container_id"),
    Index(None, "merchant_id", "created_at"),
    Index(None, "status", "handed_over_at"),
)
