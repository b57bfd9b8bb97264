"""What every request handler needs, built once per app: settings, database, auth, limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request

from marketbox import jsonutil, parsing
from marketbox.companies.sources import CompanySource, load_source
from marketbox.config import Settings
from marketbox.errors import FieldError, Unauthorized, ValidationFailed
from marketbox.merchants.service import Instrument, Merchant, TokenCache
from marketbox.payments.gateway import PaymentGateway, create_gateway
from marketbox.storage.db import Database
from marketbox.storage.shared import SharedState
from marketbox.web.ratelimit import RateLimiter

ModelT = TypeVar("ModelT", bound=BaseModel)
PrincipalT = TypeVar("PrincipalT", Merchant, Instrument)


@dataclass
class AppContext:
    settings: Settings
    db: Database
    # Rate limit counters and the credentials version: Redis or this process (storage/shared.py).
    shared: SharedState = field(init=False)
    tokens: TokenCache = field(init=False)
    account_limiter: RateLimiter | None = None
    ip_limiter: RateLimiter | None = None
    # MARKETBOX_COMPANY_LOOKUP, loaded once: a source that cannot be loaded stops start-up.
    company_source: CompanySource = field(init=False)

    # The card gateway MARKETBOX_PAYMENT_GATEWAY names (payments/gateway.py).
    gateway: PaymentGateway = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.shared = SharedState(s.redis_url, s.redis_key_prefix)
        self.tokens = TokenCache(self.shared.credentials_version)
        self.company_source = load_source(s.company_lookup_source)
        self.gateway = create_gateway(s, self.db)
        if s.rate_limit_enabled:
            self.account_limiter = RateLimiter(
                self.shared, "account", s.rate_limit_per_account, s.rate_limit_window_seconds
            )
            self.ip_limiter = RateLimiter(
                self.shared, "ip", s.rate_limit_per_ip, s.rate_limit_window_seconds
            )

    async def merchant(self, conn: AsyncConnection, request: Request) -> Merchant:
        token = bearer_token(request)
        merchant = await self.tokens.merchant_for_token(conn, token) if token else None
        return await self._admit(merchant, lambda m: m.user_id)

    async def merchant_outside_transaction(self, request: Request) -> Merchant:
        """Like `merchant`, for handlers that pick their transaction after authenticating:
        a cached token needs no database at all, a new one a short connection of its own."""
        token = bearer_token(request)
        merchant = None
        if token:
            found, merchant = await self.tokens.cached_merchant(token)
            if not found:
                async with self.db.read() as conn:
                    merchant = await self.tokens.merchant_for_token(conn, token)
        return await self._admit(merchant, lambda m: m.user_id)

    async def instrument(self, conn: AsyncConnection, request: Request) -> Instrument:
        token = bearer_token(request)
        instrument = await self.tokens.instrument_for_token(conn, token) if token else None
        return await self._admit(instrument, lambda i: i.id)

    async def any_principal(self, conn: AsyncConnection, request: Request) -> Merchant | Instrument:
        """A merchant's or an instrument's token (the auth check accepts both), admitted like
        any other call: unknown is 401, a known one counts against its account's limit."""
        token = bearer_token(request)
        merchant = await self.tokens.merchant_for_token(conn, token) if token else None
        if merchant is not None:
            return await self._admit(merchant, lambda m: m.user_id)
        instrument = await self.tokens.instrument_for_token(conn, token) if token else None
        return await self._admit(instrument, lambda i: i.id)

    async def admit(self, principal: Merchant | Instrument) -> None:
        """Count a call answered without a route (an idempotent replay) against the limit."""
        if isinstance(principal, Merchant):
            await self._admit(principal, lambda m: m.user_id)
        else:
            await self._admit(principal, lambda i: i.id)

    async def _admit(
        self, principal: PrincipalT | None, account: Callable[[PrincipalT], str]
    ) -> PrincipalT:
        """No principal is 401; a known one counts against its account's rate limit."""
        if principal is None:
            raise Unauthorized()
        if self.account_limiter is not None:
            await self.account_limiter.hit(account(principal))
        return principal


def get_context(request: Request) -> AppContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


def bearer_token(request: Request) -> str | None:
    return bearer_token_of(request.headers.get("authorization"))


def bearer_token_of(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` value; "" when malformed, None when absent."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return ""
    return token.strip()


async def read_json(request: Request) -> Any:
    """The body as JSON with exact decimals, refused (422, nothing read further) when it is
    malformed, nested deeper than `jsonutil.MAX_DEPTH`, or holds a string no database stores
    (a NUL character or a lone surrogate)."""
    raw = await request.body()
    if not raw.strip():
        raise ValidationFailed("The request body must be a JSON object")
    try:
        payload = jsonutil.loads(raw, max_depth=jsonutil.MAX_DEPTH)
    except jsonutil.JSONDecodeError as exc:
        raise ValidationFailed(f"The request body is not valid JSON: {exc}") from exc
    bad = parsing.unstorable_text(payload) if parsing.may_hold_unstorable(raw) else None
    if bad is not None:
        raise ValidationFailed(
            "Text must not contain NUL characters or lone surrogates",
            fields=[
                FieldError(bad, "wrong_value", "NUL characters and lone surrogates are refused")
            ],
        )
    return payload


async def read_model(request: Request, model: type[ModelT]) -> ModelT:
    """Parse the body with exact decimals and validate it; errors become the API envelope."""
    payload = await read_json(request)
    if not isinstance(payload, dict):
        raise ValidationFailed(
            "The request body must be a JSON object",
            fields=[FieldError("body", "wrong_value", f"got a JSON {type(payload).__name__}")],
        )
    return validate_model(model, payload)


def validate_model(model: type[ModelT], payload: dict[str, Any]) -> ModelT:
    """Validate an already parsed JSON object; errors become the API envelope."""
    try:
        return model.model_validate(payload)
    except PydanticValidationError as exc:
        raise ValidationFailed("Validation error", fields=pydantic_fields(exc)) from exc


def pydantic_fields(exc: PydanticValidationError) -> list[FieldError]:
    fields = []
    for err in exc.errors(include_url=False):
        parts = [str(p) for p in err["loc"] if not str(p).startswith(("function-", "constrained-"))]
        name = ""
        for part in parts:
            name += f"[{part}]" if parsing.is_ascii_digits(part) else (f".{part}" if name else part)
        code = "required" if err["type"] == "missing" else "wrong_value"
        fields.append(FieldError(name or "body", code, err["msg"]))
    return fields
