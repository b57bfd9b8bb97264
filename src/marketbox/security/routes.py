"""Auth check, GET /v3/security/api/auth/auth (spec/api.md §2.1: all three answers)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from marketbox.merchants.service import Merchant
from marketbox.web import envelope
from marketbox.web.context import bearer_token, get_context
from marketbox.web.openapi import envelope_of

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
