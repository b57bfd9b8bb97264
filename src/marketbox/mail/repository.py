"""Queries of the mail domain (docs/mail.md). Statements are built once and bound per call."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.mail.tables import mail_messages

m = mail_messages

_INSERT = insert(m)
_DUE = (
    select(m.c.id)
    .where(m.c.status == "pending", m.c.next_attempt_at <= bindparam("b_now"))
    .order_by(m.c.next_attempt_at)
    .limit(bindparam("b_limit"))
)
# Claim one due message for one sender: only the UPDATE that still finds it due wins; the
# claim pushes next_attempt_at past the lease, so a sender that dies mid-send leaves it due
# again later (and the attempt counted).
_CLAIM = (
    update(m)
    .where(
        m.c.id == bindparam("b_id"),
        m.c.status == "pending",
        m.c.next_attempt_at <= bindparam("b_now"),
    )
    .values(next_attempt_at=bindparam("b_lease"), attempts=m.c.attempts + 1)
    .returning(*m.c)
)
_CAPTURE = (
    update(m)
    .where(m.c.status == "pending")
    .values(status="captured", sent_at=None, last_error=None)
    .returning(m.c.id)
)
_LATEST_OF_KIND = (
    select(m.c.status, m.c.recipient)
    .where(m.c.container_id == bindparam("cid"), m.c.kind == bindparam("kind"))
    .order_by(m.c.created_at.desc())
    .limit(1)
)


async def insert_messages(conn: AsyncConnection, values: Sequence[dict[str, Any]]) -> None:
    if values:
        await conn.execute(_INSERT, list(values))


async def due_ids(conn: AsyncConnection, *, now: datetime, limit: int) -> list[str]:
    rows = await conn.execute(_DUE, {"b_now": now, "b_limit": limit})
    return [str(r[0]) for r in rows.all()]


async def claim(conn: AsyncConnection, message_id: str, *, now: datetime, lease: datetime) -> Any:
    """The message's row with its attempt counted, or None when another sender has it."""
    params = {"b_id": message_id, "b_now": now, "b_lease": lease}
    row = (await conn.execute(_CLAIM, params)).first()
    return row._mapping if row is not None else None


async def capture_pending(conn: AsyncConnection) -> int:
    return len((await conn.execute(_CAPTURE)).all())


async def finish(conn: AsyncConnection, message_id: str, **values: Any) -> None:
    await conn.execute(update(m).where(m.c.id == message_id).values(**values))


async def latest_of_kind(conn: AsyncConnection, container_id: str, kind: str) -> Any:
    row = (await conn.execute(_LATEST_OF_KIND, {"cid": container_id, "kind": kind})).first()
    return row._mapping if row is not None else None


async def messages_of_container(conn: AsyncConnection, container_id: str) -> list[Any]:
    """Every message about an invoice, oldest first (the office's mail view will list them)."""
    query = select(m).where(m.c.container_id == container_id).order_by(m.c.created_at, m.c.id)
    return [r._mapping for r in (await conn.execute(query)).all()]
