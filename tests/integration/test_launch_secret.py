"""Signed launch data end to end on SQLite and PostgreSQL (docs/miniapps.md "Signed launch
data"): a point of sale's launch secret in the API answer to its owner only, its rotation with
an overlap, and the init data of the marketplace page and of the payment page's add-on frames
signed with it (verified by the SDK's `verify_launch_data`)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from demo_shop import demo_points_of_sale

from marketbox import jsonutil
from marketbox.marketplace import service as marketplace_service
from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.storage.db import Database
from marketbox_sdk import (
    LaunchData,
    TamperedLaunchData,
    launch_meta_data_digest,
    verify_launch_data,
)
from tests.conftest import TEST_PUBLIC_URL, body, read
from tests.integration.test_payment_addons import SHOP_URL, addons_config, create_flight, taxi
from tests.integration.test_payment_page import page_path

SHOPS = "/v3/marketplace/api/shop"
CONFIG_RE = re.compile(
    r'<script type="application/json" id="pos-miniapp-config">(.*?)</script>', re.S
)
HEX64 = re.compile(r"[0-9a-f]{64}")


async def create_shop(api: httpx.AsyncClient, **payload: Any) -> dict[str, Any]:
    payload.setdefault("title", "Кофейня «Взлёт»")
    payload.setdefault("miniApp", {"url": "https://coffee.example/app"})
    response = await api.post(SHOPS, content=body(payload))
    assert response.status_code == 200, response.text
    return read(response)["data"]


async def rotate(api: httpx.AsyncClient, shop_id: int, **payload: Any) -> httpx.Response:
    return await api.post(f"{SHOPS}/{shop_id}/launch-secret/rotate", content=body(payload))


async def pos_public(client: httpx.AsyncClient, shop_id: int) -> dict[str, Any]:
    page = await client.get(f"/marketplace/shop/{shop_id}")
    match = CONFIG_RE.search(page.text)
    assert match, "no mini-app on the page"
    public: dict[str, Any] = jsonutil.loads(match.group(1))["initData"]["public"]
    return public


@pytest.fixture
async def points(db: Database) -> dict[str, dict[str, Any]]:
    """The demo shop's points of sale (add-ons for a flight from SVO), by title."""
    created = {}
    async with db.transaction() as conn:
        for point in demo_points_of_sale(SHOP_URL):
            created[point["title"]] = await marketplace_service.create_point_of_sale(
                conn, merchant_id=DEMO_MERCHANT_ID, **point
            )
    return created


@pytest.fixture
async def other_api(app: Any, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with db.transaction() as conn:
        credentials = await merchants_service.create_merchant(conn, name="Другой магазин")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=TEST_PUBLIC_URL,
        headers={"Authorization": f"Bearer {credentials.token}"},
    ) as other:
        yield other


async def test_each_point_of_sale_has_its_own_secret_shown_to_its_owner_only(
    api: httpx.AsyncClient, other_api: httpx.AsyncClient
) -> None:
    first = await create_shop(api)
    second = await create_shop(api, title="Такси")

    assert HEX64.fullmatch(first["launchSecret"])
    assert HEX64.fullmatch(second["launchSecret"])
    assert first["launchSecret"] != second["launchSecret"]
    assert first["launchSecretCreatedAt"].endswith("+00:00")
    assert first["previousLaunchSecretValidUntil"] is None
    again = read(await api.get(f"{SHOPS}/{first['id']}"))["data"]
    assert again["launchSecret"] == first["launchSecret"]
    listed = read(await api.get(SHOPS))["data"]
    assert {s["id"]: s["launchSecret"] for s in listed}[first["id"]] == first["launchSecret"]

    foreign = await other_api.get(f"{SHOPS}/{first['id']}")
    assert foreign.status_code == 404
    assert first["launchSecret"] not in foreign.text
    assert (await rotate(other_api, first["id"])).status_code == 404


async def test_the_marketplace_page_signs_the_init_data_with_the_secret(
    api: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    shop = await create_shop(api)
    public = await pos_public(client, shop["id"])
    signed = public["signedLaunchData"]

    data = verify_launch_data(signed, shop["launchSecret"])
    assert data == LaunchData(
        shop_id=shop["id"],
        minapp_type="order",
        order_container_id=None,
        user_name="",
        user_email="",
        user_phone="",
        locale="ru",
        full_height=True,
        auth_date=data.auth_date,
        meta_data_hash=launch_meta_data_digest([]),
    )
    # The secret itself never reaches the page.
    page = await client.get(f"/marketplace/shop/{shop['id']}")
    assert shop["launchSecret"] not in page.text
    with pytest.raises(TamperedLaunchData):
        verify_launch_data(signed.replace("locale=ru", "locale=en"), shop["launchSecret"])


async def test_rotation_keeps_the_previous_secret_valid_for_the_overlap(
    api: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    shop = await create_shop(api)
    old = shop["launchSecret"]

    response = await rotate(api, shop["id"], overlapSeconds=3600)
    assert response.status_code == 200, response.text
    rotated = read(response)["data"]
    new = rotated["launchSecret"]
    assert HEX64.fullmatch(new) and new != old
    assert rotated["previousLaunchSecretValidUntil"] is not None
    signed = (await pos_public(client, shop["id"]))["signedLaunchData"]
    assert verify_launch_data(signed, new).shop_id == shop["id"]
    assert verify_launch_data(signed, old).shop_id == shop["id"]

    # Overlap 0: the replaced secret stops at once.
    newest = read(await rotate(api, shop["id"], overlapSeconds=0))["data"]
    assert newest["previousLaunchSecretValidUntil"] is None
    signed = (await pos_public(client, shop["id"]))["signedLaunchData"]
    assert verify_launch_data(signed, newest["launchSecret"]).shop_id == shop["id"]
    with pytest.raises(TamperedLaunchData):
        verify_launch_data(signed, new)


@pytest.mark.parametrize("overlap", [-1, 604801, "60", None])
async def test_a_bad_overlap_is_refused(api: httpx.AsyncClient, overlap: object) -> None:
    shop = await create_shop(api)
    response = await rotate(api, shop["id"], overlapSeconds=overlap)
    assert response.status_code == 422
    assert read(response)["error"]["fields"][0]["name"] == "overlapSeconds"
    again = read(await api.get(f"{SHOPS}/{shop['id']}"))["data"]
    assert again["launchSecret"] == shop["launchSecret"]


async def test_add_on_frames_are_signed_with_each_add_ons_secret(
    api: httpx.AsyncClient, points: dict[str, dict[str, Any]]
) -> None:
    flight = await create_flight(api)
    html = (await api.get(page_path(flight))).text
    frame = addons_config(html)["frames"][0]
    secret = read(await api.get(f"{SHOPS}/{taxi(points)['id']}"))["data"]["launchSecret"]

    data = verify_launch_data(frame["initData"]["public"]["signedLaunchData"], secret)
    assert data.shop_id == taxi(points)["id"]
    assert data.minapp_type == "suborder"
    assert data.order_container_id == flight["orderContainerId"]
    assert (data.user_name, data.user_email, data.user_phone) == (
        "Иван",
        "ivan@example.com",
        "+79990001122",
    )
    assert data.meta_data_hash == launch_meta_data_digest(frame["initData"]["private"]["metaData"])
    assert secret not in html
