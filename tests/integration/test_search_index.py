"""The marketplace search index answers exactly the stem-prefix rule, on SQLite and PostgreSQL.

A few hundred points of sale from a fixed-seed generator; every query's ids (in order, paged)
and bounded count must equal the rule evaluated in Python over all rows, newest first — and
the plain LIKE rule in SQL (what the search did before the index). The data and ids are the
same on both databases, so both answer identically. Edits, deactivation and deletion must be
followed by the index in the same transaction.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import delete, select

from marketbox.marketplace import repository, schemas, search
from marketbox.marketplace import service as marketplace_service
from marketbox.marketplace.tables import points_of_sale
from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.storage.db import Database

KINDS = [
    "Кофейня",
    "Кофейни",
    "Пекарня",
    "Бизнес-зал",
    "Бизнес-залы",
    "Ёлочный базар",
    "Елочные игрушки",
    "Coffee shop",
    "Coffee shops",
    "Такси",
    "Трансфер в аэропорт",
    "Цветы",
    "Ремонт обуви",
    "Магазин №42",
]
NAMES = ["Север", "Берёзка", "Ёжик", "Маяк", "Old Town", "Sunrise", "Кофе-тайм", "Пчёлка"]
CITIES = ["Москва", "Санкт-Петербург", "Казань", "Королёв", "Ростов-на-Дону"]
DESCRIPTIONS = [
    None,
    "Доставка по городу",
    "Кофе с собой и выпечка",
    "Free delivery, coffee to go",
    "Работаем с 8 до 22",
]
QUERIES = [
    "кофейня",
    "кофейни",
    "коф",  # a prefix of several stems
    "к",  # one letter: many stems
    "москва кофейня",  # every term
    "ёлочный",
    "елочные",
    "берёзка",
    "березка",
    "бизнес-зал",  # hyphenated
    "бизнес-залы",
    "зал бизнес",
    "coffee shop",  # English
    "shops",
    "deliveri",
    "42",
    "ростов-на-дону",
    "такси аэропорт",
    "бизнесзал",  # the hyphen left out
    "taxi",  # transliterated: «такси»
    "nfrcb",  # typed on the Latin layout: «такси»
    "taxi ,bpytc",  # both kinds of readings, every word
    "coffee kofe",  # a Latin word that is English and Russian at once
    "svo",  # an airport of the add-on rule
    "абракадабра",  # nothing
    "",  # the home page
]


AIRPORTS = [None, ["SVO"], ["SVO", "VKO"], ["LED"]]


def _fields(rng: random.Random) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "title": f"{rng.choice(KINDS)} «{rng.choice(NAMES)}»",
        "description": rng.choice(DESCRIPTIONS),
        "registration_address": f"г. {rng.choice(CITIES)}, ул. Мира, {rng.randint(1, 60)}",
        "active": rng.random() > 0.1,
    }
    airports = rng.choice(AIRPORTS)
    if airports:
        fields["mini_app"] = {
            "url": "https://shop.example/app",
            "modes": ["suborder"],
            "addonRule": {"any": [{"key": "iataCode", "values": airports}]},
        }
    return fields


@pytest.fixture
async def catalogue(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    rng = random.Random(4)
    async with db.transaction() as conn:
        await merchants_service.seed_demo_merchant(conn)
        for _ in range(300):
            await marketplace_service.create_point_of_sale(
                conn, merchant_id=DEMO_MERCHANT_ID, **_fields(rng)
            )
    yield db
    await db.dispose()


async def expected(db: Database, query: str) -> list[int]:
    """Ids the rule picks, newest first, evaluated in Python over every row."""
    terms = search.query_terms(query)
    async with db.transaction() as conn:
        rows = (
            await conn.execute(
                select(points_of_sale.c.id, points_of_sale.c.search_text)
                .where(points_of_sale.c.active.is_(True))
                .order_by(points_of_sale.c.id.desc())
            )
        ).all()
    return [r.id for r in rows if search.matches(r.search_text, terms)]


async def like_rule(db: Database, query: str) -> list[int]:
    """The same rule as plain LIKEs in SQL (the search before it had an index)."""
    terms = search.query_terms(query)
    async with db.transaction() as conn:
        found = await conn.execute(
            select(points_of_sale.c.id)
            .where(
                points_of_sale.c.active.is_(True),
                search.match_clause(points_of_sale.c.search_text, terms),
            )
            .order_by(points_of_sale.c.id.desc())
        )
        return list(found.scalars())


async def searched(
    db: Database, query: str, *, limit: int, offset: int = 0, count_limit: int = 100
) -> tuple[list[int], int]:
    async with db.statement() as conn:
        items, total = await marketplace_service.search_points_of_sale(
            conn, text=query, limit=limit, offset=offset, count_limit=count_limit
        )
    return [i.id for i in items], total


async def assert_same_as_rule(db: Database, query: str) -> None:
    want = await expected(db, query)
    assert await like_rule(db, query) == want, query
    for limit, offset, count_limit in [(24, 0, 100), (24, 24, 1000), (5, 0, 3), (10, 290, 100)]:
        ids, total = await searched(db, query, limit=limit, offset=offset, count_limit=count_limit)
        assert ids == want[offset : offset + limit], (query, limit, offset)
        assert total == min(len(want), count_limit + 1), (query, count_limit)


# The defaults, then tight limits so the other paths run on a few hundred rows too: the
# recent-rows walk misses (PostgreSQL asks its GIN index) and terms with more than two stored
# stems stay FTS5 prefix queries (SQLite).
@pytest.fixture(params=["default", "tight"])
def index_paths(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    # A query found rare goes straight to the index next time (PostgreSQL): start afresh, and
    # every query below runs both ways (the first search of a query fills the memory).
    monkeypatch.setattr(repository, "rare_queries", repository._RareQueries(size=64, ttl=60))
    if request.param == "tight":
        monkeypatch.setattr(repository, "RECENT_WINDOW", 30)
        monkeypatch.setattr(repository, "MAX_EXPANSION", 2)
    return str(request.param)


async def test_index_answers_every_query_as_the_rule(catalogue: Database, index_paths: str) -> None:
    for query in QUERIES:
        await assert_same_as_rule(catalogue, query)
    # The data is not trivial: the queries find different, non-empty sets.
    assert len(await expected(catalogue, "кофейня")) > 30
    assert 0 < len(await expected(catalogue, "москва кофейня")) < 30
    assert await expected(catalogue, "абракадабра") == []
    # The forgiving readings find what the plain words find.
    assert await expected(catalogue, "taxi") == await expected(catalogue, "такси") != []
    assert await expected(catalogue, "nfrcb") == await expected(catalogue, "такси")
    assert await expected(catalogue, "бизнесзал") == await expected(catalogue, "бизнес-зал") != []
    assert len(await expected(catalogue, "svo")) > 30


async def update(db: Database, shop_id: int, **payload: Any) -> None:
    async with db.transaction() as conn:
        await marketplace_service.update_point_of_sale(
            conn,
            merchant_id=DEMO_MERCHANT_ID,
            shop_id=shop_id,
            request=schemas.validate(schemas.UpdateShopRequest, payload),
            auto_approve_addons=True,
        )


async def test_index_follows_edits_deactivation_and_deletion(catalogue: Database) -> None:
    (newest, *_) = await expected(catalogue, "")
    await update(catalogue, newest, title="Зоомагазин «Шарик»", description="Корма")
    assert (await searched(catalogue, "зоомагазин", limit=24))[0] == [newest]
    assert (await searched(catalogue, "корм", limit=24))[0] == [newest]

    await update(catalogue, newest, title="Ветклиника «Шарик»", description=None)
    assert (await searched(catalogue, "зоомагазин", limit=24)) == ([], 0)
    assert (await searched(catalogue, "ветклиника шарик", limit=24))[0] == [newest]

    await update(catalogue, newest, active=False)
    assert (await searched(catalogue, "ветклиника", limit=24)) == ([], 0)
    assert newest not in (await searched(catalogue, "", limit=24))[0]
    await update(catalogue, newest, active=True)
    assert (await searched(catalogue, "ветклиника", limit=24))[0] == [newest]

    async with catalogue.transaction() as conn:
        await conn.execute(delete(points_of_sale).where(points_of_sale.c.id == newest))
    assert (await searched(catalogue, "ветклиника", limit=24)) == ([], 0)
    for query in ["кофейня", "москва кофейня", "к", ""]:
        await assert_same_as_rule(catalogue, query)
