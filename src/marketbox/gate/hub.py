"""The clients connected to this API process, and what they are sent.

Each connection is registered in `gate_connections` (presence.py) and here. When the bus
(notifications/events.py) reports a committed outbox row for a merchant with clients here,
the hub reads the row and calls `onOrderStatusChange` on each of them with the row's frozen
body (rpc.py). On connect it calls `getStatus`, and keeps the client's answer with the
presence row.

Connection states: open (registered, presence row written) -> closed (row deleted). Several
connections of one merchant each get every event (notifications.md §8: broadcast).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select

from marketbox import ids
from marketbox.gate import presence, rpc
from marketbox.notifications.events import Bus, Event
from marketbox.storage.db import Database
from marketbox.storage.tables import notifications

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 20  # a client that does not take a frame in time is dropped


class Peer(Protocol):
    """The WebSocket of one client, as the route hands it over."""

    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


@dataclass(eq=False)
class Client:
    id: str
    merchant_id: str
    peer: Peer
    # Whether its token still works (a rotation ends the connection); None: always.
    still_allowed: Callable[[], Awaitable[bool]] | None = None
    # Calls we made and have not had an answer to: call id -> method.
    pending: dict[str, str] = field(default_factory=dict)


class Hub:
    def __init__(self, db: Database, bus: Bus) -> None:
        self.db = db
        self.bus = bus
        self.process = f"{socket.gethostname()}:{os.getpid()}"[:100]
        self._clients: dict[str, set[Client]] = {}
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.bus.start(self.on_event)
        self._refresher = asyncio.create_task(self._refresh_presence())

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        clients = [c for group in self._clients.values() for c in group]
        for client in clients:
            with contextlib.suppress(Exception):
                await client.peer.close(1001, "server shutting down")
            await self.leave(client)
        await self.bus.close()

    async def join(
        self,
        merchant_id: str,
        peer: Peer,
        remote: str,
        still_allowed: Callable[[], Awaitable[bool]] | None = None,
    ) -> Client:
        client = Client(ids.new_id(), merchant_id, peer, still_allowed)
        async with self.db.transaction() as conn:
            await presence.add(
                conn,
                connection_id=client.id,
                merchant_id=merchant_id,
                process=self.process,
                remote=remote,
            )
        self._clients.setdefault(merchant_id, set()).add(client)
        call_id = rpc.new_call_id()
        client.pending[call_id] = rpc.GET_STATUS
        await self._send(client, rpc.get_status(call_id))
        return client

    async def leave(self, client: Client) -> None:
        group = self._clients.get(client.merchant_id)
        if group is not None:
            group.discard(client)
            if not group:
                del self._clients[client.merchant_id]
        async with self.db.transaction() as conn:
            await presence.remove(conn, client.id)

    async def receive(self, client: Client, frame: str) -> None:
        """A frame from the client: an answer to one of our calls, or something to refuse."""
        message = rpc.parse(frame)
        if isinstance(message, rpc.Invalid):
            await self._send(client, message.reply)
        elif isinstance(message, rpc.Call):
            if message.id is not None:  # a notification (no id) gets no answer
                reply = rpc.error(message.id, rpc.METHOD_NOT_FOUND, "Method not found")
                await self._send(client, reply)
        else:
            method = client.pending.pop(str(message.id), None)
            if method == rpc.GET_STATUS and message.result is not None:
                async with self.db.transaction() as conn:
                    await presence.record_status(conn, client.id, message.result)
            elif method == rpc.ON_ORDER_STATUS_CHANGE:
                log.info("gate: client %s answered %s: %s", client.id, message.id, message.result)

    async def on_event(self, event: Event) -> None:
        clients = list(self._clients.get(event.merchant_id, ()))
        if not clients:
            return
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(notifications.c.body).where(notifications.c.id == event.notification_id)
                )
            ).first()
        if row is None:  # not committed where we read (cannot happen after commit) or purged
            log.warning("gate: notification %s not found", event.notification_id)
            return
        for client in clients:
            call_id = rpc.new_call_id()
            client.pending[call_id] = rpc.ON_ORDER_STATUS_CHANGE
            await self._send(client, rpc.order_status_change(row.body, call_id))

    async def revalidate(self) -> None:
        """Close the connections whose token stopped working (rotated, revoked) with 4401."""
        for client in [c for group in self._clients.values() for c in group]:
            if client.still_allowed is not None and not await client.still_allowed():
                with contextlib.suppress(Exception):
                    await client.peer.close(rpc.CLOSE_UNAUTHORIZED, "token no longer valid")

    @property
    def connected(self) -> int:
        return sum(len(group) for group in self._clients.values())

    async def _send(self, client: Client, frame: str) -> None:
        try:
            async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
                await client.peer.send_text(frame)
        except Exception as exc:  # closed meanwhile, or too slow: its receive loop ends it
            log.info("gate: could not send to client %s: %s", client.id, exc)
            with contextlib.suppress(Exception):
                await client.peer.close(1011, "send failed")

    async def _refresh_presence(self) -> None:
        while True:
            await asyncio.sleep(presence.REFRESH_SECONDS)
            mine = [c.id for group in self._clients.values() for c in group]
            try:
                async with self.db.transaction() as conn:
                    await presence.refresh(conn, mine)
                await self.revalidate()
            except Exception as exc:  # the database is back next time, or the rows go stale
                log.warning("gate: could not refresh presence: %s", exc)


def describe(connection: dict[str, Any]) -> str:
    """One line about a connection, for `marketbox gate status`."""
    status = connection.get("client_status") or {}
    client = " ".join(
        str(status[k]) for k in ("type", "version") if isinstance(status, dict) and k in status
    )
    return (
        f"{connection['merchant_id']}  since {connection['connected_at']:%Y-%m-%d %H:%M:%S}Z  "
        f"via {connection['process']}  from {connection['remote'] or '-'}  "
        f"client {client or 'unknown'}"
    )
