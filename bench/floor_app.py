"""The floor: the least a create-order endpoint can do with our stack.

A bare FastAPI app that validates the same order JSON with a Pydantic model of the
CreateOrder shape (no business rules, no auth, no ORM) and writes one row with one raw
asyncpg INSERT inside a transaction, into a table of its own. It runs under the same uvicorn
command line as the server (procs.uvicorn_argv), so marketbox's create-order throughput
divided by this one says what our layers cost. ``BENCH_FLOOR_DSN`` names the database.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import asyncpg
from fastapi import FastAPI
from pydantic import BaseModel, Field

TABLE_SQL = """
CREATE TABLE IF NOT EXISTS floor_orders (
    id uuid PRIMARY KEY,
    merchant_id text NOT NULL,
    merchant_order_id text NOT NULL,
    description text NOT NULL,
    amount numeric NOT NULL,
    vat_amount numeric NOT NULL,
    currency text NOT NULL,
    expiration_date text NOT NULL,
    basket_items jsonb NOT NULL,
    customer jsonb NOT NULL,
    created_at timestamptz NOT NULL
)
"""
INSERT_SQL = """
INSERT INTO floor_orders (id, merchant_id, merchant_order_id, description, amount, vat_amount,
                          currency, expiration_date, basket_items, customer, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
"""
# The same pool size as marketbox's PostgreSQL engine (storage/db.py).
POOL_SIZE = 20


class Customer(BaseModel):
    type: Literal["legal", "private"] | None = None
    name: str | None = Field(None, max_length=500)
    phone: str | None = Field(None, max_length=100)
    email: str | None = Field(None, max_length=100)


class BasketItem(BaseModel):
    sku: str = Field(min_length=1, max_length=500)
    name: str = Field(min_length=1, max_length=500)
    measure: str = Field(min_length=1, max_length=10)
    measureCode: str = Field(min_length=1, max_length=4)
    quantity: Decimal
    amount: Decimal
    amountWoVat: Decimal
    totalAmount: Decimal
    totalVatAmount: Decimal
    vatCode: str
    type: str | int
    paymentType: str


class CreateOrder(BaseModel):
    description: str = Field(min_length=1, max_length=1000)
    merchantId: str = Field(min_length=1, max_length=36)
    merchantOrderId: str = Field(min_length=1, max_length=256)
    amount: Decimal
    vatAmount: Decimal
    currencyId: str
    languageId: str | None = None
    expirationDate: str
    basketItems: list[BasketItem] = Field(min_length=1)
    customer: Customer
    metaData: dict[str, Any] | None = None
    notificationUrl: str | None = None


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(
        os.environ["BENCH_FLOOR_DSN"], min_size=POOL_SIZE, max_size=POOL_SIZE
    )
    async with pool.acquire() as conn:
        await conn.execute(TABLE_SQL)
    app.state.pool = pool
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)


@app.post("/v3/billing/api/order/order")
async def create_order(order: CreateOrder) -> dict[str, Any]:
    order_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with app.state.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            INSERT_SQL,
            order_id,
            order.merchantId,
            order.merchantOrderId,
            order.description,
            order.amount,
            order.vatAmount,
            order.currencyId,
            order.expirationDate,
            json.dumps([item.model_dump(mode="json") for item in order.basketItems]),
            order.customer.model_dump_json(exclude_none=True),
            now,
        )
    return {"data": {"id": str(order_id), **order.model_dump(mode="json")}, "extendedData": []}
