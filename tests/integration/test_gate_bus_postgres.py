"""The PostgreSQL bus of live events (notifications/events.PostgresBus): an event announced in
a unit of work reaches every listening process once the unit commits, in order, never when it
rolls back, and is not sent from inside the writing transaction (whose commit would then wait
for every other notifying commit of the cluster)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from marketbox.notifications.events import Event, PostgresBus
from marketbox.storage.db import Database
from tests.integration.test_many_processes import pg_database

__all__ = ["pg_database"]  # the fixture, for this module's tests

WAIT_SECONDS = 10.0


class Heard:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.arrived = asyncio.Event()

    async def __call__(self, event: Event) -> None:
        self.events.append(event)
        self.arrived.set()

    async def until(self, count: int) -> list[Event]:
        async with asyncio.timeout(WAIT_SECONDS):
            while len(self.events) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.events


@pytest.fixture
async def db(pg_database: str) -> AsyncIterator[Database]:
    database = Database(pg_database)
    yield database
    await database.dispose()


@pytest.fixture
async def buses(pg_database: str) -> AsyncIterator[tuple[PostgresBus, PostgresBus, Heard]]:
    """A writing process's bus and another process's, listening."""
    writer, other = PostgresBus(pg_database), PostgresBus(pg_database)
    heard = Heard()
    await other.start(heard)
    yield writer, other, heard
    await writer.close()
    await other.close()


async def test_events_reach_another_process_after_the_commit_in_order(
    db: Database, buses: tuple[PostgresBus, PostgresBus, Heard]
) -> None:
    writer, _other, heard = buses
    first, second = Event("n-1", "m-1"), Event("n-2", "m-1")

    async with db.transaction() as conn:
        # Nothing for the writing statement to send: the bus sends after the commit.
        assert writer.in_statement(conn, [first, second]) == []
        await writer.announce(conn, [Event("n-3", "m-2")])

    assert await heard.until(3) == [first, second, Event("n-3", "m-2")]


async def test_a_rolled_back_unit_announces_nothing(
    db: Database, buses: tuple[PostgresBus, PostgresBus, Heard]
) -> None:
    writer, _other, heard = buses

    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            writer.in_statement(conn, [Event("n-rolled-back", "m-1")])
            raise RuntimeError("refused")
    async with db.transaction() as conn:
        writer.in_statement(conn, [Event("n-committed", "m-1")])

    assert await heard.until(1) == [Event("n-committed", "m-1")]
    # Had the first been sent it would have arrived first (one sender, in order).


async def test_a_connection_outside_a_unit_of_work_notifies_in_its_own_statement(
    db: Database, buses: tuple[PostgresBus, PostgresBus, Heard]
) -> None:
    writer, _other, heard = buses
    event = Event("n-outside", "m-1")

    async with db.engine.begin() as conn:  # no after-commit hooks here
        calls = writer.in_statement(conn, [event])
        assert calls == [("marketbox_gate", event.encode())]
        await writer.announce(conn, [event])  # pg_notify in this transaction

    assert await heard.until(1) == [event]


async def test_events_queued_before_a_close_are_still_sent(
    db: Database, buses: tuple[PostgresBus, PostgresBus, Heard]
) -> None:
    writer, _other, heard = buses
    events = [Event(f"n-{i}", "m-1") for i in range(50)]

    async with db.transaction() as conn:
        writer.in_statement(conn, events)
    await writer.close()

    assert await heard.until(50) == events
