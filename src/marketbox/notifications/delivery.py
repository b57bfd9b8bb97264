"""One HTTP delivery of a stored notification, and what the shop's reply means.

The request carries the frozen body bytes exactly as the outbox wrote them and the signature the
dispatcher made when it claimed them (notifications.md §1, §3; `X-Signature-Next` as well during
a key rotation's overlap). The reply is judged by notifications.md §5:

    HTTP 200 + {"status":"success"}                      -> success
    HTTP 200 + {"status":"error","code":<final code>}    -> rejected (no retry)
    HTTP 200 + error with out_of_service / no / unknown code -> retry
    any other status, a body that is not JSON, a redirect,
    a timeout or a connection error                      -> retry
    production: the URL's host is, or resolves to, a
    private/loopback/link-local/reserved address         -> rejected (no retry, nothing sent)

One shared aiohttp ClientSession (one connection pool) serves every delivery of a dispatcher.
In production its connector resolves names through `netguard.GuardedResolver`, so the address
checked is the address connected to (a name re-pointed at 127.0.0.1 after it was saved is
refused too).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import aiohttp
import yarl

from marketbox import __version__, clock, netguard

Outcome = Literal["success", "retry", "rejected"]

# Error codes after which the platform stops retrying (notifications.md §5).
FINAL_CODES = frozenset(
    {
        "order_wrong_amount",
        "order_already_paid",
        "order_not_found",
        "shipping_unavailable",
        "signature_error",
        "order_wrong_status",
    }
)
DEFAULT_ERROR_CODE = "out_of_service"
USER_AGENT = f"marketbox/{__version__}"
# Replies are kept for the delivery log; a shop's reply is tiny, anything longer is cut.
MAX_STORED_REPLY = 2048
MAX_READ_REPLY = 64 * 1024
# The reply's headers kept with it: at most this many, each value cut to this length.
MAX_STORED_HEADERS = 50
MAX_STORED_HEADER_VALUE = 500
# Parsed URLs kept per deliverer (a dispatcher sends to a few shops' URLs over and over).
MAX_PARSED_URLS = 1024


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a reply means, before any bookkeeping."""

    outcome: Outcome
    reply_code: str | None = None
    error: str | None = None
    # What happened, as one word (metrics.DELIVERY_RESULTS): delivered, rejected, blocked,
    # shop_error, http_error, bad_reply, timeout, connection_error.
    reason: str = "delivered"


_SUCCESS = Verdict("success")


# Not frozen: a frozen dataclass sets each field through object.__setattr__, and one of these is
# made per delivery (bench/: 2.5 us of ~3.6).
@dataclass(slots=True)
class DeliveryResult:
    outcome: Outcome
    started_at: datetime
    duration_ms: int
    http_status: int | None
    response_body: str | None
    reply_code: str | None
    error: str | None
    reason: str = "delivered"
    # The exact request (the body is the notification's own) and the reply's headers.
    url: str | None = None
    request_headers: dict[str, str] | None = None
    response_headers: dict[str, str] | None = None


def classify(http_status: int, body: bytes) -> Verdict:
    """Judge a shop's reply (notifications.md §5). Pure: no I/O."""
    if http_status != 200:
        return Verdict("retry", error=f"HTTP {http_status}", reason="http_error")
    try:
        reply = json.loads(body)
    except ValueError:
        return Verdict("retry", error="reply is not valid JSON", reason="bad_reply")
    if not isinstance(reply, dict):
        return Verdict("retry", error="reply is not a JSON object", reason="bad_reply")
    status = reply.get("status")
    if status == "success":
        return _SUCCESS
    if status == "error":
        code = reply.get("code")
        if not isinstance(code, str) or not code:
            code = DEFAULT_ERROR_CODE
        if code in FINAL_CODES:
            return Verdict("rejected", reply_code=code, reason="rejected")
        return Verdict("retry", reply_code=code, error=f"shop replied {code}", reason="shop_error")
    return Verdict("retry", error=f"unexpected reply status {status!r}", reason="bad_reply")


class Deliverer:
    """POSTs notification bodies through one shared connection pool.

    The session is created on first use, inside the running event loop; `close()` ends it.
    """

    def __init__(
        self,
        *,
        timeout_seconds: float,
        max_connections: int,
        block_private_networks: bool = False,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.max_connections = max_connections
        self.block_private_networks = block_private_networks
        self._default_timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[str, yarl.URL] = {}

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.max_connections,
                limit_per_host=0,
                ttl_dns_cache=300,
                resolver=netguard.GuardedResolver() if self.block_private_networks else None,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._default_timeout,
                headers={"User-Agent": USER_AGENT},
                # Shops answer with JSON; never let a reply's cookies leak between shops.
                cookie_jar=aiohttp.DummyCookieJar(),
                raise_for_status=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def post(
        self,
        url: str,
        body: bytes,
        signature: str,
        *,
        request_id: str,
        timeout_seconds: float | None = None,
        signature_next: str | None = None,
    ) -> DeliveryResult:
        """One attempt; never raises for anything the network or the shop does.

        `signature_next`: the new key's signature during a key rotation's overlap, sent as
        `X-Signature-Next` beside the previous key's `X-Signature` (docs/notifications.md).
        """
        session = self._get_session()
        parsed = self._urls.get(url)
        headers = {
            "Content-Type": "application/json",
            "X-Signature": signature,
            "X-Request-Id": request_id,
        }
        response_headers: dict[str, str] | None = None
        if signature_next is not None:
            headers["X-Signature-Next"] = signature_next
        timeout = self.timeout_seconds if timeout_seconds is None else timeout_seconds
        started_at = clock.now()
        started = time.monotonic()
        http_status: int | None = None
        reply: bytes | None = None
        try:
            if parsed is None:
                parsed = self._parsed(url)
            if self.block_private_networks:
                # IP literals never reach the resolver: check them here.
                netguard.check_host_literal(parsed.host or "")
            async with session.post(
                parsed,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=self._default_timeout
                if timeout == self.timeout_seconds
                else aiohttp.ClientTimeout(total=timeout),
            ) as response:
                http_status = response.status
                response_headers = _stored_headers(response.headers.items())
                reply = await _read_limited(response)
        except netguard.BlockedAddress as exc:
            verdict = _blocked(exc)
        except TimeoutError:
            verdict = Verdict("retry", error=f"no reply within {timeout:g} s", reason="timeout")
        except aiohttp.ClientError as exc:
            blocked = netguard.blocked_cause(exc)
            if blocked is not None:
                verdict = _blocked(blocked)
            else:
                verdict = _unreachable(exc)
        except (ValueError, OSError) as exc:  # an unusable URL, a socket error outside aiohttp
            verdict = _unreachable(exc)
        else:
            verdict = classify(http_status, reply)
        return DeliveryResult(
            outcome=verdict.outcome,
            started_at=started_at,
            duration_ms=int((time.monotonic() - started) * 1000),
            http_status=http_status,
            response_body=_stored_reply(reply),
            reply_code=verdict.reply_code,
            error=verdict.error,
            reason=verdict.reason,
            url=url,
            request_headers={"User-Agent": USER_AGENT, **headers},
            response_headers=response_headers,
        )

    def _parsed(self, url: str) -> yarl.URL:
        """The URL parsed once (yarl.URL is immutable), as aiohttp would parse the string."""
        if len(self._urls) >= MAX_PARSED_URLS:
            self._urls.clear()
        parsed = self._urls[url] = yarl.URL(url)
        return parsed


def _blocked(exc: netguard.BlockedAddress) -> Verdict:
    # Final: retrying cannot help until the merchant fixes the URL (or its DNS).
    return Verdict("rejected", error=f"blocked in production mode: {exc}"[:500], reason="blocked")


def _unreachable(exc: Exception) -> Verdict:
    return Verdict("retry", error=f"{type(exc).__name__}: {exc}"[:500], reason="connection_error")


async def _read_limited(response: aiohttp.ClientResponse) -> bytes:
    if response.content_length is not None and response.content_length <= MAX_READ_REPLY:
        return await response.read()
    chunks: list[bytes] = []
    size = 0
    while size < MAX_READ_REPLY:
        chunk = await response.content.read(MAX_READ_REPLY - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _stored_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The reply's headers as one JSON object; a repeated name keeps its values joined.

    aiohttp hands bytes that are not UTF-8 over as lone surrogates, which no database text
    column takes: they become U+FFFD, as in the stored reply body, so the attempt is recorded.
    """
    kept: dict[str, str] = {}
    for name, value in items:
        if not value.isascii():
            value = _text(value)
        if not name.isascii():
            name = _text(name)
        if name in kept:
            kept[name] = f"{kept[name]}, {value}"[:MAX_STORED_HEADER_VALUE]
        elif len(kept) < MAX_STORED_HEADERS:
            kept[name] = value[:MAX_STORED_HEADER_VALUE]
    return kept


def _text(value: str) -> str:
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _stored_reply(reply: bytes | None) -> str | None:
    if reply is None:
        return None
    return reply[:MAX_STORED_REPLY].decode("utf-8", errors="replace")
