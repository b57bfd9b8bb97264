"""Schema objects the table metadata cannot express, for one database dialect.

An SQLite FTS5 virtual table with its triggers or a PostgreSQL function and GIN index is still
part of the schema: ``marketbox migrate`` must build it, and ``scripts/makemigration`` must
write it into the one generated migration. A domain's ``tables.py`` registers such objects on
``metadata`` (``register``); the migration environment (migrations/env.py) then

* appends their CREATE statements to the generated ``upgrade()`` (and their DROP statements to
  ``downgrade()``), each block guarded by ``if op.get_bind().dialect.name == ...``;
* leaves the tables and indexes they create out of autogenerate's comparison (``include_name``),
  so the drift test (tests/integration/test_migrations.py) compares only what the tables
  describe.

SQLAlchemy DDL events (``event.listen(table, "after_create", ...)``) are not enough: they fire
on ``metadata.create_all`` only, never in an Alembic migration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from alembic.autogenerate import renderers
from alembic.operations.ops import MigrateOperation, MigrationScript
from alembic.runtime.environment import IncludeNameFn, NameFilterParentNames, NameFilterType
from sqlalchemy import MetaData

_INFO_KEY = "dialect_ddl"


@dataclass(frozen=True)
class DialectDDL:
    """Statements building (and dropping) schema objects on one dialect."""

    dialect: str  # "sqlite" | "postgresql"
    create: tuple[str, ...]
    drop: tuple[str, ...]
    # Tables it creates: autogenerate ignores them and every table named "<table>_<suffix>"
    # (FTS5 keeps its index in such shadow tables).
    tables: tuple[str, ...] = ()
    # Indexes it creates on tables the metadata describes: autogenerate ignores them.
    indexes: tuple[str, ...] = ()


def register(metadata: MetaData, ddl: DialectDDL) -> None:
    metadata.info.setdefault(_INFO_KEY, []).append(ddl)


def registered(metadata: MetaData) -> list[DialectDDL]:
    return list(metadata.info.get(_INFO_KEY, []))


def include_name(metadata: MetaData) -> IncludeNameFn:
    """An Alembic ``include_name`` hook skipping what the registered statements create."""
    ddls = registered(metadata)
    tables = {t for d in ddls for t in d.tables}
    indexes = {i for d in ddls for i in d.indexes}

    def include(
        name: str | None, type_: NameFilterType, parent_names: NameFilterParentNames
    ) -> bool:
        if name is None:
            return True
        if type_ == "table":
            return not any(name == t or name.startswith(f"{t}_") for t in tables)
        if type_ == "index":
            return name not in indexes
        return True

    return include


class DialectDDLOp(MigrateOperation):
    """Only rendered into a generated migration (as plain ``op.execute`` calls), never run."""

    def __init__(self, dialect: str, statements: Iterable[str]) -> None:
        self.dialect = dialect
        self.statements = tuple(statements)


def _literal(sql: str, width: int = 72) -> str:
    """`sql` as adjacent string literals of at most ~`width` characters (the formatter then puts
    each on its own line, inside the line length)."""
    words = sql.split(" ")
    chunks: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if current and len(candidate) > width:
            chunks.append(current + " ")
            current = word
        else:
            current = candidate
    chunks.append(current)
    return " ".join(repr(c) for c in chunks)


@renderers.dispatch_for(DialectDDLOp)
def _render(autogen_context: Any, op: DialectDDLOp) -> list[str | None]:
    lines: list[str | None] = [f"if op.get_bind().dialect.name == {op.dialect!r}:"]
    lines += [f"op.execute({_literal(sql)})" for sql in op.statements]
    lines.append(None)  # dedent
    return lines


def add_to_migration(
    metadata: MetaData, *, initial: bool
) -> Callable[[Any, Any, list[MigrationScript]], None]:
    """A ``process_revision_directives`` hook: the registered statements go into the migration
    (created after everything autogenerate wrote, dropped before it drops the tables).

    Only into the `initial` one (the schema lives in one migration, scripts/makemigration): a
    later revision would have to add such objects by hand, like any other change.
    """

    def process(context: Any, revision: Any, directives: list[MigrationScript]) -> None:
        ddls = registered(metadata)
        if not initial or not directives or not ddls:
            return
        script = directives[0]
        if script.upgrade_ops is None or script.downgrade_ops is None:
            return
        script.upgrade_ops.ops.extend(DialectDDLOp(d.dialect, d.create) for d in ddls)
        script.downgrade_ops.ops[:0] = [DialectDDLOp(d.dialect, d.drop) for d in reversed(ddls)]

    return process
