"""storage/driver.py: the create-order INSERT run on asyncpg itself in autocommit. It must
commit exactly as SQLAlchemy would, join a transaction it is given (and roll back with it),
store the same values (JSON, UTC date-times, NULLs) and report a duplicate as IntegrityError.
`fetch` (the dispatcher's claim) returns the rows by column name on both paths."""

from __future__ import annotations

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
from marketbox.storage.db import Database
from marketbox.storage.driver import DriverStatement
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
