"""/openapi.json documents every API route, and real answers validate against it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi.routing import APIWebSocketRoute, iter_route_contexts
from jsonschema import Draft202012Validator
from starlette.routing import WebSocketRoute

from marketbox.merchants import service as merchants_service
from marketbox.security import signing
from marketbox.storage.db import Database
from tests.conftest import DEMO_AUTH, body, read
from tests.support.builders import basket_item, order_payload

ORDERS = "/v3/billing/api/order/order"
LIST = "/v3/filter/api/order/order"


@pytest.fixture
async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def api_routes(app: Any) -> set[tuple[str, str]]:
    """(path, method) of every API route the app serves, included routers flattened."""
    routes = set()
    for route in iter_route_contexts(app.routes):
        path = getattr(route, "path", "")
        if isinstance(route.route, WebSocketRoute | APIWebSocketRoute):
            continue  # the gate's WebSocket is no HTTP operation (docs/gate.md)
        if path.startswith("/v3/"):
            assert route.include_in_schema, path
            routes |= {(path, method.lower()) for method in route.methods}
    return routes


def documented(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, item in spec["paths"].items() for method in item}


def validator(spec: dict[str, Any], path: str, method: str, status: str) -> Draft202012Validator:
    responses = spec["paths"][path][method]["responses"]
    schema = responses[status]["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": spec["components"]})


def check(spec: dict[str, Any], path: str, method: str, response: httpx.Response) -> None:
    status = str(response.status_code)
    responses = spec["paths"][path][method]["responses"]
    key = status if status in responses else f"{status[0]}XX"
    assert key in responses, (path, method, status)
    errors = list(validator(spec, path, method, key).iter_errors(response.json()))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


async def test_every_api_route_is_documented(app: Any, spec: dict[str, Any]) -> None:
    routes = api_routes(app)

    assert len(routes) >= 10  # the comparison below is not vacuous
    assert routes == {(p, m) for p, m in documented(spec) if p.startswith("/v3/")}


async def test_core_endpoints_are_documented(spec: dict[str, Any]) -> None:
    expected = {
        ("/v3/security/api/auth/auth", "get"),
        (ORDERS, "post"),
        (LIST, "get"),
        (f"{ORDERS}/{{order_id}}", "get"),
        (f"{ORDERS}/{{order_id}}", "put"),
        (f"{ORDERS}/{{order_id}}", "delete"),
        ("/v3/billing/api/order/{order_id}/status", "put"),
        ("/v3/payment/api/invoice", "get"),
        ("/v3/payment/api/invoice/{invoice_id}", "get"),
        ("/v3/payment/api/invoice/confirm", "post"),
    }
    assert expected <= documented(spec)


async def test_errors_are_documented_as_the_envelope(spec: dict[str, Any]) -> None:
    for path, item in spec["paths"].items():
        if not path.startswith("/v3/"):
            continue
        for method, operation in item.items():
            responses = operation["responses"]
            assert "4XX" in responses, (path, method)
            assert "422" not in responses or "HTTPValidationError" not in str(responses["422"])
    assert "HTTPValidationError" not in spec["components"]["schemas"]


async def test_request_bodies_are_documented(spec: dict[str, Any]) -> None:
    def body_ref(path: str, method: str) -> str:
        operation = spec["paths"][path][method]
        return operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]

    assert body_ref(ORDERS, "post").endswith("/CreateOrderRequest")
    assert body_ref(f"{ORDERS}/{{order_id}}", "put").endswith("/UpdateOrderRequest")
    assert body_ref("/v3/payment/api/invoice/confirm", "post").endswith(
        "/CreateInvoicePaymentRequest"
    )
    confirm_params = spec["paths"]["/v3/payment/api/invoice/confirm"]["post"]["parameters"]
    assert any(p["name"] == "X-Signature" and p["in"] == "header" for p in confirm_params)


async def test_order_answers_validate(api: httpx.AsyncClient, spec: dict[str, Any]) -> None:
    items = [basket_item(quantity=3, amount=Decimal("123.96"), vat_code="RUS_VAT20")]
    shop = read(await api.post("/v3/marketplace/api/shop", content=body({"title": "Касса"})))
    created = await api.post(
        ORDERS, content=body(order_payload(items=items, shopId=shop["data"]["id"]))
    )
    order_id = read(created)["data"]["id"]
    one = f"{ORDERS}/{{order_id}}"

    check(spec, ORDERS, "post", created)
    check(spec, one, "get", await api.get(f"{ORDERS}/{order_id}"))
    check(spec, LIST, "get", await api.get(LIST))
    check(
        spec, one, "put", await api.put(f"{ORDERS}/{order_id}", content=body({"description": "x"}))
    )
    check(spec, one, "delete", await api.delete(f"{ORDERS}/{order_id}"))
    check(spec, "/v3/security/api/auth/auth", "get", await api.get("/v3/security/api/auth/auth"))


async def test_error_answers_validate(
    api: httpx.AsyncClient, client: httpx.AsyncClient, spec: dict[str, Any]
) -> None:
    unknown = f"{ORDERS}/01a22115-0000-7000-8000-000000000000"

    check(spec, f"{ORDERS}/{{order_id}}", "get", await api.get(unknown))
    check(spec, LIST, "get", await api.get(f"{LIST}?bogus=1"))
    check(spec, ORDERS, "post", await api.post(ORDERS, content=b"{}"))
    check(spec, ORDERS, "post", await api.post(ORDERS, content=body(order_payload(amount=1))))
    bad_auth = await client.get(
        "/v3/security/api/auth/auth", headers={"Authorization": "Bearer nope"}
    )
    check(spec, "/v3/security/api/auth/auth", "get", bad_auth)


async def test_instrument_answers_validate(
    client: httpx.AsyncClient, db: Database, spec: dict[str, Any]
) -> None:
    async with db.transaction() as conn:
        bank = await merchants_service.create_instrument(conn, name="Банк")
    auth = {"Authorization": f"Bearer {bank.token}"}
    created = await client.post(ORDERS, content=body(order_payload()), headers=DEMO_AUTH)
    order = read(created)["data"]
    invoice_path = "/v3/payment/api/invoice/{invoice_id}"
    raw = body(
        {
            "invoiceId": order["orderContainerId"],
            "paymentOperationId": "op-1",
            "amount": order["amount"],
            "currencyId": "RUB",
        }
    )
    signed = {**auth, "X-Signature": signing.sign(raw, bank.signing_key)}

    check(
        spec,
        "/v3/payment/api/invoice",
        "get",
        await client.get("/v3/payment/api/invoice", headers=auth),
    )
    check(
        spec,
        invoice_path,
        "get",
        await client.get(f"/v3/payment/api/invoice/{order['orderContainerId']}", headers=auth),
    )
    confirm = "/v3/payment/api/invoice/confirm"
    check(spec, confirm, "post", await client.post(confirm, content=raw, headers=signed))
    check(spec, confirm, "post", await client.post(confirm, content=raw, headers=auth))


async def test_every_component_is_a_valid_schema(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.")
    for schema in spec["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
