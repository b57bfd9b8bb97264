"""Full-text-ish search over points of sale that works the same on SQLite and PostgreSQL.

Each point of sale keeps a ``search_text`` column: the Snowball stems of its title,
description and address, lower-cased, ``ё`` folded to ``е``, separated by single spaces with a
leading and a trailing space (``" кофейн город "``). A query is stemmed the same way and every
query stem must be the *prefix* of some stored stem, so «кофейня» finds «Кофейни города»,
«бизнес-зал» finds «бизнес-залы», and a half-typed «коф» still finds both. Cyrillic words go
through the Russian stemmer, everything else through the English one; digits stay as they are.
Stems are cut at MAX_STEM_CHARS (PostgreSQL's lexemes are at most 2047 bytes).

The rule is answered by an index on both databases, never by reading every row
(marketplace/tables.py builds them, docs/marketplace.md "Search"):

* SQLite: an FTS5 table over ``search_text`` whose tokens are exactly the stored stems; a
  query is ``"stem"* "stem"*`` (every term, each a prefix of some token) — ``fts5_query``.
* PostgreSQL: a GIN index over every prefix of every stored stem as tsvector lexemes; a query
  is ``'term' & 'term'`` (each one of those prefixes) — ``tsquery``. A common word is answered
  faster by walking the newest rows with the rule itself (``strpos``), see repository.py.

``match_clause`` is the same rule as plain LIKEs on the column (the merchant's own list, a
handful of rows per merchant, uses it), and ``matches`` the same rule in Python.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import snowballstemmer
from sqlalchemy import ColumnElement, and_, true

_TOKEN_RE = re.compile(r"[^\W_]+")
_CYRILLIC_RE = re.compile(r"[а-я]")
MAX_QUERY_TERMS = 10
MAX_STEM_CHARS = 100

_russian = snowballstemmer.stemmer("russian")
_english = snowballstemmer.stemmer("english")


def normalize(text: str) -> str:
    """Lower case with ``ё`` folded to ``е`` (Russian text writes both for the same letter)."""
    return text.lower().replace("ё", "е")


def tokens(text: str) -> list[str]:
    """Words of `text`: runs of letters and digits; hyphens, punctuation and ``_`` split."""
    return _TOKEN_RE.findall(normalize(text))


@lru_cache(maxsize=4096)
def stem(token: str) -> str:
    if token.isdigit():
        return token[:MAX_STEM_CHARS]
    stemmer = _russian if _CYRILLIC_RE.search(token) else _english
    return (stemmer.stemWord(token) or token)[:MAX_STEM_CHARS]


def stems(text: str) -> list[str]:
    """Distinct stems of `text`, in order of first appearance."""
    seen: dict[str, None] = {}
    for token in tokens(text):
        seen.setdefault(stem(token), None)
    return list(seen)


def index_text(parts: Iterable[str | None]) -> str:
    """The value stored in ``search_text`` for the given fields (``None`` parts are skipped)."""
    words: dict[str, None] = {}
    for part in parts:
        for s in stems(part or ""):
            words.setdefault(s, None)
    return f" {' '.join(words)} " if words else " "


def query_terms(query: str | None) -> list[str]:
    """The stems a query must match (at most MAX_QUERY_TERMS; empty for a blank query)."""
    return stems(query or "")[:MAX_QUERY_TERMS]


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def match_clause(column: ColumnElement[str], terms: Iterable[str]) -> ColumnElement[bool]:
    """All terms must be a prefix of some stored stem; no terms match everything."""
    conditions = [column.like(f"% {_escape_like(t)}%", escape="\\") for t in terms]
    return and_(*conditions) if conditions else true()


def matches(indexed: str, terms: Iterable[str]) -> bool:
    """The same rule in Python (tests, and callers that already hold the row)."""
    return all(f" {t}" in indexed for t in terms)


def fts5_token(stem: str) -> str:
    """One stem as an FTS5 string (matches that token exactly)."""
    return '"' + stem.replace('"', '""') + '"'


def fts5_query(terms: Iterable[str]) -> str:
    """An FTS5 MATCH expression: every term as a quoted prefix (``"коф"* "город"*``)."""
    return " ".join(fts5_token(t) + "*" for t in terms)


def tsquery(terms: Iterable[str]) -> str:
    """A PostgreSQL tsquery literal: every term as one quoted lexeme (``'коф' & 'город'``),
    matched against the index of stem prefixes (marketplace/tables.py)."""
    quoted = ["'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in terms]
    return " & ".join(quoted)
