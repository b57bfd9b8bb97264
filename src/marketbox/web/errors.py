"""Exception handlers: every error leaves in the Invoicebox envelope (spec/api.md §3).

The PHP SDK decides by the body alone, so every answer, 404 and 500 included, is JSON with
an `error` object carrying a `code`.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from marketbox.errors import AppError, FieldError, MethodNotAllowed, NotFound, ValidationFailed
from marketbox.web.envelope import JSONResponse
from marketbox.web.headers import NOSNIFF

log = logging.getLogger("marketbox.web")


def _render(exc: AppError) -> Response:
    return JSONResponse(exc.envelope(), status_code=exc.status, headers=exc.headers)


async def app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return _render(exc)


async def request_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    fields = [
        FieldError(
            ".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]), "wrong_value", e["msg"]
        )
        for e in exc.errors()
    ]
    return _render(ValidationFailed("Validation error", fields=fields))


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})  # e.g. `Allow` on a 405
    if exc.status_code == 404:
        return _render(NotFound("No such endpoint", headers=headers))
    if exc.status_code == 405:
        return _render(MethodNotAllowed(headers=headers))
    error = AppError(str(exc.detail), headers=headers)
    error.status = exc.status_code  # type: ignore[misc]
    return _render(error)


async def unhandled(request: Request, exc: Exception) -> Response:
    request_id = request.scope.get("state", {}).get("request_id")
    log.exception(
        "unhandled error request_id=%s path=%s",
        request_id,
        request.url.path,
        extra={"request_id": request_id},  # the middleware's context has ended here
    )
    body = {"error": {"message": "Internal Server Error", "code": "internal_error", "fields": []}}
    # This handler runs outside RequestIdMiddleware (Starlette's ServerErrorMiddleware is the
    # outermost layer), so the id the middleware made is added here.
    # The same reason keeps SecurityHeadersMiddleware from adding nosniff.
    headers = {"X-Content-Type-Options": NOSNIFF}
    if request_id:
        headers["X-Request-Id"] = request_id
    return JSONResponse(body, status_code=500, headers=headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(RequestValidationError, request_validation_error)
    app.add_exception_handler(StarletteHTTPException, http_exception)
    app.add_exception_handler(Exception, unhandled)
