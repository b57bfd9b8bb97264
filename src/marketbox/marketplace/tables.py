"""Marketplace tables: points of sale (api.md §12.1-12.2) and special offers (§12.3).

Registered on the shared ``metadata``; ``storage.schema`` imports this module for Alembic.
Coordinates are kept as exact decimal text (SQLite has no exact numeric type), the minimal
order sum as integer minor units (STYLE.md §6). ``mini_app`` is our extension (docs/marketplace.md).

The search index over ``search_text`` (marketplace/search.py) cannot be written as a table
column or index, so it is registered as dialect DDL (storage/dialect_ddl.py) and lands in the
generated migration: on SQLite an FTS5 table kept in step by triggers, on PostgreSQL a GIN
index over the prefixes of the stems as tsvector lexemes.
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
    # The operator's place for the add-on on the payment page's strip (1 first); NULL: after
    # every placed one, oldest first (marketplace/addons.py, `marketbox addon position`).
    Column("addon_position", Integer, nullable=True),
    # The merchant's default for invoices of orders created for this point of sale: false
    # keeps other merchants' add-ons off them unless an order says orderSetting.allowAddons.
    Column("allow_addons", Boolean, nullable=False, server_default="1"),
    Column("active", Boolean, nullable=False, server_default="1"),
    # The secret the host signs a mini-app's launch data with (miniapp_host/launch.py), shown
    # to its merchant only; the replaced one keeps signing beside it until the overlap ends.
    # Null only for rows written around the service (bench data): their launch data is unsigned.
    Column("launch_secret", String(64), nullable=True),
    Column("launch_secret_created_at", UTCDateTime, nullable=True),
    Column("previous_launch_secret", String(64), nullable=True),
    Column("previous_launch_secret_valid_until", UTCDateTime, nullable=True),
    # Stems of title, description and address (marketplace/search.py).
    Column("search_text", Text, nullable=False, server_default=" "),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "merchant_id", "created_at"),
    Index(None, "active", "offers_addon"),
    # The marketplace home page: the newest active points of sale, walked from the end.
    Index(None, "active", "id"),
)

# The operator's platform-wide choices, one row per name (today only "addon_strip_limit": the
# most add-on cards a payment page shows, JSON null or no row = no limit). In the database so
# that every process reads the same value.
marketplace_settings = Table(
    "marketplace_settings",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("value", ExactJSON, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
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

# SQLite: an external-content FTS5 table over search_text of the *active* points of sale (what
# the public search may show; the rows stay in points_of_sale, a view names the active ones).
# The `ascii` tokenizer splits on ASCII non-alphanumerics only, so the space-separated stems
# are its tokens exactly as stored; `detail=none` keeps no positions (the search needs none);
# prefix indexes make one- to three-letter prefixes cheap. The triggers keep it in step in the
# same transaction as the row, and `rebuild` fills it from rows that already exist. The
# fts5vocab table lists its tokens: a query term is expanded into the stored stems it is a
# prefix of (repository.py).
SEARCH_FTS_TABLE = "points_of_sale_search"
SEARCH_FTS_VOCAB = f"{SEARCH_FTS_TABLE}_vocab"
_FTS_CONTENT = f"{SEARCH_FTS_TABLE}_rows"  # a view: what `rebuild` reads
_FTS_ADD = f"INSERT INTO {SEARCH_FTS_TABLE}(rowid, search_text)"
_FTS_REMOVE = f"INSERT INTO {SEARCH_FTS_TABLE}({SEARCH_FTS_TABLE}, rowid, search_text)"
register(
    metadata,
    DialectDDL(
        dialect="sqlite",
        create=(
            f"CREATE VIEW {_FTS_CONTENT} AS"
            " SELECT id, search_text FROM points_of_sale WHERE active",
            f"CREATE VIRTUAL TABLE {SEARCH_FTS_TABLE} USING fts5(search_text,"
            f" content='{_FTS_CONTENT}', content_rowid='id', tokenize='ascii',"
            " prefix='1 2 3', detail='none', columnsize=0)",
            f"CREATE VIRTUAL TABLE {SEARCH_FTS_VOCAB} USING fts5vocab({SEARCH_FTS_TABLE}, 'row')",
            f"CREATE TRIGGER {SEARCH_FTS_TABLE}_insert AFTER INSERT ON points_of_sale"
            f" WHEN new.active BEGIN {_FTS_ADD} VALUES (new.id, new.search_text); END",
            f"CREATE TRIGGER {SEARCH_FTS_TABLE}_delete AFTER DELETE ON points_of_sale"
            f" WHEN old.active BEGIN {_FTS_REMOVE}"
            " VALUES ('delete', old.id, old.search_text); END",
            f"CREATE TRIGGER {SEARCH_FTS_TABLE}_update AFTER UPDATE OF id, active, search_text"
            f" ON points_of_sale BEGIN {_FTS_REMOVE}"
            " SELECT 'delete', old.id, old.search_text WHERE old.active;"
            f" {_FTS_ADD} SELECT new.id, new.search_text WHERE new.active; END",
            f"INSERT INTO {SEARCH_FTS_TABLE}({SEARCH_FTS_TABLE}) VALUES ('rebuild')",
        ),
        drop=(
            f"DROP TRIGGER IF EXISTS {SEARCH_FTS_TABLE}_update",
            f"DROP TRIGGER IF EXISTS {SEARCH_FTS_TABLE}_delete",
            f"DROP TRIGGER IF EXISTS {SEARCH_FTS_TABLE}_insert",
            f"DROP TABLE IF EXISTS {SEARCH_FTS_VOCAB}",
            f"DROP TABLE IF EXISTS {SEARCH_FTS_TABLE}",
            f"DROP VIEW IF EXISTS {_FTS_CONTENT}",
        ),
        tables=(SEARCH_FTS_TABLE,),
    ),
)

# PostgreSQL: a GIN index over every prefix of every stored stem, as tsvector lexemes
# (" кофейн ул " -> 'к' 'ко' 'коф' 'кофе' 'кофей' 'кофейн' 'у' 'ул'). A query term is then one
# exact lexeme — "a prefix of some stem" is "equal to one of these" — so the index answers it
# with plain posting lists (no partial-match scan) and ANALYZE gives the planner real word
# frequencies. array_to_tsvector takes the strings verbatim (no parser, no dictionary, no case
# folding): the same rule as on SQLite. The function's high COST keeps the planner from
# evaluating it row by row when the index can answer; PARALLEL RESTRICTED keeps a few hundred
# rows from being sorted by parallel workers (their start costs more than the sort).
SEARCH_PREFIX_FUNCTION = "marketbox_stem_prefixes"
SEARCH_PREFIX_SQL = f"{SEARCH_PREFIX_FUNCTION}(search_text)"
SEARCH_GIN_INDEX = "ix_points_of_sale_search_prefixes"
register(
    metadata,
    DialectDDL(
        dialect="postgresql",
        create=(
            f"CREATE FUNCTION {SEARCH_PREFIX_FUNCTION}(stems text) RETURNS tsvector"
            " LANGUAGE sql IMMUTABLE STRICT PARALLEL RESTRICTED COST 1000 AS $$"
            " SELECT coalesce(array_to_tsvector(array_agg(DISTINCT left(s, n))),"
            " CAST('' AS tsvector))"
            " FROM unnest(string_to_array(btrim(stems), ' ')) AS s,"
            " generate_series(1, length(s)) AS n $$",
            f"CREATE INDEX {SEARCH_GIN_INDEX} ON points_of_sale USING gin ({SEARCH_PREFIX_SQL})",
        ),
        drop=(
            f"DROP INDEX IF EXISTS {SEARCH_GIN_INDEX}",
            f"DROP FUNCTION IF EXISTS {SEARCH_PREFIX_FUNCTION}(text)",
        ),
        indexes=(SEARCH_GIN_INDEX,),
    ),
)
