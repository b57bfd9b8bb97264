"""A synthetic catalogue of points of sale and the searches people run on it (bench `search`).

Titles, descriptions and addresses are drawn from small Russian and English vocabularies with a
fixed seed, so a run is repeatable and the word frequencies are lopsided the way a real
catalogue's are: a city or «доставка» is in a large share of the rows, a given café name in few.
Rows go in with one bulk INSERT per batch (untimed), the search column computed exactly as the
service computes it (marketplace/search.py); the database's own triggers or index follow.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text

from marketbox.marketplace import search
from marketbox.marketplace.tables import points_of_sale
from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.storage.db import Database

KINDS = [
    "Кофейня",
    "Пекарня",
    "Пиццерия",
    "Цветочный магазин",
    "Книжный магазин",
    "Барбершоп",
    "Салон красоты",
    "Химчистка",
    "Ремонт обуви",
    "Ремонт телефонов",
    "Автомойка",
    "Шиномонтаж",
    "Фитнес-клуб",
    "Йога-студия",
    "Детский центр",
    "Зоомагазин",
    "Ветклиника",
    "Аптека",
    "Стоматология",
    "Суши-бар",
    "Бургерная",
    "Чайная",
    "Кондитерская",
    "Мясная лавка",
    "Фермерский магазин",
    "Магазин одежды",
    "Обувной магазин",
    "Ювелирная мастерская",
    "Фотостудия",
    "Типография",
    "Такси",
    "Трансфер в аэропорт",
    "Бизнес-зал",
    "Хостел",
    "Гостиница",
    "Прокат велосипедов",
    "Музыкальная школа",
    "Языковая школа",
    "Coffee shop",
    "Bakery",
    "Flower shop",
    "Barbershop",
    "Bike rental",
    "Sushi bar",
    "Tea house",
    "Ёлочный базар",
]
NAMES = [
    "Бодрое утро",
    "Север",
    "Уют",
    "Ромашка",
    "Лето",
    "Зерно",
    "Маяк",
    "Гавань",
    "Спутник",
    "Фея",
    "Берёзка",
    "Ёжик",
    "Клевер",
    "Атлас",
    "Вереск",
    "Пчёлка",
    "Мята",
    "Корица",
    "Орбита",
    "Парус",
    "Вершина",
    "Old Town",
    "Green Line",
    "Blue Door",
    "Sunrise",
    "Maple",
    "Ника",
    "Дом",
    "Сова",
    "Янтарь",
    "Малина",
    "Облако",
    "Рассвет",
    "Причал",
    "Камея",
]
DESCRIPTIONS = [
    "Доставка по городу в день заказа",
    "Самовывоз и доставка, оплата онлайн",
    "Работаем без выходных с 8 до 22",
    "Скидки постоянным покупателям",
    "Свежая выпечка каждое утро",
    "Кофе с собой и десерты",
    "Подарочные сертификаты и упаковка",
    "Запись онлайн, опытные мастера",
    "Бесплатная парковка для клиентов",
    "Free delivery across the city",
    "Open daily, card and online payments",
    "Букеты и композиции на заказ",
    "Ремонт за один день с гарантией",
    "Детская комната и меню для детей",
    "Бизнес-ланчи по будням",
]
CITIES = [
    "Москва",
    "Москва",
    "Москва",
    "Санкт-Петербург",
    "Санкт-Петербург",
    "Казань",
    "Новосибирск",
    "Екатеринбург",
    "Нижний Новгород",
    "Самара",
    "Ростов-на-Дону",
    "Калининград",
    "Сочи",
    "Пермь",
    "Воронеж",
    "Тюмень",
    "Королёв",
    "Химки",
]
STREETS = [
    "ул. Ленина",
    "ул. Мира",
    "пр. Победы",
    "ул. Садовая",
    "ул. Советская",
    "Невский пр.",
    "ул. Гагарина",
    "ул. Пушкина",
    "наб. реки Фонтанки",
    "ул. Баумана",
    "Тверская ул.",
    "ул. Щорса",
    "Арбат",
    "ул. Берёзовая",
    "ш. Энтузиастов",
    "ул. Новая",
    "пер. Огородный",
]

# What people type into the search box: whole words in any form, half-typed words, two-word
# queries, ё and е, hyphens, English, and queries that find nothing.
QUERIES = [
    "кофейня",
    "кофейни",
    "коф",
    "пицца",
    "пиццерия",
    "суши",
    "цветы",
    "цветочный",
    "букет",
    "ремонт обуви",
    "ремонт телефонов",
    "химчистка",
    "барбершоп",
    "салон красоты",
    "аптека",
    "доставка",
    "доставка цветов",
    "москва кофейня",
    "петербург пекарня",
    "казань",
    "такси",
    "трансфер аэропорт",
    "бизнес-зал",
    "бизнес-залы",
    "ёлочный",
    "елочный базар",
    "берёзка",
    "пчелка",
    "coffee",
    "coffee shop",
    "bakery",
    "flower",
    "bike",
    # Forgiving readings (issue 10, item 10): Latin letters and layout, no hyphen, a code.
    "taxi",
    "nfrcb",
    "бизнесзал",
    "SVO",
    "ромашка",
    "север",
    "уют",
    "маяк",
    "парус",
    "ювелир",
    "фотостудия",
    "йога",
    "фитнес",
    "зоомагазин",
    "ветклиника",
    "чай",
    "кондитерская",
    "мясная лавка",
    "фермерский",
    "книги",
    "книжный",
    "обувь",
    "детский центр",
    "школа",
    "языковая школа",
    "хостел",
    "гостиница сочи",
    "прокат",
    "выпечка",
    "скидки",
    "ленина",
    "невский",
    "тверская",
    "самара аптека",
    "пекарня зерно",
    "автомойка химки",
    "шиномонтаж",
    "стоматология",
    "бургер",
    "lorem",
    "абракадабра",
    "42",
    "сушибар",
    "кофейня бодрое утро",
    "гав",
    "пек",
    "ре",
]


def _rows(count: int, *, seed: int = 8) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(count):
        kind = rng.choice(KINDS)
        title = f"{kind} «{rng.choice(NAMES)}»"[:50]
        description = ". ".join(rng.sample(DESCRIPTIONS, rng.randint(1, 3)))
        address = f"г. {rng.choice(CITIES)}, {rng.choice(STREETS)}, д. {rng.randint(1, 150)}"
        created = start + timedelta(minutes=i)
        yield {
            "merchant_id": DEMO_MERCHANT_ID,
            "title": title,
            "description": description,
            "type": "offline" if rng.random() < 0.2 else "shop",
            "alias": f"b{i}-{secrets.token_hex(3)}",
            "token": secrets.token_hex(16),
            "registration_address": address,
            "active": rng.random() >= 0.03,
            "offers_addon": False,
            "addon_status": "none",
            "search_text": search.index_text([title, description, address]),
            "created_at": created,
            "updated_at": created,
        }


async def seed_points_of_sale(url: str, count: int, *, batch: int = 2000) -> None:
    """`count` points of sale of the demo merchant (seeded before), in bulk; on PostgreSQL then
    the statistics and GIN upkeep autovacuum would have done by the time anyone searches."""
    db = Database(url)
    try:
        async with db.transaction() as conn:
            rows = _rows(count)
            while chunk := [row for _, row in zip(range(batch), rows, strict=False)]:
                await conn.execute(insert(points_of_sale), chunk)
        if db.engine.dialect.name == "postgresql":
            async with db.engine.connect() as conn:
                autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.execute(text("VACUUM ANALYZE points_of_sale"))
    finally:
        await db.dispose()
