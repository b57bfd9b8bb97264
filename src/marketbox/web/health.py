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
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from fastapi import APIRouter, Request
from starlette.responses import Response

from marketbox.config import Settings
from marketbox.storage.db import Database
from marketbox.storage.migrate import current_revision, head_revision, known_revisions
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
    ready, checks = await readiness(ctx.settings, ctx.db)
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
        headers=NO_STORE,
    )


async def readiness(settings: Settings, db: Database) -> tuple[bool, dict[str, str]]:
    """Whether this process can serve, and each check's state: {"database": …,
    "migrations": …, "redis": …}, each "ok", "not configured" or what is wrong."""
    timeout = settings.readiness_timeout_seconds
    database, redis = await asyncio.gather(
        _bounded(_check_database(db), timeout),
        _bounded(_check_redis(settings.redis_url), timeout)
        if settings.redis_url
        else _not_configured(),
    )
    if isinstance(database, Check):  # the database did not answer
        migrations = Check(False, "unknown (no database)")
    else:
        database, migrations = database
    checks = {"database": database, "migrations": migrations, "redis": redis}
    return all(c.ready for c in checks.values()), {k: c.state for k, c in checks.items()}


@dataclass(frozen=True, slots=True)
class Check:
    ready: bool
    state: str


async def _not_configured() -> Check:
    return Check(True, "not configured")


async def _bounded(check: Awaitable[Any], timeout: float) -> Any:
    """What `check` returns, or a failed Check when it raised or took longer than `timeout`."""
    try:
        async with asyncio.timeout(timeout):
            return await check
    except TimeoutError:
        return Check(False, f"no answer within {timeout:g} s")
    except Exception as exc:  # what failed, by kind; never the message (it may name hosts)
        return Check(False, f"unreachable ({type(exc).__name__})")


async def _check_database(db: Database) -> tuple[Check, Check]:
    """The database answers; and its migration state.

    Behind (never migrated, or at an older revision of ours): not ready, run the migrations.
    At a revision this code does not know: migrated by a newer release during its rollout;
    migrations only add what the release before them can live with (docs/deploy.md), so
    this older process stays ready until it is replaced.
    """
    expected = head_revision()
    async with db.read() as conn:
        await conn.exec_driver_sql("SELECT 1")
        try:
            found = await current_revision(conn)
        except Exception:
            found = None
    answered = Check(True, OK)
    if found == expected:
        return answered, Check(True, OK)
    if found is None or found in known_revisions():
        return answered, Check(
            False,
            f"behind: database at {found or 'no revision'}, this code expects {expected} "
            "(run `marketbox migrate`)",
        )
    return answered, Check(True, f"ahead: database at {found}, newer than this code's {expected}")


async def _check_redis(url: str | None) -> Check:
    """PING over the Redis protocol (RESP): AUTH first when the URL carries a password."""
    assert url
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return Check(False, f"unsupported URL scheme {parts.scheme!r} (redis:// or rediss://)")
    reader, writer = await asyncio.open_connection(
        parts.hostname or "localhost",
        parts.port or 6379,
        ssl=ssl.create_default_context() if parts.scheme == "rediss" else None,
    )
    try:
        if parts.password:
            auth = [unquote(parts.password)]
            if parts.username:
                auth.insert(0, unquote(parts.username))
            writer.write(_command("AUTH", *auth))
            reply = await reader.readline()
            if not reply.startswith(b"+OK"):
                return Check(False, "authentication refused")
        writer.write(_command("PING"))
        reply = await reader.readline()
        if reply.startswith(b"+PONG"):
            return Check(True, OK)
        return Check(False, f"unexpected reply {reply[:40]!r}")
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
