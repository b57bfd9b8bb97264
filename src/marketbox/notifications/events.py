"""The outbox's live events: tell every API process that an outbox row was committed (for
the WebSocket gate, gate/hub.py).

An event is only a pointer, `{"notification": <outbox id>, "merchant": <merchant id>}`; the
process that holds a client of that merchant reads the row itself (gate/hub.py), so the
outbox stays the one source of truth and an event never carries more than the database has
committed.

Which bus a deployment uses (docs/gate.md):

* `MARKETBOX_REDIS_URL` set: Redis pub/sub on the channel `<prefix>:gate`, published after the
  commit (storage.db.after_commit);
* otherwise PostgreSQL: `pg_notify('marketbox_gate', …)` after the commit, from one connection
  of this process that sends whatever events are waiting in one statement (PostgresBus below);
* otherwise (SQLite, one process): this process's memory, after the commit.

Events are best effort: a process that is down, or a client that is not connected, misses
them. Nothing is lost for the shop: the HTTP notification is still delivered from the outbox,
and a client that reconnects reads the orders' status through the API.
"""

from __future__ import annotations

import asyncio
import collections
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
    """LISTEN/NOTIFY. Events are sent after the writing transaction has committed, not in it.

    PostgreSQL serialises the commits of every transaction that notifies: such a commit holds
    a cluster-wide lock until its WAL record is flushed to disk, so payments that notified in
    their own transaction committed one at a time, each waiting out the previous one's fsync
    (bench/: a third of the confirmation's connections waited on that lock). Here the paying
    transaction commits like any other (PostgreSQL flushes concurrent commits together), and
    one task of this process sends the events waiting by then in one statement on a
    connection of its own, whose commits do not wait for the flush (`synchronous_commit`
    off: the statement only notifies, and a listener hears nothing before its commit
    anyway). A payment that rolls back announces nothing, as before; a process stopped
    between the commit and the send loses that event (best effort, module docstring).
    """

    kind = "postgresql"

    def __init__(self, database_url: str) -> None:
        super().__init__()
        self._dsn = make_url(database_url).set(drivername="postgresql")
        self._conn: Any = None
        self._outgoing: collections.deque[Event] = collections.deque()
        self._wake = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._send_conn: Any = None

    async def announce(self, conn: AsyncConnection, events: list[Event]) -> None:
        if not after_commit(conn, lambda: self.publish(events)):
            await pg_notify(conn, events)  # no unit of work to follow: notify in it

    def in_statement(self, conn: AsyncConnection, events: list[Event]) -> list[tuple[str, str]]:
        if not after_commit(conn, lambda: self.publish(events)):
            return _pg_notifications(events)
        return []

    async def publish(self, events: list[Event]) -> None:
        """Queue committed events for the sender task (started on first use)."""
        for event in events:
            if len(self._outgoing) >= QUEUE_SIZE:
                log.warning("gate: %d events waiting to be sent; dropped %s", QUEUE_SIZE, event)
                continue
            self._outgoing.append(event)
        self._wake.set()
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_forever())

    async def _send_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outgoing:
                if not await self._send_waiting():
                    await asyncio.sleep(RECONNECT_SECONDS)

    async def _send_waiting(self) -> bool:
        """Send up to SEND_BATCH waiting events in one statement; False if it failed (they
        are dropped: best effort)."""
        count = min(len(self._outgoing), SEND_BATCH)
        payloads = [self._outgoing.popleft().encode() for _ in range(count)]
        try:
            if self._send_conn is None:
                self._send_conn = await self._connect(synchronous_commit="off")
            await self._send_conn.execute(_PG_NOTIFY_MANY, PG_CHANNEL, payloads)
            return True
        except Exception as exc:  # asyncpg.PostgresError, OSError: the outbox still has them
            log.error("gate: could not send %d events to PostgreSQL: %s", count, exc)
            conn, self._send_conn = self._send_conn, None
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close(timeout=5)
            return False

    async def _connect(self, **server_settings: str) -> Any:
        import asyncpg  # type: ignore[import-untyped]

        return await asyncpg.connect(
            self._dsn.render_as_string(hide_password=False),
            timeout=10,
            server_settings=server_settings,
        )

    async def start(self, handler: Handler) -> None:
        await super().start(handler)
        if self._conn is None:
            self._conn = await self._connect()
            await self._conn.add_listener(PG_CHANNEL, self._on_notify)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        event = Event.decode(payload)
        if event is not None:
            self.dispatch_soon(event)

    async def close(self) -> None:
        await super().close()
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
            self._sender = None
        # What committed before the stop is still sent, for a moment at most.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_FLUSH_SECONDS):
                while self._outgoing and await self._send_waiting():
                    pass
        for name in ("_conn", "_send_conn"):
            conn = getattr(self, name)
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close(timeout=5)
                setattr(self, name, None)


# Every waiting event in one statement (in the order they were queued).
_PG_NOTIFY_MANY = "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload"
SEND_BATCH = 1000
CLOSE_FLUSH_SECONDS = 2.0

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
