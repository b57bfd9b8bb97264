"""`marketbox listen`: the gate's client on a developer's machine, like `stripe listen`.

It connects to `/v3/gate/rpc?token=…`, prints every `onOrderStatusChange` as it arrives,
forwards the order to a local URL exactly as the dispatcher would (the same body bytes,
`X-Signature` under the merchant's key), prints the local answer and returns it to the gate
as the call's result. It answers `getStatus` with its version and its latest log lines. A lost
connection is retried with growing pauses (1 s doubling to 30 s), and says so; a refused token
ends it.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from marketbox import __version__, jsonutil
from marketbox.gate import rpc
from marketbox.security import signing

FORWARD_TIMEOUT_SECONDS = 20  # as long as the platform waits for a shop (notifications.md §6)
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0
LOG_LINES = 200


class TokenRefused(Exception):
    """The gate closed the connection with 4401: the token is unknown."""


@dataclass
class Listener:
    base_url: str
    token: str
    forward_to: str | None
    signing_key: str | None
    algorithm: str = signing.DEFAULT_ALGORITHM
    as_json: bool = False
    out: Callable[[str], None] = print

    def __post_init__(self) -> None:
        self.log: deque[str] = deque(maxlen=LOG_LINES)

    @property
    def gate_url(self) -> str:
        base = self.base_url.rstrip("/")
        scheme, _, rest = base.partition("://")
        ws_scheme = "wss" if scheme == "https" else "ws"
        return f"{ws_scheme}://{rest}/v3/gate/rpc?{urlencode({'token': self.token})}"

    def say(self, line: str) -> None:
        self.log.append(f"{datetime.now(UTC):%H:%M:%S} {line}")
        self.out(line)

    async def run(self, max_attempts: int | None = None) -> None:
        """Connect, serve, reconnect; until interrupted (or `max_attempts` connections)."""
        import websockets

        pause = BACKOFF_FIRST_SECONDS
        attempt = 0
        shown = self.gate_url.split("?", 1)[0]
        async with httpx.AsyncClient(timeout=FORWARD_TIMEOUT_SECONDS) as http:
            while max_attempts is None or attempt < max_attempts:
                attempt += 1
                try:
                    async with websockets.connect(self.gate_url, max_size=2**24) as ws:
                        self.say(f"marketbox: listening on {shown} (Ctrl-C to stop)")
                        pause = BACKOFF_FIRST_SECONDS
                        async for frame in ws:
                            reply = await self.handle(http, frame)
                            if reply is not None:
                                await ws.send(reply)
                except websockets.ConnectionClosed as exc:
                    if exc.rcvd is not None and exc.rcvd.code == rpc.CLOSE_UNAUTHORIZED:
                        raise TokenRefused(f"the gate refused the token ({shown})") from exc
                    reason = f"connection closed ({exc.rcvd.code if exc.rcvd else 'no code'})"
                except (OSError, websockets.InvalidHandshake, TimeoutError) as exc:
                    reason = f"cannot connect to {shown}: {exc}"
                else:
                    reason = "connection closed"
                self.say(f"marketbox: {reason}; reconnecting in {pause:g} s")
                await asyncio.sleep(pause)
                pause = min(pause * 2, BACKOFF_MAX_SECONDS)

    async def handle(self, http: httpx.AsyncClient, frame: str | bytes) -> str | None:
        """One frame from the gate; returns the frame to answer with, if any."""
        message = rpc.parse(frame)
        if not isinstance(message, rpc.Call) or message.id is None:
            return None
        if message.method == rpc.GET_STATUS:
            params = message.params if isinstance(message.params, dict) else {}
            wanted = params.get("logQuantity", rpc.DEFAULT_LOG_QUANTITY)
            count = wanted if isinstance(wanted, int) and wanted >= 0 else rpc.DEFAULT_LOG_QUANTITY
            return rpc.result(message.id, self.status(count))
        if message.method != rpc.ON_ORDER_STATUS_CHANGE:
            return rpc.error(message.id, rpc.METHOD_NOT_FOUND, "Method not found")
        if not isinstance(message.params, list) or len(message.params) != 1:
            return rpc.error(message.id, -32602, "Invalid params")
        # The gate puts the outbox's body into params byte for byte (gate/rpc.py); the same
        # serializer gives back those bytes, so the signature is the dispatcher's.
        order = message.params[0]
        body = jsonutil.dumps_php(order)
        if self.as_json:
            self.out(body.decode())
        else:
            self.say(describe(order))
        answer: Any = {"status": "success"}
        if self.forward_to:
            answer = await self.forward(http, body)
        return rpc.result(message.id, answer)

    async def forward(self, http: httpx.AsyncClient, body: bytes) -> Any:
        headers = {"Content-Type": "application/json", "User-Agent": f"marketbox/{__version__}"}
        if self.signing_key:
            headers["X-Signature"] = signing.sign(body, self.signing_key, self.algorithm)
        started = time.monotonic()
        try:
            response = await http.post(self.forward_to or "", content=body, headers=headers)
        except httpx.HTTPError as exc:
            self.say(f"  -> POST {self.forward_to}: no answer ({type(exc).__name__}: {exc})")
            return {"status": "error", "code": "out_of_service"}
        took = (time.monotonic() - started) * 1000
        text = response.text.strip().replace("\n", " ")[:200]
        self.say(f"  -> POST {self.forward_to} [{response.status_code}] {text} ({took:.0f} ms)")
        try:
            reply = response.json()
        except ValueError:
            reply = None
        if response.status_code != 200 or not isinstance(reply, dict):
            return {"status": "error", "code": "out_of_service"}
        return reply

    def status(self, log_quantity: int) -> dict[str, Any]:
        lines = list(self.log)[-log_quantity:] if log_quantity else []
        return {
            "version": __version__,
            "type": "marketbox-listen",
            "settings": {"forwardTo": self.forward_to, "signed": bool(self.signing_key)},
            "log": lines,
        }


def describe(order: dict[str, Any]) -> str:
    """One line about an order event."""
    shop_id = order.get("merchantOrderId") or "-"
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S}  onOrderStatusChange  order {order.get('id')}  "
        f"{order.get('status')}  {order.get('amount')} {order.get('currencyId')}  "
        f"merchantOrderId {shop_id}"
    )


def main_loop(listener: Listener) -> int:
    try:
        asyncio.run(listener.run())
    except TokenRefused as exc:
        print(f"marketbox: error: {exc}", file=sys.stderr)
        return 1
    return 0
