"""Stem search over points of sale (marketplace/search.py): Russian word forms, ё, prefixes."""

from __future__ import annotations

import pytest

from marketbox.marketplace import search


def found(document: str, query: str) -> bool:
    return search.matches(search.index_text([document]), search.query_terms(query))


@pytest.mark.parametrize(
    ("document", "query"),
    [
        ("Кофейни города", "кофейня"),
        ("Кофейня на углу", "кофейни"),
        ("Такси до аэропорта", "такси"),
        ("Бизнес-залы Шереметьево", "бизнес-зал"),
        ("Бизнес-зал", "бизнес-залы"),
        ("Трансфер в аэропорт Шереметьева", "аэропорта шереметьево"),
        ("Ёлочные игрушки", "елочные"),
        ("Елочные игрушки", "ёлочная"),
        ("КОФЕЙНЯ", "Кофейня"),
        ("Coffee shops of the city", "shop"),
        ("Пиццерия «Маргарита»", "пиццерии"),
        ("Кофейни города", "коф"),  # a half-typed word still finds it (prefix on stems)
        ("Магазин №42", "42"),
        # Forgiving queries (issue 10, item 10).
        ("Бизнес-зал Sky Lounge", "бизнесзал"),  # the hyphen left out
        ("Бизнес-залы", "бизнесзалы"),
        ("Бизнес-зал", "бизнесзалы"),
        ("Такси в аэропорт", "taxi"),  # transliterated
        ("Кофейня «Взлёт»", "kofeynya"),
        ("Шоколадница", "shokolad"),
        ("Такси в аэропорт", "nfrcb"),  # typed on the Latin layout
        ("Бизнес-зал", ",bpytc"),
        ("Такси в аэропорт SVO VKO", "svo"),  # the airports of the add-on rule
        ("Такси в аэропорт SVO VKO", "такси SVO"),
    ],
)
def test_query_matches_word_forms(document: str, query: str) -> None:
    assert found(document, query)


@pytest.mark.parametrize(
    ("document", "query"),
    [
        ("Кофейни города", "такси"),
        ("Кофейни города", "кофейня аэропорт"),  # every term must match
        ("Кофе с собой", "кофейня"),  # the query stem is longer than the stored one
        ("Бизнес-залы", "зал бизнес класс"),
        ("Бизнес зал", "бизнесзал"),  # only a hyphenated word is also stored joined
        ("Такси в аэропорт SVO", "taxi VKO"),
        ("Кофейня", "nfrcb"),
    ],
)
def test_query_does_not_match(document: str, query: str) -> None:
    assert not found(document, query)


def test_index_text_is_padded_distinct_stems() -> None:
    assert search.index_text(["Кофейни, кофейня!", None, "Кофейню"]) == " кофейн "
    assert search.index_text([None, ""]) == " "


def test_tokens_split_on_hyphens_and_underscores() -> None:
    assert search.tokens("Бизнес-залы_VIP 2") == ["бизнес", "залы", "vip", "2"]


def test_blank_query_has_no_terms_and_matches_everything() -> None:
    assert search.query_terms("  ,. ") == []
    assert search.matches(" кофейн ", [])


def test_query_terms_are_capped() -> None:
    words = " ".join(f"слово{i}" for i in range(30))
    assert len(search.query_terms(words)) == search.MAX_QUERY_TERMS


def test_like_wildcards_in_terms_are_escaped() -> None:
    from sqlalchemy import column

    clause = search.match_clause(column("search_text"), [["50%"]])
    compiled = clause.compile(compile_kwargs={"literal_binds": True})
    assert "50\\%" in str(compiled)


def test_stems_are_cut_at_the_lexeme_limit() -> None:
    # PostgreSQL's lexemes are at most 2047 bytes; a 2000-letter "word" must still save.
    (stem,) = search.stems("я" * 2000)
    assert stem == "я" * search.MAX_STEM_CHARS
    assert search.query_terms("я" * 150) == [("я" * search.MAX_STEM_CHARS,)]


def test_index_queries_quote_every_term_as_one_token() -> None:
    assert search.fts5_query(["коф", 'a"b']) == '"коф"* "a""b"*'
    assert search.fts5_token("кофейн") == '"кофейн"'
    assert search.tsquery([["коф"], ["o'k"], ["a\\b"]]) == "'коф' & 'o''k' & 'a\\\\b'"
    assert search.tsquery([["taxi", "такс"], ["коф"]]) == "( 'taxi' | 'такс' ) & 'коф'"


def test_a_latin_word_also_stands_for_its_cyrillic_readings() -> None:
    assert search.query_terms("Taxi") == [("taxi", "такс", "ефчш")]
    assert search.query_terms("nfrcb") == [("nfrcb", "нфркб", "такс")]
    assert search.query_terms("такси 42") == [("такс",), ("42",)]  # no readings to add


def test_hyphenated_words_are_also_stored_joined() -> None:
    assert search.index_text(["Бизнес-залы"]) == " бизнес зал бизнесзал "
    assert search.transliterate("shchi i zhuk") == "щи и жук"
    assert search.from_latin_layout("ghbdtn") == "привет"


def test_rare_queries_are_remembered_briefly_and_boundedly(monkeypatch: pytest.MonkeyPatch) -> None:
    from marketbox.marketplace import repository

    now = [100.0]
    monkeypatch.setattr(repository.time, "monotonic", lambda: now[0])
    rare = repository._RareQueries(size=2, ttl=60)
    a, b, c = (("a",),), (("b",),), (("c",),)
    rare.add(a)
    rare.add(b)
    assert b in rare and a in rare  # a looked at last
    rare.add(c)  # the least recently used (b: a was just looked at) goes
    assert b not in rare and a in rare and c in rare
    now[0] += 61  # forgotten: a word that became common is walked again
    assert a not in rare and c not in rare
