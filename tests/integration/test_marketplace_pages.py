"""Marketplace pages on SQLite and PostgreSQL: search, point of sale + mini-app host config,
buyer contact details in the signed cookie, special offers."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from marketbox import jsonutil
from marketbox.marketplace import service as marketplace_service
from marketbox.marketplace import session
from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.storage.db import Database
from marketbox.web.assets import ASSETS
from tests.conftest import TEST_PUBLIC_URL

CONFIG_RE = re.compile(
    r'<script type="application/json" id="pos-miniapp-config">(.*?)</script>', re.S
)


async def add_shop(db: Database, **fields: Any) -> dict[str, Any]:
    fields.setdefault("title", "Кофейни города")
    async with db.transaction() as conn:
        return await marketplace_service.create_point_of_sale(
            conn, merchant_id=DEMO_MERCHANT_ID, **fields
        )


def frame_config(page: httpx.Response) -> dict[str, Any] | None:
    match = CONFIG_RE.search(page.text)
    return jsonutil.loads(match.group(1)) if match else None


def text_of(page: httpx.Response) -> str:
    return html.unescape(page.text).replace("\u00a0", " ")


def card_ids(page: httpx.Response) -> list[int]:
    return [int(i) for i in re.findall(r'data-pos-card="(\d+)"', page.text)]


# --- home and search ----------------------------------------------------------------------------


async def test_search_finds_russian_word_forms(client: httpx.AsyncClient, db: Database) -> None:
    coffee = await add_shop(db, title="Кофейни города", registration_address="Невский пр., 1")
    taxi = await add_shop(db, title="Такси «Быстро»", description="Трансферы в аэропорт")
    lounge = await add_shop(db, title="Бизнес-залы Пулково")

    for query, expected in [
        ("кофейня", [coffee["id"]]),
        ("такси", [taxi["id"]]),
        ("бизнес-зал", [lounge["id"]]),
        ("аэропорта", [taxi["id"]]),
        ("невский", [coffee["id"]]),
    ]:
        page = await client.get("/", params={"q": query})
        assert page.status_code == 200
        assert card_ids(page) == expected, query
    page = await client.get("/", params={"q": "кофейня"})
    assert "Найдена 1 точка продаж" in text_of(page)
    assert 'value="кофейня"' in page.text


@pytest.mark.parametrize(
    ("count", "line"), [(3, "Найдено 3 точки продаж"), (5, "Найдено 5 точек продаж")]
)
async def test_result_count_uses_the_right_plural(
    client: httpx.AsyncClient, db: Database, count: int, line: str
) -> None:
    for i in range(count):
        await add_shop(db, title=f"Кофейня {i}")
    page = await client.get("/", params={"q": "кофейни"})
    assert line in text_of(page)


async def test_home_lists_active_points_of_sale_newest_first(
    client: httpx.AsyncClient, db: Database
) -> None:
    old = await add_shop(db, title="Старая")
    new = await add_shop(db, title="Новая")
    hidden = await add_shop(db, title="Закрытая", active=False)

    page = await client.get("/")
    assert card_ids(page) == [new["id"], old["id"]]
    assert hidden["id"] not in card_ids(page)
    assert "<h1" in page.text and 'role="search"' in page.text


async def test_empty_search_shows_the_empty_state(client: httpx.AsyncClient, db: Database) -> None:
    await add_shop(db)
    page = await client.get("/", params={"q": "дирижабль"})
    assert card_ids(page) == []
    assert "Ничего не нашлось" in page.text
    assert 'data-result-count="0"' in page.text


async def test_show_more_is_a_plain_page_link(client: httpx.AsyncClient, db: Database) -> None:
    async with db.transaction() as conn:
        for i in range(26):
            await marketplace_service.create_point_of_sale(
                conn, merchant_id=DEMO_MERCHANT_ID, title=f"Точка {i}"
            )
    first = await client.get("/")
    assert len(card_ids(first)) == 24
    assert 'href="/?page=2#r24"' in first.text

    second = await client.get("/", params={"page": 2})
    assert len(card_ids(second)) == 26
    assert 'id="r24"' in second.text
    assert "data-show-more" not in second.text


async def test_count_line_counts_up_to_100_then_says_more(
    client: httpx.AsyncClient, db: Database
) -> None:
    # The home page counts a bounded number of matches (marketplace/repository.py).
    async with db.transaction() as conn:
        for i in range(101):
            await marketplace_service.create_point_of_sale(
                conn, merchant_id=DEMO_MERCHANT_ID, title=f"Кофейня {i}"
            )
    await add_shop(db, title="Такси «Быстро»")

    many = await client.get("/", params={"q": "кофейни"})
    assert "Найдено точек продаж: более 100" in text_of(many)
    assert 'data-result-count="100+"' in many.text
    assert len(card_ids(many)) == 24 and "data-show-more" in many.text
    english = await client.get("/", params={"q": "кофейни", "lang": "en"})
    assert "Points of sale found: more than 100" in text_of(english)

    one = await client.get("/", params={"q": "такси", "lang": "ru"})
    assert "Найдена 1 точка продаж" in text_of(one)
    # Five pages shown (120 cards at most): the count goes as far as the cards do.
    deep = await client.get("/", params={"page": 5})
    assert "Найдено 102 точки продаж" in text_of(deep)
    assert len(card_ids(deep)) == 102 and "data-show-more" not in deep.text


async def test_language_from_query_is_remembered(client: httpx.AsyncClient, db: Database) -> None:
    await add_shop(db, title="Coffee")
    english = await client.get("/", params={"lang": "en"})
    assert '<html lang="en">' in english.text
    assert "1 point of sale found" in text_of(english)
    assert english.cookies.get("lang") == "en"

    again = await client.get("/")  # the client keeps the cookie
    assert '<html lang="en">' in again.text


# --- point of sale -----------------------------------------------------------------------------


async def test_point_of_sale_page_hosts_its_order_mini_app(
    client: httpx.AsyncClient, db: Database
) -> None:
    shop = await add_shop(
        db,
        title="Кофейни города",
        description="Кофе с собой",
        mini_app={
            "url": "https://coffee.example/app?city=spb",
            "origins": ["https://coffee.example", "https://cdn.coffee.example"],
            "modes": ["order", "suborder"],
        },
    )
    page = await client.get(f"/marketplace/shop/{shop['id']}")

    assert page.status_code == 200
    config = frame_config(page)
    assert config is not None
    # Signed with the point of sale's own secret (test_launch_secret.py checks the signature).
    assert config["initData"]["public"].pop("signedLaunchData").startswith("authDate=")
    assert config == {
        "url": "https://coffee.example/app?city=spb",
        "origins": ["https://coffee.example", "https://cdn.coffee.example"],
        "mode": "order",
        "fullHeight": True,
        "title": "Кофейни города",
        "locale": "ru",
        "paymentUrlPrefix": f"{TEST_PUBLIC_URL}/order/",
        "initData": {
            "public": {
                "shopId": shop["id"],
                "userEmail": "",
                "userName": "",
                "userPhone": "",
                "locale": "ru",
                "minappType": "order",
                "fullHeight": True,
            },
            "private": {"metaData": []},
        },
    }
    pos_page = ASSETS.url("/marketplace/static/pos-page.js")
    assert f'<script type="module" src="{pos_page}"></script>' in page.text
    assert "data-pos-miniapp" in page.text
    assert shop["token"] not in page.text
    # no inline scripts: every <script> is a module file or a JSON block
    for tag in re.findall(r"<script[^>]*>", page.text):
        assert 'type="application/json"' in tag or 'src="' in tag


async def test_success_url_on_the_mini_app_origin_opens_in_the_frame(
    client: httpx.AsyncClient, db: Database
) -> None:
    shop = await add_shop(db, mini_app={"url": "https://coffee.example/app"})
    path = f"/marketplace/shop/{shop['id']}"

    landing = await client.get(path, params={"path": "https://coffee.example/success?order=7"})
    assert frame_config(landing)["url"] == "https://coffee.example/success?order=7"  # type: ignore[index]
    for foreign in ("https://evil.example/success", "javascript:alert(1)", "/relative"):
        page = await client.get(path, params={"path": foreign})
        assert frame_config(page)["url"] == "https://coffee.example/app"  # type: ignore[index]


async def test_point_of_sale_without_order_app_shows_contacts(
    client: httpx.AsyncClient, db: Database
) -> None:
    offline = await add_shop(
        db,
        title="Кофейня у дома",
        type="offline",
        registration_address="ул. Садовая, 5",
        links=[{"title": "ВКонтакте", "url": "https://vk.example/coffee"}],
    )
    addon_only = await add_shop(
        db, title="Страховка", mini_app={"url": "https://ins.example/", "modes": ["suborder"]}
    )
    page = await client.get(f"/marketplace/shop/{offline['id']}")
    assert frame_config(page) is None
    assert "Адрес и контакты" in page.text
    assert "ул. Садовая, 5" in page.text
    assert 'href="https://vk.example/coffee"' in page.text
    assert "pos-page.js" not in page.text
    assert frame_config(await client.get(f"/marketplace/shop/{addon_only['id']}")) is None


async def test_unknown_or_inactive_point_of_sale_is_a_404_page(
    client: httpx.AsyncClient, db: Database
) -> None:
    inactive = await add_shop(db, active=False)
    for path in (
        "/marketplace/shop/999999",
        f"/marketplace/shop/{inactive['id']}",
        "/marketplace/shop/x",
    ):
        page = await client.get(path)
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")


async def test_markup_in_titles_cannot_break_out_of_the_config(
    client: httpx.AsyncClient, db: Database
) -> None:
    title = "</script><script>alert(1)"
    shop = await add_shop(db, title=title, mini_app={"url": "https://a.example/"})
    page = await client.get(f"/marketplace/shop/{shop['id']}")
    assert "<script>alert(1)" not in page.text
    assert frame_config(page)["title"] == title  # type: ignore[index]


# --- buyer contact details -------------------------------------------------------------------


async def test_saved_buyer_details_reach_the_init_data(
    client: httpx.AsyncClient, db: Database
) -> None:
    shop = await add_shop(db, mini_app={"url": "https://coffee.example/app"})
    pos_path = f"/marketplace/shop/{shop['id']}"
    saved = await client.post(
        "/marketplace/buyer",
        data={
            "name": "Анна Смирнова",
            "email": "anna@example.org",
            "phone": "8 (900) 555-66-77",
            "next": pos_path,
        },
        headers={"Origin": TEST_PUBLIC_URL},
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == pos_path
    cookie = saved.cookies.get(session.COOKIE_NAME)
    assert cookie and "anna" not in cookie.lower()  # encoded and signed, not plain

    page = await client.get(pos_path, params={"lang": "en"})
    public = frame_config(page)["initData"]["public"]  # type: ignore[index]
    assert public["userName"] == "Анна Смирнова"
    assert public["userEmail"] == "anna@example.org"
    assert public["userPhone"] == "+79005556677"
    assert public["locale"] == "en"
    assert "data-buyer-summary" in page.text

    form = await client.get("/marketplace/buyer")
    assert 'value="anna@example.org"' in form.text


async def test_a_tampered_buyer_cookie_is_ignored(client: httpx.AsyncClient, db: Database) -> None:
    shop = await add_shop(db, mini_app={"url": "https://coffee.example/app"})
    forged = session.encode(session.Buyer(name="Мэллори"), secret="not-ours", now=1e10)
    client.cookies.set(session.COOKIE_NAME, forged)
    page = await client.get(f"/marketplace/shop/{shop['id']}")
    assert frame_config(page)["initData"]["public"]["userName"] == ""  # type: ignore[index]


async def test_invalid_buyer_details_are_shown_again_with_errors(
    client: httpx.AsyncClient,
) -> None:
    page = await client.post(
        "/marketplace/buyer", data={"name": "Анна", "email": "anna@", "phone": "12", "next": "/"}
    )
    assert page.status_code == 422
    assert "Проверьте адрес почты" in page.text
    assert "Проверьте номер телефона" in page.text
    assert 'aria-invalid="true"' in page.text
    assert session.COOKIE_NAME not in page.cookies


async def test_buyer_form_refuses_other_sites_and_foreign_redirects(
    client: httpx.AsyncClient,
) -> None:
    cross_site = await client.post(
        "/marketplace/buyer", data={"name": "x"}, headers={"Origin": "https://evil.example"}
    )
    assert cross_site.status_code == 403

    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        saved = await client.post("/marketplace/buyer", data={"name": "x", "next": target})
        assert saved.status_code == 303
        assert saved.headers["location"] == "/"


async def test_buyer_details_can_be_removed(client: httpx.AsyncClient) -> None:
    await client.post("/marketplace/buyer", data={"name": "Анна", "next": "/"})
    assert client.cookies.get(session.COOKIE_NAME)
    removed = await client.post("/marketplace/buyer", data={"forget": "1", "next": "/"})
    assert removed.status_code == 303
    assert not client.cookies.get(session.COOKIE_NAME)


# --- special offers --------------------------------------------------------------------------


async def test_offers_page_and_home_strip_show_running_offers(
    client: httpx.AsyncClient, db: Database
) -> None:
    shop = await add_shop(db, title="Кофейни города")
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        for external_id, active, start, finish in [
            ("running", True, now - timedelta(days=1), now + timedelta(days=3)),
            ("paused", False, now - timedelta(days=1), now + timedelta(days=3)),
            ("future", True, now + timedelta(days=1), now + timedelta(days=3)),
            ("over", True, now - timedelta(days=3), now - timedelta(days=1)),
        ]:
            await marketplace_service.upsert_special_offer(
                conn,
                merchant_id=DEMO_MERCHANT_ID,
                external_id=external_id,
                active=active,
                start_at=start,
                finish_at=finish,
                name=f"Акция {external_id}",
                description="Второй кофе в подарок",
                tags=["кофе"],
                shop_id=shop["id"],
            )

    offers = await client.get("/marketplace/offers")
    assert offers.status_code == 200
    assert "Акция running" in offers.text
    for hidden in ("Акция paused", "Акция future", "Акция over"):
        assert hidden not in offers.text
    assert f'href="/marketplace/shop/{shop["id"]}"' in offers.text
    assert 'data-offer-count="1"' in offers.text

    home = await client.get("/")
    assert "Специальные предложения" in home.text and "Акция running" in home.text
    searched = await client.get("/", params={"q": "кофейня"})
    assert "Акция running" not in searched.text


async def test_offers_page_empty_state(client: httpx.AsyncClient) -> None:
    page = await client.get("/marketplace/offers")
    assert 'data-offer-count="0"' in page.text


async def test_page_module_is_served_and_uses_the_bridge(client: httpx.AsyncClient) -> None:
    script = await client.get("/marketplace/static/pos-page.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    # The import names the bridge's content-hashed URL (web/assets.py).
    bridge_url = ASSETS.url("/static/miniapp/bridge.js")
    assert f"from '{bridge_url}'" in script.text
    bridge = await client.get(bridge_url)
    assert bridge.status_code == 200 and "export function openMiniApp" in bridge.text
    assert (await client.get("/marketplace/static/../views.py")).status_code == 404
