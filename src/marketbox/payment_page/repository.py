"""Queries of the payment page. Paying itself goes through payments.service."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.marketplace.tables import points_of_sale
from marketbox.orders import repository as orders_repository
from marketbox.storage.tables import merchants, order_containers, orders, payments


async def orders_with_merchants(
    conn: AsyncConnection, container_id: str, now: datetime
) -> Sequence[Any]:
    """Every order of the container with its merchant's names and INN and its point of sale's
    title, oldest first, each status as it reads at `now` (orders/repository.py "Expiry as a
    reader sees it")."""
    query = (
        select(
            *orders_repository.effective_columns(now),
            merchants.c.name.label("merchant_name"),
            merchants.c.legal_name.label("merchant_legal_name"),
            merchants.c.vat_number.label("merchant_vat_number"),
            points_of_sale.c.title.label("shop_title"),
        )
        .join(merchants, merchants.c.id == orders.c.merchant_id)
        .outerjoin(points_of_sale, points_of_sale.c.id == orders.c.shop_id)
        # The invoice's own orders: refunds and corrections of them are not what was asked for.
        .where(orders.c.container_id == container_id, orders.c.subtype == "order")
        .order_by(orders.c.created_at, orders.c.id)
    )
    return (await conn.execute(query)).all()


async def get_payment(conn: AsyncConnection, payment_id: str) -> Any:
    return (await conn.execute(select(payments).where(payments.c.id == payment_id))).first()


async def latest_declined(conn: AsyncConnection, container_id: str) -> Any:
    query = (
        select(payments)
        .where(payments.c.container_id == container_id, payments.c.status == "declined")
        .order_by(payments.c.created_at.desc(), payments.c.id.desc())
        .limit(1)
    )
    return (await conn.execute(query)).first()


async def save_payer(conn: AsyncConnection, container_id: str, payer: dict[str, Any]) -> None:
    await conn.execute(
        update(order_containers).where(order_containers.c.id == container_id).values(payer=payer)
    )
