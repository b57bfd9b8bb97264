"""Marketplace tables: points of sale (api.md §12.1-12.2) and special offers (§12.3).

Registered on the shared ``metadata``; ``storage.schema`` imports this module for Alembic.
Coordinates are kept as exact decimal text (SQLite has no exact numeric type), the minimal
order sum as integer minor units (STYLE.md §6). ``mini_app`` is our extension (docs/marketplace.md).

The search index over ``search_text`` (marketplace/search.py) cannot be written as a table
column or index, so it is registered as dialect DDL (storage/dialect_ddl.py) and lands in the
generated migration: on SQLite an FTS5 table kept in step by triggers, on PostgreSQL a GIN
index over the stems as a tsvector.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from marketbox.storage.dialect_ddl import DialectDDL, register
from marketbox.storage.tables import metadata
from marketbox.storage.types import ExactJSON, UTCDateTime

points_of_sale = Table(
    "points_of_sale",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("merchant_id", String(36), ForeignKey("merchants.id"), nullable=False),
    Column("title", String(50), nullable=False),
    Column("description", String(2000), nullable=True),
    # shop | marketplace | external | offline | brand
    Column("type", String(20), nullable=False),
    Column("alias", String(20), nullable=False, unique=True),
    Column("token", String(64), nullable=False),
    Column("shop_url", String(64), nullable=True),
    Column("registration_address", String(200), nullable=True),
    # Exact decimal text ("59.931228"), never a float.
    Column("lat", String(32), nullable=True),
    Column("lon", String(32), nullable=True),
    Column("logo_url", String(1000), nullable=True),
    Column("image_urls", ExactJSON, nullable=True),
    Column("links", ExactJSON, nullable=True),
    Column("delivery_info", String(1000), nullable=True),
    Column("min_order_sum_minor", BigInteger, nullable=True),
    Column("notification_email", String(500), nullable=True),
    Column("yandex_metrika_id", BigInteger, nullable=True),
    Column("jivosite_id", String(100), nullable=True),
    Column("brand_id", Integer, nullable=True),
    Column("account_program_ids", ExactJSON, nullable=True),
    # {"url", "origins": [...], "modes": [...], "addonRule": {...} | null}
    Column("mini_app", ExactJSON, nullable=True),
    # True when mini_app.modes holds "suborder": lets addons_for_container skip the rest in SQL.
    Column("offers_addon", Boolean, nullable=False, server_default="0"),
    # The operator's word on the add-on: none (no suborder mode) | pending | approved | revoked.
    # Only `approved` add-ons are offered on payment pages and may join other merchants'
    # invoices; sandbox approves on save, production waits for `marketbox addon approve`.
    Column("addon_status", String(10), nullable=False, server_default="none"),
    Column("active", Boolean, nullable=False, server_default="1"),
    # Stems of title, description and address (marketplace/search.py).
    Column("search_text", Text, nullable=False, server_default=" "),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "merchant_id", "created_at"),
    Index(None, "active", "offers_addon"),
)

special_offers = Table(
    "special_offers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("merchant_id", String(36), ForeignKey("merchants.id"), nullable=False),
    Column("external_id", String(36), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("start_at", UTCDateTime, nullable=False),
    Column("finish_at", UTCDateTime, nullable=False),
    Column("name", String(255), nullable=True),
    Column("description", String(1000), nullable=False),
    Column("tags", ExactJSON, nullable=False),
    Column("shop_id", Integer, ForeignKey("points_of_sale.id"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("merchant_id", "external_id"),
    Index(None, "active", "finish_at"),
)


# --- search index (marketplace/search.py, docs/marketplace.md "Search") -------------------------

# SQLite: an external-content FTS5 table over search_text (the rows stay in points_of_sale).
# The `ascii` tokenizer splits on ASCII non-alphanumerics only, so the space-separated stems
# are its tokens exactly as stored; `detail=none` keeps no positions (the search needs none);
# prefix indexes make one- to three-letter prefixes cheap. The triggers keep it in step in the
# same transaction as the row, and `rebuild` fills it from rows that already exist.
SEARCH_FTS_TABLE = "points_of_sale_search"
register(
    metadata,
    DialectDDL(
        dialect="sqlite",
        create=(
            f"CREATE VIRTUAL TABLE {SEARCH_FTS_TABLE} USING fts5(search_text,"
            " content='points_of_sale', content_rowid='id', tokenize='ascii',"
            " prefix='1 2 3', detail='none', columnsize=0)",
            f"CREATE TRIGGER {SEARCH_FTS_TABLE}_insert AFTER INSERT ON points_of_sale BEGIN"
            f" INSERT INTO {SEARCH_FTS_TABLE}(rowid, search_text)"
            " VALUES (new.id, new.search_text); END",
            f"CREATE TRIGGER {SEARCH_FTS_TABLE}_delete AFTER DELETE ON points_of_sale BEGIN"
            f" INSERT INTO {SEARCH_FTS_TABLE}({SEARCH_FTS_TABLE}, rowid, search_text)"
            " VALUES ('delete', old.id, old.search_text); END",
            f"CREATE TRIGGER {SEARCH_FTS_TABLE}_update AFTER UPDATE OF id, search_text"
            " ON points_of_sale BEGIN"
            f" INSERT INTO {SEARCH_FTS_TABLE}({SEARCH_FTS_TABLE}, rowid, search_text)"
            " VALUES ('delete', old.id, old.search_text);"
            f" INSERT INTO {SEARCH_FTS_TABLE}(rowid, search_text)"
            " VALUES (new.id, new.search_text); END",
            f"INSERT INTO {SEARCH_FTS_TABLE}({SEARCH_FTS_TABLE}) VALUES ('rebuild')",
        ),
        drop=(
            f"DROP TRIGGER IF EXISTS {SEARCH_FTS_TABLE}_update",
            f"DROP TRIGGER IF EXISTS {SEARCH_FTS_TABLE}_delete",
            f"DROP TRIGGER IF EXISTS {SEARCH_FTS_TABLE}_insert",
            f"DROP TABLE IF EXISTS {SEARCH_FTS_TABLE}",
        ),
        tables=(SEARCH_FTS_TABLE,),
    ),
)

# PostgreSQL: a GIN index over the stored stems as a tsvector. array_to_tsvector takes the
# stems verbatim (no parser, no dictionary, no case folding), and a `'stem':*` tsquery matches
# a lexeme by byte prefix: the same rule as on SQLite. Queries must spell the expression
# exactly like this to use the index (repository.py does, from this constant).
SEARCH_VECTOR_SQL = "array_to_tsvector(string_to_array(btrim(search_text), ' '))"
SEARCH_GIN_INDEX = "ix_points_of_sale_search_vector"
register(
    metadata,
    DialectDDL(
        dialect="postgresql",
        create=(
            f"CREATE INDEX {SEARCH_GIN_INDEX} ON points_of_sale USING gin ({SEARCH_VECTOR_SQL})",
        ),
        drop=(f"DROP INDEX IF EXISTS {SEARCH_GIN_INDEX}",),
        indexes=(SEARCH_GIN_INDEX,),
    ),
)
