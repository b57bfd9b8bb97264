"""storage/driver.py: hot statements run on asyncpg itself (the create-order INSERT, the
payment's claim and its writes, the dispatcher's claim). They must commit exactly as SQLAlchemy
would, join a transaction they are given (as its first statement or after others, and roll back
with it), store and return the same values as SQLAlchemy (JSON, UTC date-times, NULLs,
literals) and report a duplicate as IntegrityError. `fetch` returns the rows by column name on
both paths."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from marketbox import ids
from marketbox.merchants import service as merchants_service
from marketbox.orders import repository
from marketbox.storage.db import Database, after_commit
from marketbox.storage.driver import DriverStatement, driver_connection
from marketbox.storage.tables import order_containers, orders


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    async with database.transaction() as conn:
        await merchants_service.seed_demo_merchant(conn)
    yield database
    await database.dispose()


def new_order(merchant_order_key: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    now = datetime(2026, 12, 7, 12, 0, 1, tzinfo=UTC)
    order_id, container_id = ids.new_id(), ids.new_id()
    container = {
        "id": container_id,
        "number": f"123-{ids.new_id()}",
        "currency": "RUB",
        "status": "pending",
        "main_order_id": order_id,
        "created_at": now,
    }
    order = {
        "id": order_id,
        "container_id": container_id,
        "merchant_id": merchants_service.DEMO_MERCHANT_ID,
        "merchant_order_id": "m-1",
        "merchant_order_key": merchant_order_key,
        "description": "Заказ",
        "amount_minor": 62188,
        "vat_amount_minor": 6198,
        "currency": "RUB",
        "language_id": "ru",
        "status": "created",
        "subtype": "order",
        "joined_as": "main",
        "processing_status": "",
        "processable": True,
        "expiration_date": now + timedelta(days=1),
        "created_at": now,
        "updated_at": now,
        "customer": {"name": "Иван"},
        "basket_items": [{"sku": "a", "amount": Decimal("123.96"), "quantity": Decimal(3)}],
        "payment_url": f"http://testserver/pay/{container_id}",
    }
    return container, order


async def stored(db: Database, order_id: str) -> Any:
    async with db.read() as conn:
        return (await conn.execute(select(orders).where(orders.c.id == order_id))).first()


async def test_an_order_inserted_in_autocommit_is_stored_with_its_container(
    db: Database,
) -> None:
    container, order = new_order()
    async with db.statement() as conn:
        await repository.insert_order_with_container(conn, container, order)
    row = (await stored(db, order["id"]))._mapping
    assert row["basket_items"] == order["basket_items"]
    assert row["basket_items"][0]["amount"] == Decimal("123.96")
    assert row["customer"] == {"name": "Иван"}
    assert row["expiration_date"] == order["expiration_date"]
    assert row["meta_data"] is None and row["merchant_order_key"] is None
    async with db.read() as conn:
        found = await conn.execute(
            select(order_containers.c.main_order_id).where(order_containers.c.id == container["id"])
        )
        assert found.scalar_one() == order["id"]


async def test_inside_a_transaction_the_insert_rolls_back_with_it(db: Database) -> None:
    container, order = new_order()
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await repository.insert_order_with_container(conn, container, order)
            raise RuntimeError("the unit fails after the insert")
    assert await stored(db, order["id"]) is None


async def test_a_second_order_with_the_same_key_is_an_integrity_error(db: Database) -> None:
    first_container, first = new_order("key-1")
    second_container, second = new_order("key-1")
    async with db.statement() as conn:
        await repository.insert_order_with_container(conn, first_container, first)
    with pytest.raises(IntegrityError) as raised:
        async with db.statement() as conn:
            await repository.insert_order_with_container(conn, second_container, second)
    assert "merchant_order_key" in str(raised.value.orig)
    assert await stored(db, second["id"]) is None


# A literal ("created") besides the named parameters, JSON and date-time columns returned.
_TOUCH = DriverStatement(
    update(orders)
    .where(orders.c.id == bindparam("oid"), orders.c.status == "created")
    .values(updated_at=bindparam("now"))
    .returning(*orders.c)
)


async def test_returned_rows_read_as_sqlalchemys(db: Database) -> None:
    container, order = new_order()
    async with db.statement() as conn:
        await repository.insert_order_with_container(conn, container, order)
    later = order["updated_at"] + timedelta(minutes=5)

    async with db.transaction() as conn:
        [row] = await _TOUCH.rows(conn, {"oid": order["id"], "now": later})
        expected = (await conn.execute(_TOUCH.statement, {"oid": order["id"], "now": later})).one()

    assert dict(row._mapping) == dict(expected._mapping)
    assert row._mapping["basket_items"][0]["amount"] == Decimal("123.96")
    assert row._mapping["updated_at"] == later and later.tzinfo is not None
    assert row._mapping["meta_data"] is None


async def test_a_literal_of_the_statement_is_bound(db: Database) -> None:
    (created_container, created), (canceled_container, canceled) = new_order(), new_order()
    canceled["status"] = "canceled"
    async with db.statement() as conn:
        await repository.insert_order_with_container(conn, created_container, created)
        await repository.insert_order_with_container(conn, canceled_container, canceled)
    now = created["created_at"]
    async with db.transaction() as conn:
        assert len(await _TOUCH.rows(conn, {"oid": created["id"], "now": now})) == 1
        assert await _TOUCH.rows(conn, {"oid": canceled["id"], "now": now}) == []


# Database.transaction(), or Database.driver_transaction() (BEGIN and COMMIT on the driver).
UNITS = ["transaction", "driver_transaction"]


@pytest.mark.parametrize("driver_first", [True, False])
@pytest.mark.parametrize("unit", UNITS)
async def test_in_a_transaction_it_commits_and_rolls_back_with_sqlalchemys_statements(
    db: Database, driver_first: bool, unit: str
) -> None:
    later = datetime(2026, 12, 8, tzinfo=UTC)
    (kept_container, kept), (gone_container, gone) = new_order(), new_order()
    async with db.statement() as conn:
        await repository.insert_order_with_container(conn, kept_container, kept)
        await repository.insert_order_with_container(conn, gone_container, gone)
    mark = update(orders).where(orders.c.id == bindparam("oid")).values(description="seen")

    async def both(conn: Any, order_id: str) -> None:
        if driver_first:
            assert len(await _TOUCH.rows(conn, {"oid": order_id, "now": later})) == 1
            await conn.execute(mark, {"oid": order_id})
        else:
            await conn.execute(mark, {"oid": order_id})
            assert len(await _TOUCH.rows(conn, {"oid": order_id, "now": later})) == 1

    async with getattr(db, unit)() as conn:
        await both(conn, kept["id"])
    with pytest.raises(RuntimeError):
        async with getattr(db, unit)() as conn:
            await both(conn, gone["id"])
            raise RuntimeError("the unit fails after both")

    kept_row, gone_row = (
        (await stored(db, kept["id"]))._mapping,
        (await stored(db, gone["id"]))._mapping,
    )
    assert (kept_row["description"], kept_row["updated_at"]) == ("seen", later)
    assert (gone_row["description"], gone_row["updated_at"]) == ("Заказ", gone["updated_at"])


@pytest.mark.parametrize("unit", UNITS)
async def test_a_duplicate_in_a_transaction_is_an_integrity_error_and_rolls_back(
    db: Database, unit: str
) -> None:
    first_container, first = new_order("key-2")
    second_container, second = new_order("key-2")
    async with db.statement() as conn:
        await repository.insert_order_with_container(conn, first_container, first)
    with pytest.raises(IntegrityError):
        async with getattr(db, unit)() as conn:
            await conn.execute(
                update(orders).values(description="x").where(orders.c.id == first["id"])
            )
            await repository.insert_order_with_container(conn, second_container, second)
    assert (await stored(db, first["id"]))._mapping["description"] == "Заказ"
    assert await stored(db, second["id"]) is None


async def test_fetch_binds_the_values_written_into_the_statement(db: Database) -> None:
    """A value written into a statement (`status == "created"`) is a bind parameter the caller
    never names: the driver must get it, not NULL (which would match nothing)."""
    containers = [new_order(), new_order()]
    async with db.statement() as conn:
        for container, order in containers:
            await repository.insert_order_with_container(conn, container, order)
    first, second = (order for _container, order in containers)
    claim = DriverStatement(
        update(orders)
        .where(orders.c.id == bindparam("order_id"), orders.c.status == "created")
        .values(status="expired", updated_at=bindparam("now", type_=orders.c.updated_at.type))
        .returning(orders.c.id, orders.c.status, orders.c.updated_at)
    )
    later = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)

    async with db.statement() as conn:
        rows = await claim.fetch(conn, {"order_id": first["id"], "now": later})
    async with db.statement() as conn:
        again = await claim.fetch(conn, {"order_id": first["id"], "now": later})

    assert [(r["id"], r["status"], r["updated_at"]) for r in rows] == [
        (first["id"], "expired", later)
    ]
    assert again == []  # no longer "created"
    assert (await stored(db, first["id"])).status == "expired"
    assert (await stored(db, second["id"])).status == "created"


@pytest.mark.parametrize("fails", [False, True])
async def test_a_driver_transaction_runs_its_hooks_after_commit_and_pools_a_clean_connection(
    database_url: str, fails: bool
) -> None:
    database = Database(database_url, **({"pool_size": 1} if "postgresql" in database_url else {}))
    ran: list[str] = []

    async def hook() -> None:
        ran.append("after commit")

    try:
        async with database.transaction() as conn:
            await merchants_service.seed_demo_merchant(conn)
        container, order = new_order()
        with contextlib.suppress(RuntimeError):
            async with database.driver_transaction() as conn:
                await repository.insert_order_with_container(conn, container, order)
                assert after_commit(conn, hook)
                assert ran == []
                if fails:
                    raise RuntimeError("the unit fails")

        assert ran == ([] if fails else ["after commit"])
        assert (await stored(database, order["id"]) is None) == fails
        async with database.statement() as conn:  # the same pooled connection on PostgreSQL
            driver = await driver_connection(conn)
            assert driver is None or not driver.is_in_transaction()
    finally:
        await database.dispose()
