"""Apply migrations programmatically (on start, from the CLI, in tests)."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Alembic's config is a ConfigParser: a literal % (as in a URL-encoded password) is %%.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Blocking; call it outside a running event loop (or via ``upgrade_async``)."""
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, url, revision)


def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config)


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The revision this code's migrations end at (what `upgrade` brings a database to)."""
    return _scripts().get_current_head()


@lru_cache(maxsize=1)
def known_revisions() -> frozenset[str]:
    """Every revision this code ships; a database at another one was migrated by newer code."""
    return frozenset(script.revision for script in _scripts().walk_revisions())


async def current_revision(conn: AsyncConnection) -> str | None:
    """The revision the database was last migrated to; None when it never was.

    Raises the driver's error when the database has no `alembic_version` table.
    """
    rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
    return rows[0] if len(rows) == 1 else None
