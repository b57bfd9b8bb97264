"""OpenAPI glue: bodies are parsed by hand (exact decimals), so their schemas are declared here."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

_BODY_MODELS: list[type[BaseModel]] = []


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route whose JSON body is `model`."""
    _BODY_MODELS.append(model)
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


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


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, routes=app.routes, description=app.description
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in _BODY_MODELS:
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in model_schema.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components[model.__name__] = model_schema
        components["ErrorEnvelope"] = _ERROR_ENVELOPE
        _document_errors(schema)
        schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        schema["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
