"""Every table of every domain, gathered on one MetaData for Alembic and the drift test."""

from __future__ import annotations

import importlib

from marketbox.storage.tables import metadata

# Domains with tables of their own register them on `metadata` when imported.
_DOMAIN_TABLE_MODULES = ("marketbox.marketplace.tables",)

for _module in _DOMAIN_TABLE_MODULES:
    try:
        importlib.import_module(_module)
    except ModuleNotFoundError as exc:  # the module may not exist yet in a partial checkout
        if exc.name != _module:
            raise

__all__ = ["metadata"]
