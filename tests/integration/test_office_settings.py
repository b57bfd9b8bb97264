"""The office's settings and points-of-sale pages (docs/office.md "Settings", "Points of
sale") over HTTP on SQLite and PostgreSQL: notification settings validated as the API does,
the notices e-mail, a rotation behind the password shown once with an overlap, retiring the
previous credential, CSRF, and the merchant's own points of sale only."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import DEMO_MERCHANT_ID, DEMO_TOKEN
from marketbox.storage.db import Database
from tests.conftest import body, read
from tests.support.office import PASSWORD, csrf_of, log_in, office_user

EMAIL = "owner@shop.test"
CREDENTIALS = "/v3/security/api/credentials"
AUTH = "/v3/security/api/auth/auth"
SHOPS = "/v3/marketplace/api/shop"
_SECRET_RE = re.compile(r'data-new-secret="(\w+)">(\w+)<')


async def logged_in(client: httpx.AsyncClient, db: Database) -> str:
    """The demo shop's office user logged in; the settings page's CSRF token."""
    await office_user(db, DEMO_MERCHANT_ID, EMAIL)
    assert (await log_in(client, EMAIL)).status_code == 303
    page = await client.get("/office/settings")
    assert page.status_code == 200
    return csrf_of(page.text)


async def credentials(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    answer = await client.get(CREDENTIALS, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return dict(read(answer)["data"])


async def status_with(client: httpx.AsyncClient, token: str) -> int:
    return (await client.get(AUTH, headers={"Authorization": f"Bearer {token}"})).status_code


async def test_the_settings_page_needs_a_session(client: httpx.AsyncClient) -> None:
    for path in ("/office/settings", "/office/points-of-sale"):
        answer = await client.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/office/login?next=")


async def test_notification_settings_are_checked_as_the_api_checks_them(
    client: httpx.AsyncClient, db: Database
) -> None:
    csrf = await logged_in(client, db)
    before = await credentials(client, DEMO_TOKEN)

    saved = await client.post(
        "/office/settings/notification",
        data={"csrf": csrf, "notification_url": "https://shop.test/hook", "algorithm": "sha256"},
    )
    bad = await client.post(
        "/office/settings/notification",
        data={"csrf": csrf, "notification_url": "not a url", "algorithm": "sha1"},
    )
    bad_algorithm = await client.post(
        "/office/settings/notification",
        data={"csrf": csrf, "notification_url": "https://x.test/", "algorithm": "crc32"},
    )

    assert saved.status_code == 303
    assert saved.headers["location"] == "/office/settings?done=notification"
    assert bad.status_code == bad_algorithm.status_code == 422
    assert "Адрес уведомлений не принят" in bad.text
    assert 'value="not a url"' in bad.text  # the refused value is shown again to be fixed
    after = await credentials(client, DEMO_TOKEN)
    assert after["notification"] == {
        "notificationUrl": "https://shop.test/hook",
        "signatureAlgorithm": "sha256",
        "shippingControl": False,
        "shippingControlTimeoutSeconds": 20,
    }
    assert before["notification"] != after["notification"]
    page = await client.get("/office/settings?done=notification")
    assert 'value="https://shop.test/hook"' in page.text
    assert "Настройки уведомлений сохранены" in page.text


async def test_shipping_control_is_switched_on_and_off_with_a_bounded_limit(
    client: httpx.AsyncClient, db: Database
) -> None:
    csrf = await logged_in(client, db)
    form = {"csrf": csrf, "notification_url": "https://shop.test/hook", "algorithm": "sha1"}
    page = await client.get("/office/settings")
    assert "Контроль отгрузки на платёжной странице" in page.text
    assert 'name="shipping_control" value="on">' in page.text  # off by default

    on = await client.post(
        "/office/settings/notification",
        data={**form, "shipping_control": "on", "shipping_control_timeout": "8"},
    )
    too_long = await client.post(
        "/office/settings/notification",
        data={**form, "shipping_control": "on", "shipping_control_timeout": "21"},
    )

    assert on.status_code == 303
    assert too_long.status_code == 422
    assert "от 1 до 20" in too_long.text
    assert 'value="21"' in too_long.text  # shown again to be fixed
    after = (await credentials(client, DEMO_TOKEN))["notification"]
    assert (after["shippingControl"], after["shippingControlTimeoutSeconds"]) == (True, 8)
    page = await client.get("/office/settings")
    assert 'name="shipping_control" value="on" checked>' in page.text
    off = await client.post("/office/settings/notification", data=form)  # the box unticked
    assert off.status_code == 303
    after = (await credentials(client, DEMO_TOKEN))["notification"]
    assert (after["shippingControl"], after["shippingControlTimeoutSeconds"]) == (False, 8)


async def test_the_notices_email_is_set_and_cleared(
    client: httpx.AsyncClient, db: Database
) -> None:
    csrf = await logged_in(client, db)

    saved = await client.post("/office/settings/email", data={"csrf": csrf, "email": "a@b.ru "})
    bad = await client.post("/office/settings/email", data={"csrf": csrf, "email": "nope"})

    assert saved.status_code == 303 and bad.status_code == 422
    async with db.read() as conn:
        assert await merchants_service.get_notification_email(conn, DEMO_MERCHANT_ID) == "a@b.ru"
    cleared = await client.post("/office/settings/email", data={"csrf": csrf, "email": ""})
    assert cleared.status_code == 303
    async with db.read() as conn:
        assert await merchants_service.get_notification_email(conn, DEMO_MERCHANT_ID) is None


async def test_a_rotation_needs_the_password_and_shows_the_secret_once(
    client: httpx.AsyncClient, db: Database
) -> None:
    csrf = await logged_in(client, db)
    form = {"csrf": csrf, "credential": "token", "overlap": "3600"}

    wrong = await client.post("/office/settings/rotate", data={**form, "password": "guess"})
    forged = await client.post(
        "/office/settings/rotate", data={**form, "csrf": "forged", "password": "x"}
    )
    assert wrong.status_code == 422 and "Неверный пароль" in wrong.text
    assert forged.status_code == 403
    assert (await credentials(client, DEMO_TOKEN))["token"]["previous"] is None

    rotated = await client.post("/office/settings/rotate", data={**form, "password": PASSWORD})

    assert rotated.status_code == 200
    assert rotated.headers["cache-control"] == "no-store"
    secrets = dict(_SECRET_RE.findall(rotated.text))
    assert list(secrets) == ["token"]
    new_token = secrets["token"]
    assert await status_with(client, new_token) == 200
    assert await status_with(client, DEMO_TOKEN) == 200  # the overlap
    page = await client.get("/office/settings")
    assert new_token not in page.text
    assert "data-previous" in page.text
    assert new_token not in str(client.cookies)

    retired = await client.post(
        "/office/settings/retire", data={"csrf": csrf, "credential": "token"}
    )
    assert retired.status_code == 303
    assert await status_with(client, DEMO_TOKEN) == 401
    assert await status_with(client, new_token) == 200
    assert "data-previous" not in (await client.get("/office/settings")).text


async def test_a_signing_key_rotated_at_once_leaves_no_previous_key(
    client: httpx.AsyncClient, db: Database
) -> None:
    csrf = await logged_in(client, db)

    rotated = await client.post(
        "/office/settings/rotate",
        data={"csrf": csrf, "credential": "signingKey", "overlap": "0", "password": PASSWORD},
    )
    nothing = await client.post(
        "/office/settings/rotate", data={"csrf": csrf, "overlap": "0", "password": PASSWORD}
    )
    odd_overlap = await client.post(
        "/office/settings/rotate",
        data={"csrf": csrf, "credential": "token", "overlap": "5", "password": PASSWORD},
    )

    assert rotated.status_code == 200
    secrets = dict(_SECRET_RE.findall(rotated.text))
    assert list(secrets) == ["signingKey"]
    async with db.read() as conn:
        merchant = await merchants_service.get_merchant(conn, DEMO_MERCHANT_ID)
    assert merchant is not None
    assert merchant.signing_key == secrets["signingKey"]
    assert merchant.previous_signing_key is None
    assert nothing.status_code == odd_overlap.status_code == 422
    assert await status_with(client, DEMO_TOKEN) == 200  # the token was not touched


async def test_points_of_sale_lists_the_merchants_own_with_their_mini_apps(
    api: httpx.AsyncClient, db: Database
) -> None:
    mini_app = {"url": "https://taxi.example/app", "modes": ["suborder"]}
    created = read(await api.post(SHOPS, content=body({"title": "Такси", "miniApp": mini_app})))[
        "data"
    ]
    async with db.transaction() as conn:
        other = await merchants_service.create_merchant(conn, name="Другой")
    foreign = await api.post(
        SHOPS,
        content=body({"title": "Чужая лавка", "miniApp": mini_app}),
        headers={"Authorization": f"Bearer {other.token}"},
    )
    assert foreign.status_code == 200
    api.headers.pop("Authorization")
    await logged_in(api, db)

    page = await api.get("/office/points-of-sale")

    assert page.status_code == 200
    assert f'href="/marketplace/shop/{created["id"]}"' in page.text
    assert "https://taxi.example/app" in page.text
    assert "допуслуга на странице оплаты" in page.text  # the mode
    assert "Чужая лавка" not in page.text
    # Its mini-app's launch secret is revealed to its merchant here, nobody else's.
    assert "Секрет запуска мини-приложения" in page.text
    assert created["launchSecret"] in page.text
    assert read(foreign)["data"]["launchSecret"] not in page.text
    english = await api.get("/office/points-of-sale?lang=en")
    assert "Points of sale: 1" in english.text
    assert "Mini-app launch secret" in english.text


@pytest.mark.parametrize("path", ["/office/settings", "/office/points-of-sale"])
async def test_both_pages_speak_english(client: httpx.AsyncClient, db: Database, path: str) -> None:
    await logged_in(client, db)
    page = await client.get(f"{path}?lang=en")
    assert page.status_code == 200
    assert "Settings" in page.text and "Points of sale" in page.text


@pytest.mark.parametrize(
    "path",
    [
        "/office/settings/notification",
        "/office/settings/email",
        "/office/settings/rotate",
        "/office/settings/retire",
    ],
)
async def test_every_settings_form_needs_its_csrf_token(
    client: httpx.AsyncClient, db: Database, path: str
) -> None:
    await logged_in(client, db)
    before = await credentials(client, DEMO_TOKEN)
    form = {
        "notification_url": "https://evil.test/",
        "email": "evil@evil.test",
        "credential": "token",
        "overlap": "0",
        "password": PASSWORD,
    }

    forged = await client.post(path, data={**form, "csrf": "forged"})
    missing = await client.post(path, data=form)

    assert forged.status_code == missing.status_code == 403
    assert await credentials(client, DEMO_TOKEN) == before
    async with db.read() as conn:
        assert await merchants_service.get_notification_email(conn, DEMO_MERCHANT_ID) is None
