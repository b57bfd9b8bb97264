"""`Idempotency-Key` on every mutating /v3 call (our extension, Stripe's semantics).

A POST, PUT, PATCH or DELETE under /v3 with the header, from a known merchant or instrument:

* first time: the key is claimed in the database (storage/idempotency.py: insert first, the
  primary key lets one racing request win), the request runs, and its answer is stored when it
  is a 2xx or a 4xx other than 429; a 5xx or a 429 releases the key, so a retry with it runs;
* the same key, account, method, path, query, body (and `X-Signature`) again: the stored
  status, headers and body, plus `Idempotent-Replayed: true`; nothing runs;
* the same key for a different request: 422 `idempotency_key_reused`;
* the same key while the first request still runs: 409 `idempotency_key_in_use`.

Keys belong to the account (merchant or instrument), are 1 to 255 printable ASCII characters
and are kept at least `store.KEEP` (24 h; the worker purges older ones). A request without
the header, or without a known token (the route then answers 401), passes straight through:
no database access, no buffering.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marketbox import clock
from marketbox.errors import AppError, Conflict, FieldError, RateLimited, ValidationFailed
from marketbox.merchants.service import Instrument, Merchant
from marketbox.storage import idempotency as store
from marketbox.web.context import AppContext, bearer_token_of
from marketbox.web.envelope import JSONResponse

log = logging.getLogger("marketbox.web")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_KEY_LENGTH = 255
_HEADER_NAME = HEADER.lower().encode()
_KEY_RE = re.compile(rf"[\x20-\x7e]{{1,{MAX_KEY_LENGTH}}}")


def stored_status(status: int) -> bool:
    """2xx and 4xx answers are kept; a 5xx is not, nor a 429 (nothing ran: retry the key)."""
    return 200 <= status < 300 or (400 <= status < 500 and status != 429)


class IdempotencyKeyReused(ValidationFailed):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was already used for a different request"


class IdempotencyKeyInUse(Conflict):
    code = "idempotency_key_in_use"
    message = "A request with this Idempotency-Key is still being processed; retry shortly"


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in MUTATING
            or not scope["path"].startswith("/v3/")
        ):
            await self.app(scope, receive, send)
            return
        values = [value for name, value in scope["headers"] if name == _HEADER_NAME]
        if not values:
            await self.app(scope, receive, send)
            return
        try:
            key = _parse_key(values)
        except AppError as exc:
            await _respond(exc, scope, receive, send)
            return
        ctx: AppContext = scope["app"].state.ctx
        principal = await _principal(ctx, scope)
        if principal is None:  # no or unknown token: the route answers 401, nothing to keep
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:  # the client left before sending its body: nothing runs
            return
        await _KeyedCall(self.app, ctx, scope, principal, key, body).run(receive, send)


class _KeyedCall:
    """One request carrying a key, from its claim to its stored (or released) answer."""

    def __init__(
        self,
        app: ASGIApp,
        ctx: AppContext,
        scope: Scope,
        principal: Merchant | Instrument,
        key: str,
        body: bytes,
    ) -> None:
        self.app = app
        self.ctx = ctx
        self.scope = scope
        self.principal = principal
        kind = "merchant" if isinstance(principal, Merchant) else "instrument"
        self.account = f"{kind}:{principal.id}"
        self.key = key
        self.body = body
        self.token = secrets.token_hex(16)
        self.fingerprint = _fingerprint(scope, body)

    async def run(self, receive: Receive, send: Send) -> None:
        async with self.ctx.db.statement() as conn:
            held_by_another = await store.claim(
                conn,
                account=self.account,
                key=self.key,
                fingerprint=self.fingerprint,
                method=self.scope["method"],
                path=self.scope["path"],
                token=self.token,
                now=clock.now(),
                lease=store.LEASE,
            )
        if held_by_another is not None:
            await self._answer_for(held_by_another, receive, send)
            return

        fed = False
        start: Message | None = None
        chunks: list[bytes] = []

        async def buffered_receive() -> Message:
            nonlocal fed
            if not fed:
                fed = True
                return {"type": "http.request", "body": self.body, "more_body": False}
            return await receive()

        async def buffering_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self.app(self.scope, buffered_receive, buffering_send)
        except BaseException:  # the 500 (or a cancellation): the key is free again
            await self._release()
            raise
        if start is None:
            await self._release()
            return
        content = b"".join(chunks)
        # Stored before the client sees the answer, so its next retry finds it.
        if stored_status(int(start["status"])):
            await self._finish(int(start["status"]), start.get("headers", []), content)
        else:
            await self._release()
        await send(start)
        await send({"type": "http.response.body", "body": content, "more_body": False})

    async def _answer_for(self, stored: store.StoredKey, receive: Receive, send: Send) -> None:
        """Replay, 422 or 409, answered here: counted against the account's limit here."""
        try:
            await self.ctx.admit(self.principal)
        except RateLimited as exc:
            await _respond(exc, self.scope, receive, send)
            return
        if stored.fingerprint != self.fingerprint:
            reused = IdempotencyKeyReused(
                f"This Idempotency-Key was already used for {stored.method} {stored.path} "
                "with other parameters; send a new key with a new request",
                fields=[FieldError(HEADER, "wrong_value", "used for another request")],
            )
            await _respond(reused, self.scope, receive, send)
            return
        if stored.status is None:
            await _respond(
                IdempotencyKeyInUse(headers={"Retry-After": "1"}), self.scope, receive, send
            )
            return
        content = stored.body or b""
        headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in stored.headers or []]
        headers += [
            (b"content-length", str(len(content)).encode()),
            (REPLAYED_HEADER.lower().encode(), b"true"),
        ]
        await send({"type": "http.response.start", "status": stored.status, "headers": headers})
        await send({"type": "http.response.body", "body": content, "more_body": False})

    async def _finish(
        self, status: int, raw_headers: list[tuple[bytes, bytes]], body: bytes
    ) -> None:
        headers = [
            [name.decode("latin-1"), value.decode("latin-1")]
            for name, value in raw_headers
            if name.lower() != b"content-length"
        ]
        try:
            async with self.ctx.db.statement() as conn:
                kept = await store.finish(
                    conn,
                    account=self.account,
                    key=self.key,
                    token=self.token,
                    status=status,
                    headers=headers,
                    body=body,
                )
        except Exception:
            # The work is done and the client still gets its answer; the claim stays in flight
            # until store.LEASE ends, after which a retry runs again.
            log.exception("could not store the answer for an idempotency key (%s)", self.account)
            return
        if not kept:
            log.warning(
                "idempotency key claim lost before its answer was stored (%s)", self.account
            )

    async def _release(self) -> None:
        """Drop our claim; shielded, so a cancelled request still frees its key."""

        async def release() -> None:
            async with self.ctx.db.statement() as conn:
                await store.release(conn, account=self.account, key=self.key, token=self.token)

        try:
            await asyncio.shield(release())
        except BaseException:  # the claim then lapses after store.LEASE
            log.exception("could not release an idempotency key (%s)", self.account)


def _parse_key(values: list[bytes]) -> str:
    if len(values) != 1:
        raise _bad_key("send one Idempotency-Key header")
    key = values[0].decode("latin-1")
    if _KEY_RE.fullmatch(key) is None or not key.strip():
        raise _bad_key(f"1 to {MAX_KEY_LENGTH} printable ASCII characters")
    return key


def _bad_key(message: str) -> ValidationFailed:
    return ValidationFailed(
        "Invalid Idempotency-Key header", fields=[FieldError(HEADER, "wrong_value", message)]
    )


async def _principal(ctx: AppContext, scope: Scope) -> Merchant | Instrument | None:
    """The merchant or instrument of the Bearer token, as the routes resolve it: the token
    cache first, a short connection of its own on a miss."""
    header = next((v for n, v in scope["headers"] if n == b"authorization"), None)
    token = bearer_token_of(header.decode("latin-1") if header is not None else None)
    if not token:
        return None
    found, merchant = await ctx.tokens.cached_merchant(token)
    if found and merchant is not None:
        return merchant
    async with ctx.db.read() as conn:
        merchant = await ctx.tokens.merchant_for_token(conn, token)
        if merchant is not None:
            return merchant
        return await ctx.tokens.instrument_for_token(conn, token)


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body (BodySizeLimitMiddleware, outside us, bounds it); None on a disconnect."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _fingerprint(scope: Scope, body: bytes) -> str:
    """What makes two requests "the same": method, path, query, X-Signature and body."""
    signature = b"\n".join(value for name, value in scope["headers"] if name == b"x-signature")
    digest = hashlib.sha256()
    for part in (
        scope["method"].encode(),
        scope["path"].encode("utf-8", "surrogateescape"),
        scope.get("query_string", b""),
        signature,
        body,
    ):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


async def _respond(exc: AppError, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse(exc.envelope(), status_code=exc.status, headers=exc.headers)
    await response(scope, receive, send)
