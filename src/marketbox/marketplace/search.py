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

Forgiving queries (issue 10, item 10), each one more alternative for a query word, never a
looser rule:

* a hyphenated word is also stored joined (``Бизнес-залы`` adds ``бизнесзал``), so
  a query typed without the hyphen or the space finds it;
* the IATA codes a point of sale is offered for (its add-on rule) are stored with its text,
  so «SVO» finds the services of Sheremetyevo;
* a query word in Latin letters is also looked for transliterated to Cyrillic («taxi» →
  «такси») and as typed on a Latin keyboard layout meaning Cyrillic («nfrcb» → «такси»).

A query is a list of *groups*, one per word: a row matches when, for every group, some
alternative of it is a prefix of a stored stem.

``match_clause`` is the same rule as plain LIKEs on the column (the merchant's own list, a
handful of rows per merchant, uses it), and ``matches`` the same rule in Python.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import snowballstemmer
from sqlalchemy import ColumnElement, and_, or_, true

_TOKEN_RE = re.compile(r"[^\W_]+")
_COMPOUND_RE = re.compile(r"[^\W_]+(?:-[^\W_]+)+")
_LATIN_RE = re.compile(r"[a-z]")
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


def compound_stems(text: str) -> list[str]:
    """The hyphenated words of `text` as one stem: their parts' stems joined (``бизнес-залы``
    → ``бизнесзал``), for queries typed without the hyphen. Joined stems, not the stem of the
    joined word: «бизнесзал» and «бизнесзалы» stem to ``бизнесза`` and ``бизнесзал``, both
    prefixes of the former only."""
    return [
        "".join(stem(part) for part in word.split("-"))[:MAX_STEM_CHARS]
        for word in _COMPOUND_RE.findall(normalize(text))
    ]


def index_text(parts: Iterable[str | None]) -> str:
    """The value stored in ``search_text`` for the given fields (``None`` parts are skipped)."""
    words: dict[str, None] = {}
    for part in parts:
        for s in stems(part or ""):
            words.setdefault(s, None)
    for part in parts:
        for s in compound_stems(part or ""):
            words.setdefault(s, None)
    return f" {' '.join(words)} " if words else " "


# Latin to Cyrillic, longest spellings first (a practical mix of the common schemes:
# «taxi» → «такси», «kofe» → «кофе», «shokolad» → «шоколад», «zhuk» → «жук»).
_TRANSLIT = [
    ("shch", "щ"),
    ("sch", "щ"),
    ("zh", "ж"),
    ("kh", "х"),
    ("ts", "ц"),
    ("ch", "ч"),
    ("sh", "ш"),
    ("yu", "ю"),
    ("ya", "я"),
    ("yo", "ё"),
    ("ye", "е"),
    ("ay", "ай"),
    ("ey", "ей"),
    ("iy", "ий"),
    ("oy", "ой"),
    ("uy", "уй"),
    ("x", "кс"),
    ("a", "а"),
    ("b", "б"),
    ("c", "к"),
    ("d", "д"),
    ("e", "е"),
    ("f", "ф"),
    ("g", "г"),
    ("h", "х"),
    ("i", "и"),
    ("j", "дж"),
    ("k", "к"),
    ("l", "л"),
    ("m", "м"),
    ("n", "н"),
    ("o", "о"),
    ("p", "п"),
    ("q", "к"),
    ("r", "р"),
    ("s", "с"),
    ("t", "т"),
    ("u", "у"),
    ("v", "в"),
    ("w", "в"),
    ("y", "ы"),
    ("z", "з"),
]
_TRANSLIT_RE = re.compile("|".join(latin for latin, _ in _TRANSLIT))
_TRANSLIT_MAP = dict(_TRANSLIT)

# The Russian ЙЦУКЕН layout on a QWERTY keyboard: what a key types in Latin -> in Cyrillic.
_LAYOUT = str.maketrans("qwertyuiop[]asdfghjkl;'zxcvbnm,.`", "йцукенгшщзхъфывапролджэячсмитьбюё")


def transliterate(word: str) -> str:
    """Latin letters spelled in Cyrillic (``taxi`` → ``такси``); other characters kept."""
    return _TRANSLIT_RE.sub(lambda m: _TRANSLIT_MAP[m.group(0)], word)


def from_latin_layout(text: str) -> str:
    """What `text` typed with the keyboard on the Latin layout meant in Cyrillic."""
    return text.translate(_LAYOUT)


def _latin_alternatives(chunk: str, token: str) -> list[str]:
    """Cyrillic readings of a Latin query word: transliterated, and re-typed on the Russian
    layout (the whole chunk, so «,bpytc» reads «бизнес»)."""
    readings = [transliterate(token)]
    retyped = tokens(from_latin_layout(chunk))
    if len(retyped) == 1:
        readings.append(retyped[0])
    return [stem(r) for r in readings if _CYRILLIC_RE.search(r)]


def query_terms(query: str | None) -> list[tuple[str, ...]]:
    """The groups a query must match, one per word: its stem first, then the stems of its
    other readings (at most MAX_QUERY_TERMS groups; empty for a blank query)."""
    groups: dict[str, tuple[str, ...]] = {}
    for chunk in normalize(query or "").split():
        words = tokens(chunk)
        for word in words:
            alternatives = [stem(word)]
            if len(words) == 1 and _LATIN_RE.search(word) and not _CYRILLIC_RE.search(word):
                alternatives += _latin_alternatives(chunk, word)
            groups.setdefault(alternatives[0], tuple(dict.fromkeys(alternatives)))
    return list(groups.values())[:MAX_QUERY_TERMS]


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def match_clause(
    column: ColumnElement[str], groups: Iterable[Iterable[str]]
) -> ColumnElement[bool]:
    """Every group must have an alternative that is a prefix of some stored stem; no groups
    match everything."""
    conditions = [
        or_(*(column.like(f"% {_escape_like(t)}%", escape="\\") for t in group)) for group in groups
    ]
    return and_(*conditions) if conditions else true()


def matches(indexed: str, groups: Iterable[Iterable[str]]) -> bool:
    """The same rule in Python (tests, and callers that already hold the row)."""
    return all(any(f" {t}" in indexed for t in group) for group in groups)


def fts5_token(stem: str) -> str:
    """One stem as an FTS5 string (matches that token exactly)."""
    return '"' + stem.replace('"', '""') + '"'


def fts5_query(terms: Iterable[str]) -> str:
    """An FTS5 MATCH expression: every term as a quoted prefix (``"коф"* "город"*``)."""
    return " ".join(fts5_token(t) + "*" for t in terms)


def _lexeme(term: str) -> str:
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def tsquery(groups: Iterable[Iterable[str]]) -> str:
    """A PostgreSQL tsquery literal: every term as one quoted lexeme, a group's alternatives
    OR-ed (``'коф' & ( 'taxi' | 'такс' )``), matched against the index of stem prefixes
    (marketplace/tables.py)."""
    parts = []
    for group in groups:
        lexemes = [_lexeme(t) for t in group]
        parts.append(lexemes[0] if len(lexemes) == 1 else "( " + " | ".join(lexemes) + " )")
    return " & ".join(parts)
