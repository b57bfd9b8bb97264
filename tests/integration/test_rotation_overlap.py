"""Rotation with an overlap: the previous token and signing key keep working until a deadline
(by `marketbox.clock`), then stop, in every process; notifications carry both signatures
meanwhile. The API (/v3/security/api/credentials…, /v3/security/api/notification) and the CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from marketbox import clock
from marketbox.config import Settings
from marketbox.errors import ValidationFailed
from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import TokenCache
from marketbox.notifications import outbox
from marketbox.notifications.dispatcher import Dispatcher
from marketbox.security import service as security_service
from marketbox.security import signing
from marketbox.security.schemas import NotificationSettingsRequest
from marketbox.storage.db import Database
from marketbox.storage.shared import SharedState
from tests.conftest import TEST_PUBLIC_URL, body, make_settings, read
from tests.support import redis as redis_support
from tests.support.receiver import Receiver, Reply
from tests.support.redis import RedisSpace

redis_space = redis_support.redis_space  # the fixture, for this module's tests
CREDENTIALS = "/v3/security/api/credentials"
ROTATE = "/v3/security/api/credentials/rotate"
RETIRE = "/v3/security/api/credentials/retire-previous"
NOTIFICATION = "/v3/security/api/notification"
HOUR = 3600


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url, notification_retry_schedule=(0,) * 10, notification_timeout_seconds=2.0
    )


@pytest.fixture
def now() -> Iterator[list[datetime]]:
    """clock.now() returns now[0]; the test moves it."""
    pinned = [datetime.now(UTC)]
    clock.set_now(lambda: pinned[0])
    yield pinned
    clock.set_now(None)


@pytest.fixture
async def shop() -> AsyncIterator[Receiver]:
    async with Receiver() as receiver:
        yield receiver


@pytest.fixture
async def dispatcher(settings: Settings, db: Database) -> AsyncIterator[Dispatcher]:
    async with Dispatcher(settings, db, name="rotation-dispatcher") as d:
        yield d


async def new_merchant(db: Database, **options: Any) -> merchants_service.Credentials:
    async with db.transaction() as conn:
        return await merchants_service.create_merchant(conn, name="Магазин", **options)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def status_with(client: httpx.AsyncClient, token: str) -> int:
    return (await client.get(CREDENTIALS, headers=bearer(token))).status_code


# -- the API token --------------------------------------------------------------------------


async def test_the_old_token_works_during_the_overlap_and_stops_after_it(
    client: httpx.AsyncClient, db: Database, now: list[datetime]
) -> None:
    shop = await new_merchant(db)
    answer = await client.post(
        ROTATE,
        content=body({"credentials": ["token"], "overlapSeconds": 2 * HOUR}),
        headers=bearer(shop.token),
    )
    assert answer.status_code == 200, answer.text
    rotated = read(answer)["data"]
    new_token = rotated["newToken"]
    deadline = now[0] + timedelta(hours=2)

    assert answer.headers["cache-control"] == "no-store"
    assert rotated["newSigningKey"] is None  # not asked for
    assert new_token != shop.token
    assert rotated["token"]["fingerprint"] == signing.fingerprint(new_token)
    assert rotated["token"]["previous"] == {
        "fingerprint": signing.fingerprint(shop.token),
        "validUntil": deadline.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
    }
    assert rotated["signingKey"]["previous"] is None
    assert await status_with(client, shop.token) == 200  # cached before, still in the overlap
    assert await status_with(client, new_token) == 200

    now[0] = deadline - timedelta(seconds=1)
    assert await status_with(client, shop.token) == 200
    now[0] = deadline
    assert await status_with(client, shop.token) == 401  # the cached entry honours the deadline
    assert await status_with(client, new_token) == 200
    listed = read(await client.get(CREDENTIALS, headers=bearer(new_token)))["data"]
    assert listed["token"]["previous"] is None


async def test_an_overlap_of_zero_stops_the_old_token_at_once(
    client: httpx.AsyncClient, db: Database
) -> None:
    shop = await new_merchant(db)
    assert await status_with(client, shop.token) == 200  # cached
    rotated = read(
        await client.post(ROTATE, content=body({"overlapSeconds": 0}), headers=bearer(shop.token))
    )["data"]

    assert await status_with(client, shop.token) == 401
    assert await status_with(client, rotated["newToken"]) == 200
    assert rotated["newSigningKey"]  # both by default
    assert rotated["token"]["previous"] is None
    assert rotated["signingKey"]["previous"] is None


async def test_retiring_the_previous_token_stops_it_now(
    client: httpx.AsyncClient, db: Database
) -> None:
    shop = await new_merchant(db)
    rotated = read(await client.post(ROTATE, content=body({}), headers=bearer(shop.token)))["data"]
    new = bearer(rotated["newToken"])
    assert await status_with(client, shop.token) == 200  # the default overlap: 24 h

    answer = await client.post(RETIRE, content=body({"credentials": ["token"]}), headers=new)

    assert answer.status_code == 200
    assert read(answer)["data"]["token"]["previous"] is None
    assert read(answer)["data"]["signingKey"]["previous"] is not None  # not named: kept
    assert await status_with(client, shop.token) == 401
    assert await status_with(client, rotated["newToken"]) == 200


async def test_rotating_again_replaces_the_previous_token(
    client: httpx.AsyncClient, db: Database
) -> None:
    shop = await new_merchant(db)
    second = read(await client.post(ROTATE, content=body({}), headers=bearer(shop.token)))["data"]
    third = read(await client.post(ROTATE, content=body({}), headers=bearer(second["newToken"])))[
        "data"
    ]

    assert await status_with(client, shop.token) == 401
    assert await status_with(client, second["newToken"]) == 200
    assert await status_with(client, third["newToken"]) == 200


async def test_the_listing_never_shows_a_secret(client: httpx.AsyncClient, db: Database) -> None:
    shop = await new_merchant(db, notification_url="https://shop.example/notify")
    answer = await client.get(CREDENTIALS, headers=bearer(shop.token))

    assert answer.status_code == 200
    assert shop.token not in answer.text
    assert shop.signing_key not in answer.text
    listed = read(answer)["data"]
    assert listed["merchantId"] == shop.id
    assert listed["signingKey"]["fingerprint"] == signing.fingerprint(shop.signing_key)
    assert listed["notification"] == {
        "notificationUrl": "https://shop.example/notify",
        "signatureAlgorithm": "sha1",
        "shippingControl": False,
        "shippingControlTimeoutSeconds": 20,
    }


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"overlapSeconds": 7 * 24 * HOUR + 1}, "overlapSeconds"),
        ({"overlapSeconds": -1}, "overlapSeconds"),
        ({"overlapSeconds": "soon"}, "overlapSeconds"),
        ({"credentials": ["password"]}, "credentials[0]"),
        ({"credentials": []}, "credentials"),
    ],
)
async def test_a_bad_rotation_request_changes_nothing(
    client: httpx.AsyncClient, db: Database, payload: dict[str, Any], field: str
) -> None:
    shop = await new_merchant(db)
    before = read(await client.get(CREDENTIALS, headers=bearer(shop.token)))["data"]

    answer = await client.post(ROTATE, content=body(payload), headers=bearer(shop.token))

    assert answer.status_code == 422
    assert [f["name"] for f in read(answer)["error"]["fields"]] == [field]
    assert read(await client.get(CREDENTIALS, headers=bearer(shop.token)))["data"] == before


async def test_a_merchant_rotates_only_its_own_credentials(
    client: httpx.AsyncClient, db: Database
) -> None:
    first, second = await new_merchant(db), await new_merchant(db)
    before = read(await client.get(CREDENTIALS, headers=bearer(second.token)))["data"]

    await client.post(ROTATE, content=body({"overlapSeconds": 0}), headers=bearer(first.token))
    await client.put(
        NOTIFICATION,
        content=body({"notificationUrl": "https://first.example/n"}),
        headers=bearer(first.token),
    )

    assert await status_with(client, first.token) == 401
    assert read(await client.get(CREDENTIALS, headers=bearer(second.token)))["data"] == before
    for method, path in (("GET", CREDENTIALS), ("POST", ROTATE), ("POST", RETIRE)):
        anonymous = await client.request(method, path, content=body({}))
        assert anonymous.status_code == 401


# -- the signing key ------------------------------------------------------------------------


async def test_notifications_carry_both_signatures_during_the_overlap_and_one_after(
    db: Database, shop: Receiver, dispatcher: Dispatcher, now: list[datetime]
) -> None:
    merchant = await new_merchant(db, notification_url=shop.url)
    async with db.transaction() as conn:
        rotated = await merchants_service.rotate_merchant_credentials(
            conn, merchant.id, token=False, overlap=timedelta(hours=1)
        )
        await outbox.enqueue_test(conn, merchant_id=merchant.id, payment_url="https://x/o/1")
    assert await dispatcher.run_once() == 1

    now[0] += timedelta(hours=1)
    async with db.transaction() as conn:
        await outbox.enqueue_test(conn, merchant_id=merchant.id, payment_url="https://x/o/2")
    assert await dispatcher.run_once() == 1

    during, after = shop.requests
    assert during.headers["x-signature"] == signing.sign(during.body, merchant.signing_key)
    assert during.headers["x-signature-next"] == signing.sign(during.body, rotated.signing_key)
    assert after.headers["x-signature"] == signing.sign(after.body, rotated.signing_key)
    assert "x-signature-next" not in after.headers


async def test_a_retry_after_a_rotation_is_signed_with_the_new_key(
    db: Database, shop: Receiver, dispatcher: Dispatcher
) -> None:
    merchant = await new_merchant(db, notification_url=shop.url)
    shop.script(Reply.error("out_of_service"))
    async with db.transaction() as conn:
        await outbox.enqueue_test(conn, merchant_id=merchant.id, payment_url="https://x/o/1")
    assert await dispatcher.run_once() == 1
    async with db.transaction() as conn:
        rotated = await merchants_service.rotate_merchant_credentials(conn, merchant.id)
    assert await dispatcher.run_once() == 1

    first, retry = shop.requests
    assert first.body == retry.body
    assert first.headers["x-signature"] == signing.sign(first.body, merchant.signing_key)
    assert retry.headers["x-signature"] == signing.sign(retry.body, rotated.signing_key)
    assert "x-signature-next" not in retry.headers


async def test_a_bank_may_sign_with_its_previous_key_during_the_overlap(
    client: httpx.AsyncClient, db: Database, now: list[datetime]
) -> None:
    async with db.transaction() as conn:
        bank = await merchants_service.create_instrument(conn, name="Банк")
        rotated = await merchants_service.rotate_instrument_credentials(
            conn, bank.id, token=False, overlap=timedelta(minutes=5)
        )
    confirm = "/v3/payment/api/invoice/confirm"
    raw = body({})

    async def answer_signed_with(key: str) -> int:
        headers = {**bearer(bank.token), "X-Signature": signing.sign(raw, key)}
        return (await client.post(confirm, content=raw, headers=headers)).status_code

    # 422: the signature passed and the (empty) body was refused; 401/403: it did not pass.
    assert await answer_signed_with(bank.signing_key) == 422
    assert await answer_signed_with(rotated.signing_key) == 422
    now[0] += timedelta(minutes=5)
    assert await answer_signed_with(bank.signing_key) not in (200, 422)
    assert await answer_signed_with(rotated.signing_key) == 422


# -- notification settings ------------------------------------------------------------------


async def test_the_default_notification_url_and_algorithm_are_used_for_notifications(
    client: httpx.AsyncClient, db: Database, shop: Receiver, dispatcher: Dispatcher
) -> None:
    merchant = await new_merchant(db)
    answer = await client.put(
        NOTIFICATION,
        content=body({"notificationUrl": shop.url, "signatureAlgorithm": "sha256"}),
        headers=bearer(merchant.token),
    )
    assert answer.status_code == 200, answer.text
    assert read(answer)["data"]["notification"] == {
        "notificationUrl": shop.url,
        "signatureAlgorithm": "sha256",
        "shippingControl": False,
        "shippingControlTimeoutSeconds": 20,
    }
    async with db.transaction() as conn:
        await outbox.enqueue_test(conn, merchant_id=merchant.id, payment_url="https://x/o/1")
    assert await dispatcher.run_once() == 1

    [request] = shop.requests
    assert request.headers["x-signature"] == signing.sign(
        request.body, merchant.signing_key, "sha256"
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"notificationUrl": "javascript:alert(1)"},
        {"notificationUrl": "https://shop.example/n", "signatureAlgorithm": "crc32"},
        {"signatureAlgorithm": "sha1"},  # the URL is required (null removes it)
    ],
)
async def test_bad_notification_settings_change_nothing(
    client: httpx.AsyncClient, db: Database, payload: dict[str, Any]
) -> None:
    merchant = await new_merchant(db, notification_url="https://shop.example/n")
    before = read(await client.get(CREDENTIALS, headers=bearer(merchant.token)))["data"]

    answer = await client.put(NOTIFICATION, content=body(payload), headers=bearer(merchant.token))

    assert answer.status_code == 422
    assert read(await client.get(CREDENTIALS, headers=bearer(merchant.token)))["data"] == before


@pytest.mark.parametrize(
    "url", ["http://shop.example/notify", "https://127.0.0.1/notify", "https://10.0.0.1/n"]
)
async def test_production_refuses_plain_http_and_private_addresses(db: Database, url: str) -> None:
    created = await new_merchant(db)
    async with db.transaction() as conn:
        merchant = await merchants_service.get_merchant(conn, created.id)
        assert merchant is not None
        with pytest.raises(ValidationFailed):
            await security_service.set_notification(
                conn,
                merchant=merchant,
                request=NotificationSettingsRequest(notificationUrl=url),
                production=True,
            )


# -- several processes ----------------------------------------------------------------------


async def test_retiring_in_one_process_stops_the_old_token_in_the_other(
    db: Database, redis_space: RedisSpace
) -> None:
    first = SharedState(redis_space.url, redis_space.prefix)
    second = SharedState(redis_space.url, redis_space.prefix)
    cache = TokenCache(second.credentials_version)
    try:
        shop = await new_merchant(db)
        async with db.transaction() as conn:
            await merchants_service.rotate_merchant_credentials(
                conn, shop.id, overlap=timedelta(hours=1)
            )
        await first.credentials_changed()
        async with db.transaction() as conn:
            assert await cache.merchant_for_token(conn, shop.token) is not None  # cached
        assert (await cache.cached_merchant(shop.token))[0]

        async with db.transaction() as conn:
            await merchants_service.retire_previous_merchant_credentials(conn, shop.id)
        await first.credentials_changed()

        assert await cache.cached_merchant(shop.token) == (False, None)
        async with db.transaction() as conn:
            assert await cache.merchant_for_token(conn, shop.token) is None
    finally:
        await first.aclose()
        await second.aclose()


async def test_the_end_of_the_overlap_needs_no_announcement(
    db: Database, redis_space: RedisSpace, now: list[datetime]
) -> None:
    shared = SharedState(redis_space.url, redis_space.prefix)
    cache = TokenCache(shared.credentials_version, ttl=3600)
    try:
        shop = await new_merchant(db)
        async with db.transaction() as conn:
            await merchants_service.rotate_merchant_credentials(
                conn, shop.id, overlap=timedelta(minutes=10)
            )
            assert await cache.merchant_for_token(conn, shop.token) is not None
        now[0] += timedelta(minutes=10)

        assert await cache.cached_merchant(shop.token) == (False, None)
        async with db.transaction() as conn:
            assert await cache.merchant_for_token(conn, shop.token) is None
    finally:
        await shared.aclose()


# -- the CLI --------------------------------------------------------------------------------


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "marketbox.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_the_cli_rotates_with_an_overlap_retires_and_sets_the_notification_url(
    tmp_path: Path,
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MARKETBOX_")},
        "MARKETBOX_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'm.db'}",
        "MARKETBOX_MODE": "sandbox",
    }
    assert cli(env, "migrate").returncode == 0
    created = json.loads(cli(env, "merchant", "create", "--name", "Shop", "--json").stdout)
    merchant_id = created["merchantId"]

    rotated = cli(env, "merchant", "rotate", merchant_id, "--overlap", "2h", "--json")
    assert rotated.returncode == 0, rotated.stderr
    new = json.loads(rotated.stdout)
    assert new["token"] != created["token"]
    assert new["previousValidUntil"].endswith("+00:00")
    assert works(env, created["token"]) and works(env, new["token"])

    retired = cli(env, "merchant", "retire-previous", merchant_id, "--token")
    assert retired.returncode == 0, retired.stderr
    assert not works(env, created["token"])
    assert works(env, new["token"])

    url = "https://shop.example/notify"
    set_url = cli(env, "merchant", "notification", merchant_id, "--url", url, "--json")
    assert set_url.returncode == 0, set_url.stderr
    assert json.loads(set_url.stdout)["notificationUrl"] == url

    too_long = cli(env, "merchant", "rotate", merchant_id, "--overlap", "8d")
    assert too_long.returncode == 2
    assert "at most 7d" in too_long.stderr
    unknown = cli(env, "merchant", "retire-previous", "ffffffff-0000-4000-8000-000000000000")
    assert unknown.returncode == 1
    assert "no merchant with id" in unknown.stderr


def works(env: dict[str, str], token: str) -> bool:
    """Whether `token` authenticates, read straight from the CLI's database."""
    import asyncio

    async def look_up() -> bool:
        database = Database(env["MARKETBOX_DATABASE_URL"])
        try:
            async with database.transaction() as conn:
                return await TokenCache().merchant_for_token(conn, token) is not None
        finally:
            await database.dispose()

    return asyncio.run(look_up())


# -- the SDK against the app ----------------------------------------------------------------


async def test_the_sdk_rotates_uses_the_new_token_and_retires_the_old(
    app: Any, db: Database
) -> None:
    import marketbox_sdk as mb

    shop = await new_merchant(db)
    transport = httpx.ASGITransport(app=app)

    def sdk(token: str) -> mb.AsyncClient:
        return mb.AsyncClient(token, base_url=TEST_PUBLIC_URL, transport=transport)

    async with sdk(shop.token) as old:
        rotated = await old.rotate_credentials(overlap=timedelta(hours=1))
        assert rotated.new_token and rotated.new_signing_key
        async with sdk(rotated.new_token) as new:
            assert (await old.credentials()).token.previous is not None  # still works
            listed = await new.retire_previous_credentials()
            await new.set_notification("https://shop.example/notify", signature_algorithm="sha512")
            settings = (await new.credentials()).notification
            controlled = await new.set_notification(
                "https://shop.example/notify",
                shipping_control=True,
                shipping_control_timeout_seconds=7,
            )
            with pytest.raises(mb.ValidationError):
                await new.set_notification(None, shipping_control_timeout_seconds=21)
            unchanged = (await new.credentials()).notification
        with pytest.raises(mb.Unauthorized):
            await old.credentials()

    assert listed.token.previous is None and listed.signing_key.previous is None
    assert listed.signing_key.fingerprint == signing.fingerprint(rotated.new_signing_key)
    assert (settings.notification_url, settings.signature_algorithm) == (
        "https://shop.example/notify",
        "sha512",
    )
    assert settings.shipping_control is False and settings.shipping_control_timeout_seconds == 20
    assert (
        controlled.notification.shipping_control,
        controlled.notification.shipping_control_timeout_seconds,
    ) == (True, 7)
    assert unchanged == controlled.notification  # a refused value changed nothing
