"""A real shop endpoint for dispatcher tests: an aiohttp server on 127.0.0.1, a free port.

It records every request (method, path, headers, raw body) and answers from a script:

    async with Receiver() as shop:
        shop.script(Reply.error("out_of_service"), Reply.http(500))   # then the default
        shop.script_for(order_id, Reply.error("shipping_unavailable"))
        ...
        await shop.wait_for_requests(3)

Which reply a request gets: `responder(request)` if set; else the next reply scripted for the
notification id in the body; else the next reply of the shared script; else `default`
(success). A reply may be delayed, or hang until `release()` or `stop()`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from marketbox import jsonutil

SUCCESS = b'{"status":"success"}'
FOREVER = float("inf")


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = SUCCESS
    # Seconds to wait before answering; FOREVER waits for release()/stop().
    delay: float = 0.0
    content_type: str = "application/json"

    @classmethod
    def success(cls) -> Reply:
        return cls()

    @classmethod
    def error(cls, code: str | None = None, message: str | None = None) -> Reply:
        payload: dict[str, str] = {"status": "error"}
        if code is not None:
            payload["code"] = code
        if message is not None:
            payload["message"] = message
        return cls(body=json.dumps(payload, ensure_ascii=False).encode())

    @classmethod
    def http(cls, status: int, body: bytes = b"Internal Server Error") -> Reply:
        return cls(status=status, body=body, content_type="text/plain")

    @classmethod
    def invalid_json(cls) -> Reply:
        return cls(body=b"<html>OK</html>", content_type="text/html")

    @classmethod
    def slow(cls, seconds: float, then: Reply | None = None) -> Reply:
        base = then or cls()
        return cls(
            status=base.status, body=base.body, delay=seconds, content_type=base.content_type
        )

    @classmethod
    def hang(cls) -> Reply:
        return cls(delay=FOREVER)


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return jsonutil.loads(self.body)

    @property
    def notification_id(self) -> str | None:
        try:
            value = json.loads(self.body).get("id")
        except (ValueError, AttributeError):
            return None
        return value if isinstance(value, str) else None


class Receiver:
    def __init__(self, *, default: Reply | None = None, path: str = "/notify") -> None:
        self.default = default or Reply.success()
        self.path = path
        self.requests: list[Received] = []
        self.responder: Callable[[Received], Reply] | None = None
        self._script: deque[Reply] = deque()
        self._scripts_by_id: dict[str, deque[Reply]] = {}
        self._released = asyncio.Event()
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- scripting -------------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        self._script.extend(replies)

    def script_for(self, notification_id: str, *replies: Reply) -> None:
        self._scripts_by_id.setdefault(notification_id, deque()).extend(replies)

    def release(self) -> None:
        """Answer every request that is waiting (hung or delayed) now."""
        self._released.set()

    # -- observing -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def bodies(self) -> list[bytes]:
        return [r.body for r in self.requests]

    def count_by_id(self) -> Counter[str | None]:
        return Counter(r.notification_id for r in self.requests)

    async def wait_for_requests(self, count: int, timeout: float = 30.0) -> list[Received]:
        async with asyncio.timeout(timeout):
            async with self._arrived:
                await self._arrived.wait_for(lambda: len(self.requests) >= count)
        return list(self.requests)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Receiver:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _handle(self, request: web.Request) -> web.Response:
        received = Received(
            method=request.method,
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.read(),
        )
        reply = self._reply_for(received)
        async with self._arrived:
            self.requests.append(received)
            self._arrived.notify_all()
        if reply.delay:
            timeout = None if reply.delay == FOREVER else reply.delay
            try:
                await asyncio.wait_for(self._released.wait(), timeout)
            except TimeoutError:
                pass
        return web.Response(status=reply.status, body=reply.body, content_type=reply.content_type)

    def _reply_for(self, received: Received) -> Reply:
        if self.responder is not None:
            return self.responder(received)
        own = self._scripts_by_id.get(received.notification_id or "")
        if own:
            return own.popleft()
        if self._script:
            return self._script.popleft()
        return self.default
