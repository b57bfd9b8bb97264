"""Core tables. Amounts are integer minor units beside a currency column (STYLE.md §6).

Every domain's tables share ``metadata``; ``storage.schema`` imports them all for Alembic.
Public ids are 36-char UUID strings; internal integer keys appear only where nothing public
refers to the row (notification attempts).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from marketbox.storage.types import ExactJSON, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

merchants = Table(
    "merchants",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), nullable=False),
    Column("name", String(500), nullable=False),
    Column("legal_name", String(500), nullable=False, server_default=""),
    Column("vat_number", String(20), nullable=False, server_default=""),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("signing_key", String(512), nullable=False),
    Column("sign_algorithm", String(16), nullable=False, server_default="sha1"),
    Column("notification_url", String(1000), nullable=True),
    # Where the merchant's payment notices are mailed (docs/mail.md); NULL: none are written.
    Column("notification_email", String(320), nullable=True),
    Column("merchant_order_id_unique", Boolean, nullable=False, server_default="1"),
    Column("has_contract", Boolean, nullable=False, server_default="1"),
    # «Контроль отгрузки на платёжной странице» (docs/miniapps.md "Shipping control"): card
    # payments of its orders are held and the payment page waits up to the limit for the
    # shop's answer to the notification.
    Column("shipping_control", Boolean, nullable=False, server_default="0"),
    Column("shipping_control_timeout_seconds", Integer, nullable=False, server_default="20"),
    Column("created_at", UTCDateTime, nullable=False),
    # Rotation with an overlap (merchants/service.py "Changing credentials"): the previous
    # token and key keep working until their deadline; NULL when there is none.
    Column("token_created_at", UTCDateTime, nullable=True),
    Column("previous_token_hash", String(64), nullable=True, index=True),
    Column("previous_token_valid_until", UTCDateTime, nullable=True),
    Column("signing_key_created_at", UTCDateTime, nullable=True),
    Column("previous_signing_key", String(512), nullable=True),
    Column("previous_signing_key_valid_until", UTCDateTime, nullable=True),
)

instruments = Table(
    "instruments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(500), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("signing_key", String(512), nullable=False),
    Column("sign_algorithm", String(16), nullable=False, server_default="sha1"),
    Column("created_at", UTCDateTime, nullable=False),
    # Rotation with an overlap (merchants/service.py "Changing credentials"): the previous
    # token and key keep working until their deadline; NULL when there is none.
    Column("token_created_at", UTCDateTime, nullable=True),
    Column("previous_token_hash", String(64), nullable=True, index=True),
    Column("previous_token_valid_until", UTCDateTime, nullable=True),
    Column("signing_key_created_at", UTCDateTime, nullable=True),
    Column("previous_signing_key", String(512), nullable=True),
    Column("previous_signing_key_valid_until", UTCDateTime, nullable=True),
)

order_containers = Table(
    "order_containers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("number", String(50), nullable=False, unique=True),
    Column("currency", String(3), nullable=False),
    # pending -> paid | canceled | expired
    Column("status", String(20), nullable=False),
    Column("main_order_id", String(36), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("paid_at", UTCDateTime, nullable=True),
    Column("payment_id", String(36), nullable=True),
    # Payer data entered on the payment page (customer object of the API).
    Column("payer", ExactJSON, nullable=True),
)

orders = Table(
    "orders",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("container_id", String(36), ForeignKey("order_containers.id"), nullable=False),
    Column("merchant_id", String(36), ForeignKey("merchants.id"), nullable=False),
    Column("merchant_order_id", String(256), nullable=False),
    # Equals merchant_order_id when the merchant enforces uniqueness, else NULL (no constraint).
    Column("merchant_order_key", String(256), nullable=True),
    Column("merchant_order_id_visible", String(256), nullable=True),
    Column("description", String(1000), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("vat_amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("language_id", String(2), nullable=True),
    # created | completed | hold | expired | canceled (api.md §8.7)
    Column("status", String(20), nullable=False),
    Column("subtype", String(20), nullable=False, server_default="order"),
    # How the order entered its container (docs/security.md "Who may join an invoice"):
    # main (opened it) | own (a suborder of a merchant already in it) | addon (an approved
    # add-on point of sale of another merchant; the buyer may remove it before paying).
    Column("joined_as", String(10), nullable=False, server_default="main"),
    Column("processing_status", String(50), nullable=False, server_default=""),
    Column("processable", Boolean, nullable=False, server_default="1"),
    Column("expiration_date", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("paid_at", UTCDateTime, nullable=True),
    Column("shop_id", Integer, nullable=True),
    Column("parent_id", String(36), nullable=True),
    Column("customer", ExactJSON, nullable=False),
    Column("basket_items", ExactJSON, nullable=False),
    Column("meta_data", ExactJSON, nullable=True),
    Column("notification_url", String(1000), nullable=True),
    Column("success_url", String(1000), nullable=True),
    Column("fail_url", String(1000), nullable=True),
    Column("return_url", String(1000), nullable=True),
    # The paymentUrl the order was issued with (Settings.payment_url when its container was
    # opened; a suborder carries its container's): moving the platform keeps old links as
    # they were issued (docs/architecture.md).
    Column("payment_url", String(1000), nullable=False),
    Column("invoice_setting", ExactJSON, nullable=True),
    Column("order_setting", ExactJSON, nullable=True),
    Column("extra", ExactJSON, nullable=True),
    UniqueConstraint("merchant_id", "merchant_order_key"),
    Index(None, "merchant_id", "created_at"),
    Index(None, "container_id"),
    Index(None, "status", "expiration_date"),
    # A refund's and a suborder's parent: refund limits and the refund list by parentId.
    Index(None, "parent_id"),
)

# PostgreSQL: what a payment that reads before it writes (payments/service.py
# `pay_container_at_once`) compares; the functions are created by migration 0002
# (migrations/versions/0002_payment_guard.py). `ORDERS_VERSION(container)` names every order of
# the container and its row version (`xmin` changes with every change of the row), read in the
# calling statement's snapshot (STABLE). `ORDERS_ARE(container, version)` reads it again with
# a snapshot of its own (a VOLATILE PL/pgSQL function takes a fresh one for each of its
# queries under READ COMMITTED), so it sees an order that joined while the calling statement
# waited for the container's lock, which that statement's snapshot cannot; it raises
# serialization_failure (SQLSTATE 40001) when the orders are no longer the ones read.
ORDERS_VERSION = "marketbox_container_orders"
ORDERS_ARE = "marketbox_container_orders_are"

payments = Table(
    "payments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("container_id", String(36), ForeignKey("order_containers.id"), nullable=False),
    # card | instrument
    Column("method", String(20), nullable=False),
    # succeeded | declined
    Column("status", String(20), nullable=False),
    Column("failure_code", String(50), nullable=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("card_last4", String(4), nullable=True),
    Column("instrument_id", String(36), ForeignKey("instruments.id"), nullable=True),
    Column("operation_id", String(36), nullable=True),
    Column("details", ExactJSON, nullable=True),
    # Card payments: the gateway (MARKETBOX_PAYMENT_GATEWAY's name, e.g. "sandbox") and its
    # reference of the authorization, the handle for capture / void / refund (docs/payments.md).
    # NULL for payments confirmed by a payment instrument (its reference is `operation_id`).
    Column("gateway", String(50), nullable=True),
    Column("gateway_reference", String(100), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("instrument_id", "operation_id"),
    Index(None, "container_id"),
    Index(None, "gateway", "gateway_reference"),
)

# Every card attempt on the payment page, throttled ones included. A row is also the attempt's
# payment intent: it is written before the gateway is asked and moves through `status` in short
# transactions of its own, never holding one open while the gateway works (payments/attempts.py,
# docs/payments.md "Card attempts"). payments/throttle.py counts the declines here per container
# and per client (docs/payment-page.md, "Throttling card attempts").
payment_attempts = Table(
    "payment_attempts",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("container_id", String(36), ForeignKey("order_containers.id"), nullable=False),
    # The client's IP address as the server saw it.
    Column("client", String(64), nullable=False),
    # The bank's answer about the card, what the throttle counts:
    # pending (not known yet) | approved | declined | throttled (the bank was not asked) |
    # none (the gateway never saw the attempt: abandoned)
    Column("outcome", String(20), nullable=False),
    Column("failure_code", String(50), nullable=True),
    # The intent's lifecycle (payments/attempts.py):
    # throttled | authorizing -> authorized | declined | abandoned;
    # authorized -> paid | voiding -> voided
    Column("status", String(20), nullable=False),
    # Sent to the gateway with the authorization; the gateway answers "what happened to it"
    # by this key after a crash. NULL for throttled attempts.
    Column("idempotency_key", String(64), nullable=True, unique=True),
    Column("gateway", String(50), nullable=True),
    Column("gateway_reference", String(100), nullable=True),
    # What the payer saw and was asked to pay (the whole invoice).
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    # card | card_hold once approved (captured at once or held)
    Column("method", String(20), nullable=True),
    Column("captured", Boolean, nullable=True),
    Column("card_last4", String(4), nullable=True),
    # The payments row this attempt wrote: the succeeded payment or the recorded decline.
    Column("payment_id", String(36), nullable=True),
    # Why an approved authorization could not pay the invoice (voiding/voided):
    # amount_changed | already_paid | canceled | expired | not_payable_here | not_found
    Column("release_reason", String(30), nullable=True),
    # How it was released: void | refund (a captured payment the gateway could not void).
    Column("release", String(10), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "container_id", "created_at"),
    Index(None, "client", "created_at"),
    Index(None, "status", "updated_at"),
)

# Money moved after the payment (payments/operations.py, docs/payments.md "After the
# payment"): each row is the intent of one gateway call - a shipment's capture of a held
# payment, the release of what a hold has left, a refund's payout. It is written in the
# transaction of the change that calls for it (the shipment, the last order of a hold
# settled, the refund's payout begun); the worker asks the gateway, never inside a
# transaction, and records the answer. Every call is idempotent by (reference, kind, op_key),
# so a crash between any two steps is finished by asking again.
gateway_operations = Table(
    "gateway_operations",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("container_id", String(36), ForeignKey("order_containers.id"), nullable=False),
    Column("payment_id", String(36), ForeignKey("payments.id"), nullable=False),
    # capture | void | refund
    Column("kind", String(10), nullable=False),
    # What called for it: shipment (source_id = the shipment's id) | release (the container's
    # id) | refund (the refund order's id).
    Column("source", String(20), nullable=False),
    Column("source_id", String(36), nullable=False),
    # Sent to the gateway: a capture's and a refund's key; "" for a void.
    Column("op_key", String(100), nullable=False),
    Column("gateway", String(50), nullable=False),
    Column("reference", String(100), nullable=False),
    # Captured or refunded; NULL for a void (it releases whatever is left).
    Column("amount_minor", BigInteger, nullable=True),
    Column("currency", String(3), nullable=False),
    # pending -> succeeded | failed (the gateway refused: nothing moved; an operator looks)
    Column("status", String(20), nullable=False),
    Column("failure_code", String(50), nullable=True),
    # What a void released (known from the gateway's answer).
    Column("result_minor", BigInteger, nullable=True),
    Column("tries", Integer, nullable=False, server_default="0"),
    Column("next_try_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("payment_id", "kind", "op_key"),
    Index(None, "status", "next_try_at"),
    Index(None, "source", "source_id"),
)

# The sandbox gateway's own books (payments/sandbox_gateway.py): the simulated bank keeps its
# authorizations and operations in the database, so it can answer "what happened to
# authorization X" after any process restarts. A real gateway keeps these at the bank.
sandbox_authorizations = Table(
    "sandbox_authorizations",
    metadata,
    Column("reference", String(100), primary_key=True),
    Column("idempotency_key", String(64), nullable=False, unique=True),
    # declined | authorized | captured | voided | refunded
    Column("state", String(20), nullable=False),
    Column("failure_code", String(50), nullable=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("captured_minor", BigInteger, nullable=False, server_default="0"),
    Column("refunded_minor", BigInteger, nullable=False, server_default="0"),
    Column("card_last4", String(4), nullable=True),
    Column("card_brand", String(20), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# One row per state-changing capture / void / refund: a repeat with the same key is answered
# from here instead of being applied twice.
sandbox_operations = Table(
    "sandbox_operations",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column(
        "reference",
        String(100),
        ForeignKey("sandbox_authorizations.reference"),
        nullable=False,
    ),
    # capture | void | refund
    Column("kind", String(10), nullable=False),
    # capture and void: "" (one per authorization); refund: the caller's key ("" by default)
    Column("op_key", String(100), nullable=False),
    Column("amount_minor", BigInteger, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("reference", "kind", "op_key"),
)

# Outbox: written in the transaction that changes an order's status; the dispatcher
# delivers it (notifications/dispatcher.py).
notifications = Table(
    "notifications",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("order_id", String(36), nullable=False),
    Column("merchant_id", String(36), nullable=False),
    Column("event", String(20), nullable=False),
    Column("url", String(1000), nullable=True),
    Column("body", LargeBinary, nullable=False),
    Column("signature", String(128), nullable=False),
    # pending -> delivered | rejected | abandoned
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    # A resend's original record (notifications/service.py `resend`): resend-failed skips
    # records already resent.
    Column("resent_from", String(36), nullable=True),
    Index(None, "status", "next_attempt_at"),
    Index(None, "resent_from"),
    Index(None, "order_id"),
    Index(None, "merchant_id", "created_at"),
    # Every row is updated at least twice (a dispatcher's claim, then its record). Room left
    # on each page lets PostgreSQL keep a claim's new version beside the old one without
    # touching the four indexes (a HOT update: the claim changes no indexed column): less
    # database work per notification (docs/benchmarks.md, item 35).
    postgresql_with={"fillfactor": 70},
)

notification_attempts = Table(
    "notification_attempts",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("notification_id", String(36), ForeignKey("notifications.id"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("dispatcher", String(64), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    # The exact request: URL and headers (X-Signature included); the body is the
    # notification's own frozen `body`, identical for every attempt, so it is not copied here.
    Column("request_url", String(1000), nullable=True),
    Column("request_headers", ExactJSON, nullable=True),
    Column("http_status", Integer, nullable=True),
    # The shop's reply: headers ({name: value}) and body, each cut (notifications/delivery.py).
    Column("response_headers", ExactJSON, nullable=True),
    Column("response_body", Text, nullable=True),
    # success | retry | rejected
    Column("outcome", String(20), nullable=False),
    # Why, as one word: delivered, rejected, blocked, shop_error, http_error, bad_reply,
    # timeout, connection_error (delivery.Verdict.reason).
    Column("reason", String(20), nullable=True),
    Column("reply_code", String(100), nullable=True),
    Column("error", Text, nullable=True),
    UniqueConstraint("notification_id", "attempt"),
)

# Idempotency-Key (our extension, docs/api.md): one row per key and account. Inserted before the
# request runs (the primary key lets exactly one racing request claim it), completed with the
# answer when it is a 2xx or 4xx, deleted on a 5xx; rows older than a day are purged by the
# worker (web/idempotency.py, storage/idempotency.py).
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    # merchant:<id> | instrument:<id>
    Column("account", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    # SHA-256 of method, path, query, X-Signature and body: "the same request".
    Column("fingerprint", String(64), nullable=False),
    Column("method", String(10), nullable=False),
    Column("path", String(1000), nullable=False),
    # Random token of the request holding the key, so only it may complete or release it.
    Column("claim", String(32), nullable=False),
    # NULL while the request runs; then the stored answer.
    Column("status", Integer, nullable=True),
    Column("headers", ExactJSON, nullable=True),
    Column("body", LargeBinary, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "created_at"),
)

# Clients connected to the WebSocket gate (notifications.md §8, docs/gate.md): one row per open
# connection, written by the API process that holds it, refreshed while it lives
# (`seen_at`), deleted when it closes; `marketbox gate status` reads it from any process.
gate_connections = Table(
    "gate_connections",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("merchant_id", String(36), nullable=False),
    # hostname:pid of the API process holding the connection
    Column("process", String(100), nullable=False),
    Column("remote", String(100), nullable=True),
    Column("connected_at", UTCDateTime, nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),
    # The client's answer to getStatus (its version, type, settings), as JSON text.
    Column("client_status", Text, nullable=True),
    Index(None, "seen_at"),
)
