"""Auth check, GET /v3/security/api/auth/auth (spec/api.md §2.1: all three answers), and the
merchant's credentials and notification settings (our extension, docs/api.md "Credentials and
key rotation")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from marketbox.merchants.service import Merchant
from marketbox.security import service as security_service
from marketbox.security.schemas import (
    CredentialsResponse,
    NotificationSettingsRequest,
    RetirePreviousRequest,
    RotatedCredentials,
    RotateRequest,
)
from marketbox.web import envelope
from marketbox.web.context import bearer_token, get_context, read_model
from marketbox.web.openapi import envelope_of, json_body

router = APIRouter(tags=["security"])


class AuthUser(BaseModel):
    """The auth check's `data` (documentation model): `userId` is null for no header."""

    userId: str | None
    profile: Any | None
    accessToken: str | None


@router.get(
    "/v3/security/api/auth/auth",
    summary="Check the API token",
    responses=envelope_of(AuthUser),
)
async def auth_check(request: Request) -> Response:
    token = bearer_token(request)
    if token is None:  # no Authorization header: the anonymous user
        return envelope.data({"userId": None, "profile": None, "accessToken": None})
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        # 401 for an unknown token; a known one counts against its account's rate limit, so
        # the auth check is no free oracle for guessing tokens or probing the limit.
        principal = await ctx.any_principal(conn, request)
    user_id = principal.user_id if isinstance(principal, Merchant) else principal.id
    return envelope.data({"userId": user_id, "profile": None, "accessToken": None})


# --- Credentials and key rotation (our extension, docs/api.md) ---------------------------------
# Every change is announced after its commit, so every process drops the tokens it cached.


@router.get(
    "/v3/security/api/credentials",
    summary="The merchant's token, signing key and notification settings, without secrets "
    "(extension)",
    responses=envelope_of(CredentialsResponse),
)
async def get_credentials(request: Request) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        found = await security_service.credentials(conn, merchant=merchant)
    return envelope.data(found)


@router.post(
    "/v3/security/api/credentials/rotate",
    summary="Rotate the token and/or signing key; the previous ones work until the overlap ends "
    "(extension)",
    openapi_extra=json_body(RotateRequest),
    responses=envelope_of(RotatedCredentials),
)
async def rotate_credentials(request: Request) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        body = await read_model(request, RotateRequest)
        rotated = await security_service.rotate(conn, merchant=merchant, request=body)
    await ctx.shared.credentials_changed()
    answer = envelope.data(rotated)
    answer.headers["Cache-Control"] = "no-store"  # the new secrets, shown this once
    return answer


@router.post(
    "/v3/security/api/credentials/retire-previous",
    summary="Stop the previous token and/or signing key now (extension)",
    openapi_extra=json_body(RetirePreviousRequest),
    responses=envelope_of(CredentialsResponse),
)
async def retire_previous_credentials(request: Request) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        body = await read_model(request, RetirePreviousRequest)
        found = await security_service.retire_previous(conn, merchant=merchant, request=body)
    await ctx.shared.credentials_changed()
    return envelope.data(found)


@router.put(
    "/v3/security/api/notification",
    summary="Set the default notification URL and signature algorithm (extension)",
    openapi_extra=json_body(NotificationSettingsRequest),
    responses=envelope_of(CredentialsResponse),
)
async def set_notification(request: Request) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        merchant = await ctx.merchant(conn, request)
        body = await read_model(request, NotificationSettingsRequest)
        found = await security_service.set_notification(
            conn, merchant=merchant, request=body, production=ctx.settings.mode == "production"
        )
    await ctx.shared.credentials_changed()
    return envelope.data(found)
