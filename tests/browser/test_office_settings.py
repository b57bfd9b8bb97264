"""The office's settings and points of sale in headless Chromium (live uvicorn, SQLite), at
1280x800 and 390x844: the demo user rotates the API token with a 1 h overlap behind the
password and sees the new token once; the old token still authenticates an API call during
the overlap; the sandbox clock moved 2 h forward ends it (401) and the settings no longer show
a previous token. Nothing scrolls sideways at 390 px.

Set MARKETBOX_SCREENSHOT_DIR to keep screenshots of both pages at both sizes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from marketbox.merchants.service import DEMO_TOKEN
from marketbox.office.service import DEMO_EMAIL, DEMO_PASSWORD
from tests.browser.bridge_support import BROWSER_MARKS
from tests.browser.test_payment_page import screenshot
from tests.support.live_server import live_server

pytestmark = BROWSER_MARKS

TIMEOUT_MS = 10_000
SIZES = ((1280, 800), (390, 844))


@pytest.fixture
def server(sqlite_url: str) -> Iterator[str]:
    with live_server(sqlite_url) as base_url:
        yield base_url


def auth_status(server: str, token: str) -> int:
    answer = httpx.get(
        f"{server}/v3/security/api/auth/auth", headers={"Authorization": f"Bearer {token}"}
    )
    return answer.status_code


def fits(page: Page, width: int) -> None:
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width


@pytest.mark.parametrize(("width", "height"), SIZES, ids=["1280", "390"])
def test_rotate_the_token_with_an_overlap_that_the_clock_ends(
    server: str, browser: Browser, width: int, height: int
) -> None:
    shop = httpx.post(
        f"{server}/v3/marketplace/api/shop",
        json={
            "title": "Такси «Быстрое»",
            "miniApp": {"url": "https://taxi.example/app", "modes": ["suborder"]},
        },
        headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
    )
    assert shop.status_code == 200, shop.text
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{server}/office/login?next=/office/points-of-sale")
    page.fill('input[name="email"]', DEMO_EMAIL)
    page.fill('input[name="password"]', DEMO_PASSWORD)
    page.get_by_role("button", name="Войти").click()
    page.wait_for_url(f"{server}/office/points-of-sale")

    row = page.locator(f'[data-pos="{shop.json()["data"]["id"]}"]')
    expect(row).to_contain_text("https://taxi.example/app")
    expect(row.get_by_role("link", name="Такси «Быстрое»")).to_have_attribute(
        "href", f"/marketplace/shop/{shop.json()['data']['id']}"
    )
    fits(page, width)
    screenshot(page, f"office-points-of-sale-{width}.png")

    page.get_by_role("link", name="Настройки").click()
    page.wait_for_url(f"{server}/office/settings")
    expect(page.locator("[data-previous]")).to_have_count(0)
    fits(page, width)
    screenshot(page, f"office-settings-{width}.png")

    page.get_by_role("checkbox", name="API-токен").check()
    page.get_by_label("Прежний продолжит работать").select_option("3600")
    page.get_by_label("Ваш пароль").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Выпустить новый").click()
    secret = page.locator('[data-new-secret="token"]')
    expect(secret).to_be_visible()
    new_token = secret.inner_text().strip()
    assert len(new_token) >= 16 and new_token != DEMO_TOKEN
    expect(page.locator('[data-new-secret="signingKey"]')).to_have_count(0)
    fits(page, width)
    screenshot(page, f"office-settings-rotated-{width}.png")

    assert auth_status(server, new_token) == 200
    assert auth_status(server, DEMO_TOKEN) == 200  # the overlap
    page.goto(f"{server}/office/settings")
    expect(page.locator('[data-credential="token"] [data-previous]')).to_be_visible()
    assert new_token not in page.content()  # shown once
    screenshot(page, f"office-settings-overlap-{width}.png")

    moved = httpx.post(
        f"{server}/v3/sandbox/api/clock",
        json={"advance": "2h"},
        headers={"Authorization": f"Bearer {new_token}"},
    )
    assert moved.status_code == 200, moved.text
    assert auth_status(server, DEMO_TOKEN) == 401
    assert auth_status(server, new_token) == 200
    page.reload()
    expect(page.locator("[data-previous]")).to_have_count(0)
    fits(page, width)
    page.close()
    # The clock's offset is also cached in this process: back to the real time for the next test.
    reset = httpx.post(
        f"{server}/v3/sandbox/api/clock/reset", headers={"Authorization": f"Bearer {new_token}"}
    )
    assert reset.status_code == 200, reset.text
