"""The outbox's live events: tell every API process that an outbox row was committed (for
the WebSocket gate, gate/hub.py).

An event is only a pointer, `{"notification": <outbox id>, "merchant": <merchant id>}`; the
process that holds a client of that merchant reads the row itself (gate/hub.py), so the
outbox stays the one source of truth and an event never carries more than the database has
committed.

Which bus a deployment uses (docs/gate.md):

* `MARKETBOX_REDIS_URL` set: Redis pub/sub on the channel `<prefix>:gate`, published after the
  commit (storage.db.after_commit);
* otherwise PostgreSQL: `pg_notify('marketbox_gate', …)` inside the writing transaction, which
  PostgreSQL delivers to every `LISTEN`ing process when (and only if) it commits;
* otherwise (SQLite, one process): this process's memory, after the commit.

Events are best effort: a process that is down, or a client that is not connected, misses
them. Nothing is lost for the shop: the HTTP notification is still delivered from the outbox,
and a client that reconnects reads the orders' status through the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.storage.db import after_commit

log = logging.getLogger(__name__)

PG_CHANNEL = "marketbox_gate"
RECONNECT_SECONDS = 1.0
QUEUE_SIZE = 10_000


@dataclass(frozen=True)
class Event:
    """An outbox row was committed for this merchant."""

    notification_id: str
    merchant_id: str

    def encode(self) -> str:
        return json.dumps({"notification": self.notification_id, "merchant": self.merchant_id})

    @classmethod
    def decode(cls, raw: str | bytes) -> Event | None:
        try:
            data = json.loads(raw)
            return cls(str(data["notification"]), str(data["merchant"]))
        except (ValueError, KeyError, TypeError):
            log.warning("gate: ignored a malformed event %r", raw)
            return None


Handler = Callable[[Event], Awaitable[None]]


class Bus:
    """Publishes events and hands the events of every process to `handler`."""

    kind = "memory"

    def __init__(self) -> None:
        self._handlers: list[Handler] = []
        # Events are handled one at a time, in the order they arrived, by one task: neither
        # the request that published one nor the subscription waits for a slow client.
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._consumer: asyncio.Task[None] | None = None

    async def announce(self, conn: AsyncConnection, events: list[Event]) -> None:
        """Called in the writing transaction: publish `events` once it commits."""

        async def publish() -> None:
            await self.publish(events)

        after_commit(conn, publish)

    def in_statement(self, conn: AsyncConnection, events: list[Event]) -> list[tuple[str, str]]:
        """Like `announce`, for a writer that runs the statement itself: the
        `pg_notify(channel, payload)` calls to make in the writing transaction (none: the
        events are published after the commit)."""
        after_commit(conn, lambda: self.publish(events))
        return []

    async def publish(self, events: list[Event]) -> None:
        for event in events:
            self.dispatch_soon(event)

    def dispatch_soon(self, event: Event) -> None:
        if self._consumer is None:
            return  # nobody here listens
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("gate: %d events waiting; dropped %s", QUEUE_SIZE, event)

    async def _consume(self) -> None:
        while True:
            event = await self._queue.get()
            for handler in list(self._handlers):
                try:
                    await handler(event)
                except Exception:  # one client's trouble must not stop the others
                    log.exception("gate: handling event %s failed", event)

    async def start(self, handler: Handler) -> None:
        """Receive every event (of every process) from now on."""
        self._handlers.append(handler)
        if self._consumer is None:
            self._consumer = asyncio.create_task(self._consume())

    async def close(self) -> None:
        self._handlers.clear()
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer
            self._consumer = None


class RedisBus(Bus):
    kind = "redis"

    def __init__(self, redis_url: str, key_prefix: str) -> None:
        super().__init__()
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.Redis.from_url(redis_url)
        self.channel = f"{key_prefix}:gate"
        self._task: asyncio.Task[None] | None = None

    async def publish(self, events: list[Event]) -> None:
        for event in events:
            try:
                await self._redis.publish(self.channel, event.encode())
            except Exception as exc:  # redis.RedisError, OSError: the outbox still has it
                log.error("gate: could not publish %s to Redis: %s", event, exc)

    async def start(self, handler: Handler) -> None:
        await super().start(handler)
        if self._task is None:
            ready = asyncio.Event()
            self._task = asyncio.create_task(self._listen(ready))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), 5)

    async def _listen(self, ready: asyncio.Event) -> None:
        while True:
            try:
                pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(self.channel)
                ready.set()
                async for message in pubsub.listen():
                    event = Event.decode(message["data"])
                    if event is not None:
                        self.dispatch_soon(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("gate: Redis subscription lost (%s); again in 1 s", exc)
                await asyncio.sleep(RECONNECT_SECONDS)

    async def close(self) -> None:
        await super().close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()


class PostgresBus(Bus):
    kind = "postgresql"

    def __init__(self, database_url: str) -> None:
        super().__init__()
        self._dsn = make_url(database_url).set(drivername="postgresql")
        self._conn: Any = None

    async def announce(self, conn: AsyncConnection, events: list[Event]) -> None:
        await pg_notify(conn, events)

    def in_statement(self, conn: AsyncConnection, events: list[Event]) -> list[tuple[str, str]]:
        return _pg_notifications(events)

    async def publish(self, events: list[Event]) -> None:
        raise NotImplementedError("PostgreSQL events are sent in the writing transaction")

    async def start(self, handler: Handler) -> None:
        await super().start(handler)
        if self._conn is None:
            import asyncpg  # type: ignore[import-untyped]

            self._conn = await asyncpg.connect(
                self._dsn.render_as_string(hide_password=False), timeout=10
            )
            await self._conn.add_listener(PG_CHANNEL, self._on_notify)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        event = Event.decode(payload)
        if event is not None:
            self.dispatch_soon(event)

    async def close(self) -> None:
        await super().close()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close(timeout=5)
            self._conn = None


_PG_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


async def pg_notify(conn: AsyncConnection, events: Iterable[Event]) -> None:
    for channel, payload in _pg_notifications(events):
        await conn.execute(_PG_NOTIFY, {"channel": channel, "payload": payload})


def _pg_notifications(events: Iterable[Event]) -> list[tuple[str, str]]:
    return [(PG_CHANNEL, event.encode()) for event in events]


def create_bus(database_url: str, redis_url: str | None, key_prefix: str) -> Bus:
    """The bus this deployment's settings call for (module docstring)."""
    if redis_url:
        return RedisBus(redis_url, key_prefix)
    if make_url(database_url).get_backend_name() == "postgresql":
        return PostgresBus(database_url)
    return Bus()


# The bus of this process, which `announce` publishes to (installed by the app and the worker).
_installed: Bus | None = None


def install(bus: Bus | None) -> None:
    global _installed
    _installed = bus


async def announce(conn: AsyncConnection, events: list[Event]) -> None:
    """Publish `events` to every API process once the caller's transaction commits.

    Without an installed bus (a CLI command) on PostgreSQL, `pg_notify` still reaches the
    API processes; on SQLite there is nobody else to tell."""
    if not events:
        return
    if _installed is not None:
        await _installed.announce(conn, events)
    elif conn.dialect.name == "postgresql":
        await pg_notify(conn, events)


def in_statement(conn: AsyncConnection, events: list[Event]) -> list[tuple[str, str]]:
    """`announce` for a writer that runs the statement itself (storage/together.py): the
    `pg_notify(channel, payload)` calls its statement must make; the other buses publish
    after the commit, as `announce` has them do."""
    if not events:
        return []
    if _installed is not None:
        return _installed.in_statement(conn, events)
    if conn.dialect.name == "postgresql":
        return _pg_notifications(events)
    return []
