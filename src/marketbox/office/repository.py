"""Every query of the office: its users and invites, and the reads of an order's page that no
other domain offers (payments of an invoice, notifications and their attempts)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.office.tables import office_invites, office_users
from marketbox.storage.tables import notification_attempts, notifications, payments


async def insert_user(conn: AsyncConnection, values: dict[str, Any]) -> Any:
    return (
        await conn.execute(insert(office_users).values(**values).returning(*office_users.c))
    ).one()


async def user_by_email(conn: AsyncConnection, email: str) -> Any:
    query = select(office_users).where(office_users.c.email == email)
    return (await conn.execute(query)).first()


async def user_by_id(conn: AsyncConnection, user_id: str) -> Any:
    return (await conn.execute(select(office_users).where(office_users.c.id == user_id))).first()


async def set_password(conn: AsyncConnection, user_id: str, password_hash: str) -> None:
    await conn.execute(
        update(office_users).where(office_users.c.id == user_id).values(password_hash=password_hash)
    )


async def insert_invite(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(office_invites).values(**values))


async def use_invite(conn: AsyncConnection, token_hash: str, now: datetime) -> Any:
    """Mark a live invite used and return it; None when unknown, used or expired. One
    conditional UPDATE: two submissions of one link cannot both set a password."""
    result = await conn.execute(
        update(office_invites)
        .where(
            office_invites.c.token_hash == token_hash,
            office_invites.c.used_at.is_(None),
            office_invites.c.expires_at > now,
        )
        .values(used_at=now)
        .returning(*office_invites.c)
    )
    return result.first()


async def live_invite(conn: AsyncConnection, token_hash: str, now: datetime) -> Any:
    query = select(office_invites).where(
        office_invites.c.token_hash == token_hash,
        office_invites.c.used_at.is_(None),
        office_invites.c.expires_at > now,
    )
    return (await conn.execute(query)).first()


async def payments_of_container(conn: AsyncConnection, container_id: str) -> list[Any]:
    query = (
        select(payments)
        .where(payments.c.container_id == container_id)
        .order_by(payments.c.created_at)
    )
    return list((await conn.execute(query)).all())


async def notification_attempts_of(
    conn: AsyncConnection, order_ids: Sequence[str], *, merchant_id: str
) -> list[Any]:
    """Every delivery attempt of the notifications about these orders, oldest first, each with
    its notification's event, URL and status."""
    query = (
        select(
            notification_attempts,
            notifications.c.order_id,
            notifications.c.event,
            notifications.c.url,
            notifications.c.status.label("notification_status"),
        )
        .join(notifications, notifications.c.id == notification_attempts.c.notification_id)
        .where(notifications.c.order_id.in_(order_ids), notifications.c.merchant_id == merchant_id)
        .order_by(notification_attempts.c.started_at, notification_attempts.c.id)
    )
    return list((await conn.execute(query)).all())


async def notifications_of(
    conn: AsyncConnection, order_ids: Sequence[str], *, merchant_id: str
) -> list[Any]:
    query = (
        select(notifications)
        .where(notifications.c.order_id.in_(order_ids), notifications.c.merchant_id == merchant_id)
        .order_by(notifications.c.created_at)
    )
    return list((await conn.execute(query)).all())
