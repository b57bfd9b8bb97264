"""OpenAPI glue: bodies are parsed by hand (exact decimals), so their schemas are declared here;
the document also names its server (the platform's public URL) and describes the signed
notification we POST to shops (`webhooks`, docs/notifications.md)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from marketbox import parsing
from marketbox.notifications.delivery import DEFAULT_ERROR_CODE, FINAL_CODES
from marketbox.orders.schemas import OrderResponse
from marketbox.security import signing
from marketbox.web import filters

_BODY_MODELS: list[type[BaseModel]] = []

# What each list-filter parser accepts, for the documented query parameters.
_FILTER_SCHEMAS: dict[Any, dict[str, Any]] = {
    filters.parse_datetime: {"type": "string", "format": "date-time"},
    filters.parse_decimal: {
        "type": "number",
        "minimum": -float(parsing.MAX_AMOUNT),  # a schema bound, not money
        "maximum": float(parsing.MAX_AMOUNT),
    },
    filters.parse_int: {
        "type": "integer",
        "minimum": -parsing.INT32_MAX,
        "maximum": parsing.INT32_MAX,
    },
    filters.parse_bool: {"type": "boolean"},
}
# pydantic writes the bounds of a constrained type behind a BeforeValidator under the Python
# names (`ge`, `le`, Decimal bounds as strings): JSON Schema calls them otherwise.
_BOUND_KEYWORDS = {
    "ge": "minimum",
    "le": "maximum",
    "gt": "exclusiveMinimum",
    "lt": "exclusiveMaximum",
}


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route whose JSON body is `model`."""
    _BODY_MODELS.append(model)
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def list_query(fields: Mapping[str, filters.Parser]) -> dict[str, Any]:
    """`openapi_extra` documenting the paging and the equality filters of a list endpoint
    (operators such as ``amount[_ge]`` and ``_order[field]`` are described in docs/api.md)."""
    parameters: list[dict[str, Any]] = [
        _query("page", {"type": "integer", "minimum": 1, "maximum": filters.MAX_PAGE}),
        _query("pageSize", {"type": "integer", "minimum": 1, "maximum": filters.MAX_PAGE_SIZE}),
    ]
    for name, parser in fields.items():
        head, *rest = name.split(".")
        query_name = head + "".join(f"[{part}]" for part in rest)
        parameters.append(_query(query_name, _FILTER_SCHEMAS.get(parser, {"type": "string"})))
    return {"parameters": parameters}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def envelope_of(model: type[BaseModel] | None, *, many: bool = False) -> dict[int | str, Any]:
    """`responses` documenting the success envelope around `model` and the error envelope."""
    if model is not None:
        _BODY_MODELS.append(model)
        item: dict[str, Any] = {"$ref": f"#/components/schemas/{model.__name__}"}
    else:
        item = {"type": "object"}
    data: dict[str, Any] = {"type": "array", "items": item} if many else item
    properties: dict[str, Any] = {"data": data, "extendedData": {"type": "array"}}
    if many:
        properties["metaData"] = {
            "type": "object",
            "properties": {
                "totalCount": {"type": "integer"},
                "pageSize": {"type": "integer"},
                "page": {"type": "integer"},
            },
        }
    ok = {"type": "object", "required": ["data", "extendedData"], "properties": properties}
    return {
        200: {"description": "Success", "content": {"application/json": {"schema": ok}}},
        **_ERROR_RESPONSES,
    }


_ERROR_ENVELOPE = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "code", "fields"],
            "properties": {
                "message": {"type": "string"},
                "code": {"type": "string"},
                "fields": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "code", "message"],
                        "properties": {
                            "name": {"type": "string"},
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}


def _error_response(description: str) -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/ErrorEnvelope"}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


# Every API answer >= 400 is the envelope: 401/403/404/405/409/422/429 and the bare 500.
_ERROR_RESPONSES: dict[int | str, Any] = {
    "4XX": _error_response("Error envelope"),
    "5XX": _error_response("Error envelope (code `internal_error` or `out_of_service`)"),
}


def _document_errors(schema: dict[str, Any]) -> None:
    """Give every API operation the error envelope, replacing FastAPI's `HTTPValidationError`
    422 (request validation errors leave as the envelope too, see web/errors.py)."""
    for path, item in schema.get("paths", {}).items():
        if not path.startswith("/v3/"):
            continue
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            if "HTTPValidationError" in str(responses.get("422", "")):
                del responses["422"]
            for status, response in _ERROR_RESPONSES.items():
                responses.setdefault(str(status), response)
    schemas = schema.get("components", {}).get("schemas", {})
    if "HTTPValidationError" not in str(schema.get("paths")):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)


IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Our extension (docs/api.md): the same key, account and request again get the stored "
        "answer with `Idempotent-Replayed: true`; the key with another request is 422 "
        "`idempotency_key_reused`, while the first still runs 409 `idempotency_key_in_use`. "
        "Kept at least 24 h."
    ),
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": "^[ -~]*[!-~][ -~]*$",
    },
}


def _document_idempotency(schema: dict[str, Any]) -> None:
    """Every mutating /v3 operation takes the optional `Idempotency-Key` header."""
    for path, item in schema.get("paths", {}).items():
        if not path.startswith("/v3/"):
            continue
        for method, operation in item.items():
            if method in ("post", "put", "patch", "delete"):
                operation.setdefault("parameters", []).append(dict(IDEMPOTENCY_KEY_PARAMETER))


def _json_schema_bounds(node: Any) -> None:
    """Rename pydantic's `ge`/`le`/`gt`/`lt` to JSON Schema's keywords, numbers as numbers."""
    if isinstance(node, list):
        for item in node:
            _json_schema_bounds(item)
        return
    if not isinstance(node, dict):
        return
    for python_name, json_name in _BOUND_KEYWORDS.items():
        if python_name in node and not isinstance(node[python_name], dict):
            value = node.pop(python_name)
            number = Decimal(value) if isinstance(value, str) else value
            node[json_name] = int(number) if number == int(number) else float(number)
    for child in node.values():
        _json_schema_bounds(child)


# The notification reply (docs/notifications.md §3): a final code stops the retries, anything
# else is retried.
_NOTIFICATION_REPLY = {
    "oneOf": [
        {
            "type": "object",
            "title": "Accepted",
            "required": ["status"],
            "properties": {"status": {"const": "success"}},
        },
        {
            "type": "object",
            "title": "Refused",
            "required": ["status"],
            "properties": {
                "status": {"const": "error"},
                "code": {
                    "type": "string",
                    "enum": [*sorted(FINAL_CODES), DEFAULT_ERROR_CODE],
                    "description": (
                        "Final, never retried: "
                        + ", ".join(f"`{code}`" for code in sorted(FINAL_CODES))
                        + " (`shipping_unavailable` also sets the order's `processingStatus`). "
                        f"`{DEFAULT_ERROR_CODE}`, no code or another code: sent again later."
                    ),
                },
                "message": {"type": "string", "description": "Kept in the delivery log."},
            },
        },
    ]
}

_ALGORITHMS = ", ".join(
    f"`{name}`" + (" (default)" if name == signing.DEFAULT_ALGORITHM else "")
    for name in signing.ALGORITHMS
)


def _notification_webhook() -> dict[str, Any]:
    """`webhooks.orderNotification`: what the platform POSTs to the shop's `notificationUrl`."""
    order = {"$ref": f"#/components/schemas/{OrderResponse.__name__}"}
    reply = {"$ref": "#/components/schemas/NotificationReply"}
    return {
        "post": {
            "operationId": "orderNotification",
            "summary": "Order notification, signed (sent by the platform to the shop)",
            "description": (
                "POSTed to the order's `notificationUrl` (else the merchant's default URL) when "
                "the order's status changes: payment, expiry, cancellation. The body is the "
                "order as the API returns it (a held payment is reported as `completed`). "
                "Delivery is at least once: every retry carries the identical body and "
                "signature, so a shop that already processed this `id` answers `success` "
                "again. Anything but HTTP 200 with `success` or a final error code (another "
                "status, a redirect, a timeout) is sent again later, by default up to 10 more "
                "times within 24 hours (docs/notifications.md)."
            ),
            "security": [],
            "parameters": [
                {
                    "name": "X-Signature",
                    "in": "header",
                    "required": True,
                    "description": (
                        "Lowercase hex HMAC of the exact body bytes with the merchant's "
                        f"signing key, under the merchant's algorithm: {_ALGORITHMS}. "
                        "Verify it before trusting the body; a wrong one is answered with "
                        "`signature_error`."
                    ),
                    "schema": {"type": "string", "pattern": "^[0-9a-f]+$"},
                },
                {
                    "name": "X-Request-Id",
                    "in": "header",
                    "required": True,
                    "description": (
                        "`<notification record id>-<attempt number>-<8 random hex digits>`, "
                        "unique per request (a retry changes only this header)."
                    ),
                    "schema": {"type": "string"},
                },
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": order}},
            },
            "responses": {
                "200": {
                    "description": "The shop's reply",
                    "content": {"application/json": {"schema": reply}},
                }
            },
        }
    }


def install(app: FastAPI, *, public_base: str) -> None:
    """Serve the customised document; `public_base` is the platform's public URL (`servers`)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            routes=app.routes,
            description=app.description,
            servers=[{"url": public_base}],
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        # The notification's body is the order (webhooks), whichever routes are served.
        models: list[type[BaseModel]] = [*_BODY_MODELS, OrderResponse]
        for model in models:
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in model_schema.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components[model.__name__] = model_schema
        components["ErrorEnvelope"] = _ERROR_ENVELOPE
        components["NotificationReply"] = _NOTIFICATION_REPLY
        _json_schema_bounds(components)
        _document_errors(schema)
        _document_idempotency(schema)
        schema["webhooks"] = {"orderNotification": _notification_webhook()}
        schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        schema["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
