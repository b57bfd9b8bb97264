"""Probes for a load balancer or an orchestrator (docs/deploy.md "Health checks").

GET /healthz  200 while the process serves requests; touches nothing else (liveness).
GET /readyz   200 when this process can do its work: the database answers, its migrations
              are the ones this code expects, and Redis answers when MARKETBOX_REDIS_URL is
              set; otherwise 503 naming what failed (readiness: take it out of rotation).

Each dependency has MARKETBOX_READINESS_TIMEOUT_SECONDS to answer, all checked at once. Both
answer HEAD (web/middleware.py), are never rate limited, and are logged at DEBUG only.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any
from urllib.parse import unquote, urlsplit

from fastapi import APIRouter, Request
from starlette.responses import Response

from marketbox.config import Settings
from marketbox.storage.db import Database
from marketbox.storage.migrate import current_revision, head_revision
from marketbox.web.context import get_context
from marketbox.web.envelope import JSONResponse

router = APIRouter(include_in_schema=False)

NO_STORE = {"Cache-Control": "no-store"}
OK = "ok"


@router.get("/healthz")
async def healthz() -> Response:
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    ctx = get_context(request)
    checks = await readiness(ctx.settings, ctx.db)
    ready = all(value == OK or value == "not configured" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
        headers=NO_STORE,
    )


async def readiness(settings: Settings, db: Database) -> dict[str, str]:
    """{"database": …, "migrations": …, "redis": …}: "ok", "not configured", or what failed."""
    timeout = settings.readiness_timeout_seconds
    database, redis = await asyncio.gather(
        _bounded(_check_database(db), timeout),
        _bounded(_check_redis(settings.redis_url), timeout)
        if settings.redis_url
        else _not_configured(),
    )
    database_state, migrations_state = database if isinstance(database, tuple) else (database, "")
    return {
        "database": database_state,
        "migrations": migrations_state or "unknown (no database)",
        "redis": redis if isinstance(redis, str) else OK,
    }


async def _not_configured() -> str:
    return "not configured"


async def _bounded(check: Any, timeout: float) -> Any:
    try:
        async with asyncio.timeout(timeout):
            return await check
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except Exception as exc:  # what failed, by kind; never the message (it may name hosts)
        return f"unreachable ({type(exc).__name__})"


async def _check_database(db: Database) -> tuple[str, str]:
    async with db.engine.connect() as conn:
        await conn.exec_driver_sql("SELECT 1")
        expected = head_revision()
        try:
            found = await current_revision(conn)
        except Exception:
            return OK, f"not applied (expected {expected}): run `marketbox migrate`"
    if found == expected:
        return OK, OK
    return OK, f"database at {found or 'no revision'}, this code expects {expected}"


async def _check_redis(url: str | None) -> str:
    """PING over the Redis protocol (RESP): AUTH first when the URL carries a password."""
    assert url
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return f"unsupported URL scheme {parts.scheme!r} (redis:// or rediss://)"
    reader, writer = await asyncio.open_connection(
        parts.hostname or "localhost",
        parts.port or 6379,
        ssl=ssl.create_default_context() if parts.scheme == "rediss" else None,
    )
    try:
        if parts.password is not None:
            auth = [unquote(parts.password)]
            if parts.username:
                auth.insert(0, unquote(parts.username))
            writer.write(_command("AUTH", *auth))
            reply = await reader.readline()
            if not reply.startswith(b"+OK"):
                return "authentication refused"
        writer.write(_command("PING"))
        reply = await reader.readline()
        return OK if reply.startswith(b"+PONG") else f"unexpected reply {reply[:40]!r}"
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


def _command(*words: str) -> bytes:
    encoded = [word.encode() for word in words]
    return b"".join(
        [f"*{len(encoded)}\r\n".encode()]
        + [b"$%d\r\n%s\r\n" % (len(word), word) for word in encoded]
    )
