"""The gate's hub on a real database, with a recording WebSocket in place of the network (the
socket is the edge; tests/integration/test_gate.py drives real connections): presence rows,
broadcast to a merchant's clients only, and a token that stops working ends its connection."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from marketbox import jsonutil
from marketbox.gate import presence, rpc
from marketbox.gate.hub import Hub
from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.notifications import events, outbox
from marketbox.storage.db import Database
from marketbox.storage.tables import notifications


@dataclass
class RecordingSocket:
    frames: list[str] = field(default_factory=list)
    closed: list[tuple[int, str | None]] = field(default_factory=list)

    async def send_text(self, data: str) -> None:
        self.frames.append(data)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed.append((code, reason))


async def live_rows(db: Database) -> list[dict[str, object]]:
    async with db.read() as conn:
        return await presence.live(conn)


async def test_a_client_is_listed_while_connected_and_asked_for_its_status(db: Database) -> None:
    hub = Hub(db, events.Bus())
    socket = RecordingSocket()

    client = await hub.join(DEMO_MERCHANT_ID, socket, "127.0.0.1:5000")
    listed = await live_rows(db)
    ask = jsonutil.loads(socket.frames[0])
    await hub.receive(client, rpc.result(ask["id"], {"type": "pos", "version": "2.1"}))
    with_status = await live_rows(db)
    await hub.leave(client)

    assert ask["method"] == "getStatus"
    assert [row["merchant_id"] for row in listed] == [DEMO_MERCHANT_ID]
    assert with_status[0]["client_status"] == {"type": "pos", "version": "2.1"}
    assert await live_rows(db) == []


async def test_an_event_goes_to_every_client_of_its_merchant_and_no_other(db: Database) -> None:
    async with db.transaction() as conn:
        other = await merchants_service.create_merchant(conn, name="Other shop")
        notification_id = await outbox.enqueue_test(
            conn, merchant_id=DEMO_MERCHANT_ID, payment_url="http://testserver/order/x"
        )
        body = (
            await conn.execute(
                select(notifications.c.body).where(notifications.c.id == notification_id)
            )
        ).scalar_one()
    hub = Hub(db, events.Bus())
    first, second, stranger = RecordingSocket(), RecordingSocket(), RecordingSocket()
    await hub.join(DEMO_MERCHANT_ID, first, "a")
    await hub.join(DEMO_MERCHANT_ID, second, "b")
    await hub.join(other.id, stranger, "c")

    await hub.on_event(events.Event(notification_id, DEMO_MERCHANT_ID))

    for socket in (first, second):
        [_, call] = socket.frames
        assert call.startswith('{"jsonrpc":"2.0","id":"')
        assert call.endswith(f'"method":"onOrderStatusChange","params":[{body.decode()}]}}')
    assert len(stranger.frames) == 1  # its getStatus only


async def test_a_connection_whose_token_stopped_working_is_closed_with_4401(
    db: Database,
) -> None:
    hub = Hub(db, events.Bus())
    allowed = {"value": True}

    async def still_allowed() -> bool:
        return allowed["value"]

    socket = RecordingSocket()
    await hub.join(DEMO_MERCHANT_ID, socket, "a", still_allowed)
    await hub.revalidate()
    assert socket.closed == []

    allowed["value"] = False
    await hub.revalidate()

    assert socket.closed == [(4401, "token no longer valid")]
