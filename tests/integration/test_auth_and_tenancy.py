"""Authentication (api.md §2), tenancy (another merchant's order is a 404), the request id and
the error envelope on every answer (§1.2, §3)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from marketbox.merchants import service as merchants_service
from marketbox.storage.db import Database
from tests.conftest import DEMO_AUTH, TEST_PUBLIC_URL, body, read
from tests.support.builders import order_payload

AUTH = "/v3/security/api/auth/auth"
ORDERS = "/v3/billing/api/order/order"
LIST = "/v3/filter/api/order/order"
UNKNOWN_ID = "01a22115-0000-7000-8000-000000000000"


def assert_envelope(response: httpx.Response, code: str) -> None:
    error = read(response)["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert isinstance(error["fields"], list)
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"]


@pytest.fixture
async def other(db: Database) -> merchants_service.Credentials:
    """A second merchant, with a token of its own."""
    async with db.transaction() as conn:
        return await merchants_service.create_merchant(conn, name="Другой магазин")


@pytest.fixture
def other_auth(other: merchants_service.Credentials) -> dict[str, str]:
    return {"Authorization": f"Bearer {other.token}"}


@pytest.fixture
async def demo_order(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post(ORDERS, content=body(order_payload()), headers=DEMO_AUTH)
    assert response.status_code == 200, response.text
    return read(response)["data"]


def order_endpoints(order_id: str) -> list[tuple[str, str, bytes | None]]:
    return [
        ("POST", ORDERS, body(order_payload())),
        ("GET", LIST, None),
        ("GET", f"{ORDERS}/{order_id}", None),
        ("PUT", f"{ORDERS}/{order_id}", body({"description": "Чужое"})),
        ("DELETE", f"{ORDERS}/{order_id}", None),
        ("PUT", f"/v3/billing/api/order/{order_id}/status", body({"status": "completed"})),
    ]


# --- Auth check ------------------------------------------------------------------------------


async def test_auth_check_valid_token(client: httpx.AsyncClient) -> None:
    response = await client.get(AUTH, headers=DEMO_AUTH)

    assert response.status_code == 200
    data = read(response)["data"]
    assert isinstance(data["userId"], str) and data["userId"]
    assert data["userId"] == merchants_service.DEMO_USER_ID
    assert read(response)["extendedData"] == []


@pytest.mark.parametrize(
    "header", ["Bearer 00000000000000000000000000000000", "Bearer ", "Basic abc", "token"]
)
async def test_auth_check_invalid_token_is_401(client: httpx.AsyncClient, header: str) -> None:
    response = await client.get(AUTH, headers={"Authorization": header})

    assert response.status_code == 401
    assert_envelope(response, "unauthorized")


async def test_auth_check_without_header_is_anonymous(client: httpx.AsyncClient) -> None:
    response = await client.get(AUTH)

    assert response.status_code == 200
    assert read(response) == {
        "data": {"userId": None, "profile": None, "accessToken": None},
        "extendedData": [],
    }


async def test_auth_check_accepts_an_instrument_token(
    client: httpx.AsyncClient, db: Database
) -> None:
    async with db.transaction() as conn:
        creds = await merchants_service.create_instrument(conn, name="Банк")

    response = await client.get(AUTH, headers={"Authorization": f"Bearer {creds.token}"})

    assert read(response)["data"]["userId"] == creds.id


# --- Order endpoints need a merchant token ---------------------------------------------------


@pytest.mark.parametrize("index", range(6))
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}],
    ids=["none", "wrong", "scheme"],
)
async def test_order_endpoints_without_a_valid_token_are_401(
    client: httpx.AsyncClient, demo_order: dict, index: int, headers: dict[str, str]
) -> None:
    method, url, content = order_endpoints(demo_order["id"])[index]

    response = await client.request(method, url, content=content, headers=headers)

    assert response.status_code == 401
    assert_envelope(response, "unauthorized")


async def test_instrument_token_is_no_merchant_token(
    client: httpx.AsyncClient, db: Database, demo_order: dict
) -> None:
    async with db.transaction() as conn:
        creds = await merchants_service.create_instrument(conn, name="Банк")

    response = await client.get(
        f"{ORDERS}/{demo_order['id']}", headers={"Authorization": f"Bearer {creds.token}"}
    )

    assert response.status_code == 401


# --- Tenancy ---------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(2, 6))
async def test_another_merchant_gets_404_for_the_demo_order(
    client: httpx.AsyncClient, demo_order: dict, other_auth: dict[str, str], index: int
) -> None:
    method, url, content = order_endpoints(demo_order["id"])[index]

    response = await client.request(method, url, content=content, headers=other_auth)

    assert response.status_code == 404
    assert_envelope(response, "not_found")
    untouched = read(await client.get(f"{ORDERS}/{demo_order['id']}", headers=DEMO_AUTH))["data"]
    assert untouched == demo_order


async def test_another_merchants_list_never_contains_the_demo_order(
    client: httpx.AsyncClient, demo_order: dict, other_auth: dict[str, str]
) -> None:
    queries = [
        {},
        {"id": demo_order["id"]},
        {"merchantOrderId": demo_order["merchantOrderId"]},
        {"merchantId": demo_order["merchantId"]},
        {"orderContainerId": demo_order["orderContainerId"]},
    ]
    for params in queries:
        response = await client.get(LIST, params=params, headers=other_auth)
        assert response.status_code == 200
        listed = read(response)
        assert listed["data"] == []
        assert listed["metaData"]["totalCount"] == 0

    own = read(await client.get(LIST, params={"id": demo_order["id"]}, headers=DEMO_AUTH))
    assert [o["id"] for o in own["data"]] == [demo_order["id"]]


async def test_another_merchant_may_reuse_the_merchant_order_id(
    client: httpx.AsyncClient,
    demo_order: dict,
    other: merchants_service.Credentials,
    other_auth: dict[str, str],
) -> None:
    payload = order_payload(merchant_id=other.id, merchant_order_id=demo_order["merchantOrderId"])

    response = await client.post(ORDERS, content=body(payload), headers=other_auth)

    assert response.status_code == 200, response.text
    assert read(response)["data"]["merchantId"] == other.id


# --- Request id and envelope on every answer -------------------------------------------------


@pytest.fixture
async def raw_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client that gets the 500 answer instead of the app's exception."""

    async def boom() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/v3/test/boom", boom, methods=["GET"])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=TEST_PUBLIC_URL) as http:
        yield http


@pytest.mark.parametrize(
    ("method", "url", "status", "code"),
    [
        ("GET", "/v3/no/such/path", 404, "not_found"),
        ("GET", "/definitely/not/here", 404, "not_found"),
        ("PATCH", ORDERS, 405, "method_not_allowed"),
        ("GET", f"{ORDERS}/{UNKNOWN_ID}", 404, "not_found"),
        ("GET", f"{ORDERS}/not-a-uuid", 404, "not_found"),
        ("GET", LIST + "?bogus=1", 422, "validation_error"),
        ("POST", ORDERS, 422, "validation_error"),
        ("GET", "/v3/test/boom", 500, "internal_error"),
    ],
)
async def test_errors_are_envelopes_with_a_request_id(
    raw_client: httpx.AsyncClient, method: str, url: str, status: int, code: str
) -> None:
    response = await raw_client.request(method, url, headers=DEMO_AUTH, content=b"[]")

    assert response.status_code == status
    assert_envelope(response, code)


async def test_405_names_the_allowed_methods(client: httpx.AsyncClient) -> None:
    response = await client.patch(ORDERS, headers=DEMO_AUTH)

    assert response.status_code == 405
    assert "POST" in response.headers["allow"]


async def test_request_ids_are_unique_and_on_success_too(client: httpx.AsyncClient) -> None:
    responses = [await client.get(AUTH) for _ in range(3)]

    ids = [r.headers["x-request-id"] for r in responses]
    assert all(ids)
    assert len(set(ids)) == 3
