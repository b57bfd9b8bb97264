"""The dispatcher: claim due notifications, deliver them, record every attempt.

    pending --success--> delivered
    pending --final error code--> rejected
    pending --out_of_service / HTTP / JSON / network failure--> pending (next retry)
                                                           or abandoned (budget spent)

A claim is a lease: `lease_owner` is this dispatcher's name and `lease_until` the moment the
claim lapses, committed before anything is sent. A dispatcher that dies mid-delivery leaves
its claims to lapse; any dispatcher takes them over afterwards, so a notification may reach
the shop more than once (at-least-once; shops are idempotent by notification `id`,
notifications.md §6). On PostgreSQL claims skip rows another claim has locked, so several
dispatchers share the work; on SQLite the same statement runs under the database write lock.

An attempt is recorded only while this dispatcher still owns the claim, checked in the
transaction that writes it: a dispatcher that lost its claim (it stalled past the lease and
someone else took over) records nothing, so it can never overwrite the owner's result. A
delivery never runs past its lease: its timeout is cut to the time the lease has left.

Throughput: one claim statement per batch, deliveries `notification_concurrency` at a time
over one connection pool, attempts recorded in batches, and in `run_forever` all three
overlapping (`_Pipeline`), so the HTTP side rarely waits for the database. On PostgreSQL the
claim and the record of a batch's deliveries are each one statement in autocommit, run on the
driver itself (storage/driver.py): the claim an UPDATE … RETURNING, the record an UPDATE of the
notifications whose data-modifying CTE feeds the attempts' INSERT, so a notification's new state
and its attempt row are written together or not at all, in one round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import random
import secrets
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, jsonutil, metrics
from marketbox.config import Settings
from marketbox.notifications.delivery import Deliverer, DeliveryResult
from marketbox.orders import service as orders_service
from marketbox.security import signing
from marketbox.storage.db import Database
from marketbox.storage.driver import DriverStatement, driver_fetch
from marketbox.storage.tables import merchants, notification_attempts, notifications

log = logging.getLogger("marketbox.notifications")

# Part of the lease kept free at the end of a delivery, for recording its result.
MAX_LEASE_MARGIN_SECONDS = 1.0
# How long finished deliveries may wait for more to fill a batch before they are recorded.
RECORD_LINGER_SECONDS = 0.02
# Claim (and record) transactions a dispatcher runs at once, so database latency overlaps.
PARALLEL_TRANSACTIONS = 2

_INSERT_ATTEMPTS = insert(notification_attempts)

# PostgreSQL: a batch of successful deliveries recorded in one statement. The UPDATE claims the
# rows still leased to us ($3) and returns their new attempt count; only those rows get their
# attempt, numbered by that count (the unique (notification_id, attempt) still guards it).
# The attempts' columns come as one array each ($1, $4…), zipped by `unnest`.
_RECORD_DELIVERED_PG = """\
WITH done AS (
    UPDATE notifications
    SET status = 'delivered', attempts = attempts + 1, finished_at = $2, last_error = NULL,
        lease_owner = NULL, lease_until = NULL
    WHERE id = ANY($1::varchar[]) AND lease_owner = $3
    RETURNING id, attempts
)
INSERT INTO notification_attempts (
    notification_id, attempt, dispatcher, started_at, duration_ms, request_url,
    request_headers, http_status, response_headers, response_body, outcome, reason,
    reply_code, error
)
SELECT done.id, done.attempts, $3, a.started_at, a.duration_ms, a.request_url,
    a.request_headers, a.http_status, a.response_headers, a.response_body, a.outcome,
    a.reason, a.reply_code, a.error
FROM done JOIN unnest(
    $1::varchar[], $4::timestamptz[], $5::int[], $6::varchar[], $7::text[], $8::int[],
    $9::text[], $10::text[], $11::varchar[], $12::varchar[], $13::varchar[], $14::text[]
) AS a(
    id, started_at, duration_ms, request_url, request_headers, http_status,
    response_headers, response_body, outcome, reason, reply_code, error
) ON a.id = done.id
RETURNING notification_id, attempt
"""

_gc_tuned = False


def tune_gc() -> None:
    """Once per process: keep the start-up objects (modules, compiled statements) out of every
    future collection and collect the young generation less often, as the API does (app.py).
    A delivery allocates thousands of short-lived objects; with the default thresholds the
    collections cost a tenth of the dispatcher's CPU (bench/)."""
    global _gc_tuned
    if _gc_tuned:
        return
    _gc_tuned = True
    gc.freeze()
    gc.set_threshold(7000, 20, 20)


@dataclass(slots=True)
class Job:
    """A claimed notification, as much of it as a delivery needs."""

    id: str
    order_id: str
    url: str
    body: bytes
    signature: str
    attempts: int
    # Event-loop time after which the claim may lapse (measured before the claim was taken).
    lease_deadline: float
    # The new key's signature while a rotation's overlap lasts (`X-Signature-Next`).
    signature_next: str | None = None


_RecordUnit = Callable[[Sequence["Attempt"], set[str]], Awaitable[None]]


@dataclass(slots=True)
class Attempt:
    job: Job
    # None: the claim had too little time left to deliver; the claim is handed back.
    result: DeliveryResult | None


# The merchant's keys as committed when the claim is taken, returned by the claim itself, so an
# attempt after a rotation is signed with the keys in force then (no second query per batch).
_KEY_COLUMNS = (
    merchants.c.signing_key,
    merchants.c.sign_algorithm,
    merchants.c.previous_signing_key,
    merchants.c.previous_signing_key_valid_until,
)


_KEY_LABELS = tuple(f"merchant_{column.name}" for column in _KEY_COLUMNS)


@dataclass(frozen=True, slots=True)
class _Keys:
    signing_key: str
    sign_algorithm: str
    previous_signing_key: str | None
    previous_signing_key_valid_until: datetime | None


def _keys_of(m: Mapping[str, Any]) -> _Keys | None:
    """The merchant's keys from a claimed row (None: the merchant is gone; the stored
    signature is sent)."""
    if m["merchant_signing_key"] is None:
        return None
    return _Keys(*(m[label] for label in _KEY_LABELS))


def _sign(body: bytes, merchant: _Keys, now: datetime) -> tuple[str, str | None]:
    """(`X-Signature`, `X-Signature-Next`): during an overlap the first is the previous key's,
    so a shop that has not switched yet still verifies (signing.keys_in_force)."""
    key, key_next = signing.keys_in_force(
        merchant.signing_key,
        merchant.previous_signing_key,
        merchant.previous_signing_key_valid_until,
        now,
    )
    algorithm = merchant.sign_algorithm
    return (
        signing.sign(body, key, algorithm),
        signing.sign(body, key_next, algorithm) if key_next else None,
    )


def default_name() -> str:
    """Unique per process and instance: a restarted worker never mistakes old claims for its own."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class Dispatcher:
    """Delivers the outbox. `run_once()` for one batch, `run_forever()` for the worker."""

    def __init__(self, settings: Settings, db: Database, *, name: str | None = None) -> None:
        self.settings = settings
        self.db = db
        self.name = (name or default_name())[:64]
        self.schedule = tuple(settings.notification_retry_schedule)
        self.batch_size = max(1, settings.notification_batch_size)
        self.concurrency = max(1, settings.notification_concurrency)
        self.lease_seconds = settings.notification_lease_seconds
        self.lease_margin = min(MAX_LEASE_MARGIN_SECONDS, self.lease_seconds / 5)
        self.deliverer = Deliverer(
            timeout_seconds=settings.notification_timeout_seconds,
            max_connections=self.concurrency,
            block_private_networks=settings.blocks_private_networks,
        )
        self._semaphore = asyncio.Semaphore(self.concurrency)
        self._claim_due = DriverStatement(
            self._claim_statement(notification_id=None, due_only=True)
        )
        self._record_delivered = self._record_delivered_statement()
        if self.lease_seconds <= settings.notification_timeout_seconds + self.lease_margin:
            log.warning(
                "dispatcher=%s lease %.1f s does not exceed the delivery timeout %.1f s: "
                "deliveries will be cut short to fit the lease",
                self.name,
                self.lease_seconds,
                settings.notification_timeout_seconds,
            )

    async def __aenter__(self) -> Dispatcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.deliverer.close()

    # -- public loops ------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim one batch of due notifications, deliver it, record it.

        Returns the number of requests sent (0: nothing was due).
        """
        jobs = await self._claim(self.batch_size)
        if not jobs:
            return 0
        attempts = await asyncio.gather(*(self._attempt(job) for job in jobs))
        await self._record(attempts)
        return sum(1 for a in attempts if a.result is not None)

    async def deliver_now(
        self, notification_id: str, *, due_only: bool = False
    ) -> DeliveryResult | None:
        """Deliver one notification immediately if it is pending and unclaimed (the CLI's test;
        `due_only`: only if it is due as well, as a dispatcher would, so a failed attempt's
        retry is left to its schedule - the payment page's shipping control).

        None when it is not pending (or not due), is claimed by someone else, or its lease ran
        out.
        """
        jobs = await self._claim(1, notification_id=notification_id, due_only=due_only)
        if not jobs:
            return None
        attempt = await self._attempt(jobs[0])
        await self._record([attempt])
        return attempt.result

    async def run_forever(self, stop_event: asyncio.Event | None = None) -> None:
        """Deliver until `stop_event` is set; then finish and record what is in flight.

        Claiming, delivering and recording overlap (see `_Pipeline`); when nothing is due it
        polls every `dispatcher_poll_seconds`. Cancelling abandons in-flight claims to their
        leases.
        """
        tune_gc()
        stop = stop_event or asyncio.Event()
        pipeline = _Pipeline(self)
        log.info("dispatcher=%s started", self.name)
        try:
            await pipeline.run(stop)
        finally:
            await pipeline.cancel()
            log.info("dispatcher=%s stopped", self.name)

    # -- claim, deliver, record ----------------------------------------------------------------

    def _claim_statement(self, *, notification_id: str | None, due_only: bool) -> Any:
        """WITH due AS MATERIALIZED (SELECT … LIMIT n FOR UPDATE SKIP LOCKED) UPDATE … FROM due …

        Bound at execution: `now`, `lease_until`, `limit`. SQLite has no row locks and
        renders neither FOR UPDATE nor SKIP LOCKED (its writers are serialized by BEGIN
        IMMEDIATE, storage/db.py).
        """
        n = notifications
        now = bindparam("now", type_=n.c.next_attempt_at.type)
        claimable = (
            n.c.status == "pending",
            n.c.url.is_not(None),
            or_(n.c.lease_until.is_(None), n.c.lease_until < now),
        )
        due = select(n.c.id).where(*claimable)
        if due_only:
            due = due.where(n.c.next_attempt_at <= now)
        if notification_id is not None:
            due = due.where(n.c.id == notification_id)
        # A materialized CTE, evaluated once: as `id IN (subquery)` PostgreSQL may re-run the
        # LIMIT … SKIP LOCKED subquery per row and claim far more than `limit` rows.
        due_cte = (
            due.order_by(n.c.next_attempt_at)
            .limit(bindparam("limit", type_=Integer))
            .with_for_update(skip_locked=True)
            .cte("due")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        return (
            update(n)
            # The conditions again: under READ COMMITTED the outer UPDATE rechecks the row.
            .where(n.c.id == due_cte.c.id, *claimable)
            .values(
                lease_owner=self.name,
                lease_until=bindparam("lease_until", type_=n.c.lease_until.type),
            )
            .returning(
                n.c.id,
                n.c.order_id,
                n.c.merchant_id,
                n.c.url,
                n.c.body,
                n.c.signature,
                n.c.attempts,
                *(
                    select(column)
                    .where(merchants.c.id == n.c.merchant_id)
                    .scalar_subquery()
                    .label(f"merchant_{column.name}")
                    for column in _KEY_COLUMNS
                ),
            )
        )

    async def _claim(
        self, limit: int, *, notification_id: str | None = None, due_only: bool = True
    ) -> list[Job]:
        lease_deadline = asyncio.get_running_loop().time() + self.lease_seconds
        now = clock.now()
        if notification_id is None and due_only:
            statement = self._claim_due
        else:
            statement = DriverStatement(
                self._claim_statement(notification_id=notification_id, due_only=due_only)
            )
        params = {
            "now": now,
            "lease_until": now + timedelta(seconds=self.lease_seconds),
            "limit": limit,
        }
        # One statement, atomic on its own: committed (the lease taken) before anything is sent.
        async with self.db.statement() as conn:
            rows = await statement.fetch(conn, params)
        jobs = []
        for r in rows:
            body = bytes(r["body"])
            signature, signature_next = r["signature"], None
            merchant = _keys_of(r)
            if merchant is not None:
                signature, signature_next = _sign(body, merchant, now)
            jobs.append(
                Job(
                    r["id"],
                    r["order_id"],
                    r["url"],
                    body,
                    signature,
                    r["attempts"],
                    lease_deadline,
                    signature_next,
                )
            )
        return jobs

    async def _attempt(self, job: Job) -> Attempt:
        async with self._semaphore:
            return await self._send(job)

    async def _send(self, job: Job) -> Attempt:
        left = job.lease_deadline - asyncio.get_running_loop().time() - self.lease_margin
        timeout = min(self.deliverer.timeout_seconds, left)
        if timeout <= 0:
            return Attempt(job, None)
        try:
            result = await self.deliverer.post(
                job.url,
                job.body,
                job.signature,
                signature_next=job.signature_next,
                # Unique per request, not secret: 32 random bits from the fast generator.
                request_id=f"{job.id}-{job.attempts + 1}-{random.getrandbits(32):08x}",
                timeout_seconds=timeout,
            )
        except Exception:  # a bug, not the shop: hand the claim back, keep the loop alive
            log.exception("notification=%s order=%s delivery crashed", job.id, job.order_id)
            metrics.count_delivery("crashed", None)
            return Attempt(job, None)
        metrics.count_delivery(result.reason, result.duration_ms / 1000)
        return Attempt(job, result)

    async def _record(self, attempts: Sequence[Attempt]) -> None:
        """Record a batch: on PostgreSQL its deliveries in one statement, everything else in
        one transaction.

        If one row spoils a unit (an integrity error), its rows are recorded one by one.
        Whatever cannot be recorded is logged and left to its lease: it will be sent again.
        """
        if not attempts:
            return
        recorded: set[str] = set()
        failed: set[str] = set()  # not written: an error, logged as such (not a lost claim)
        rest: Sequence[Attempt] = attempts
        if self.db.dialect == "postgresql":
            delivered = [
                a for a in attempts if a.result is not None and a.result.outcome == "success"
            ]
            rest = [a for a in attempts if a.result is None or a.result.outcome != "success"]
            await self._record_unit(self._record_delivered_pg, delivered, recorded, failed)
        await self._record_unit(self._record_in_transaction, rest, recorded, failed)
        for attempt in attempts:
            job_id = attempt.job.id
            if attempt.result is not None and job_id not in recorded and job_id not in failed:
                metrics.CLAIMS_LOST.inc()
                log.warning(
                    "notification=%s order=%s dispatcher=%s lost its claim; %s not recorded",
                    attempt.job.id,
                    attempt.job.order_id,
                    self.name,
                    attempt.result.outcome,
                )

    async def _record_unit(
        self,
        unit: _RecordUnit,
        attempts: Sequence[Attempt],
        recorded: set[str],
        failed: set[str],
    ) -> None:
        if not attempts:
            return
        try:
            await unit(attempts, recorded)
            return
        except (SQLAlchemyError, OSError) as exc:
            failure: BaseException = exc
        if isinstance(failure, IntegrityError) and len(attempts) > 1:
            log.warning("dispatcher=%s batch record failed, recording one by one", self.name)
            for attempt in attempts:
                await self._record_unit(unit, [attempt], recorded, failed)
            return
        # Nothing of the unit was written (it is one statement or one transaction).
        recorded.difference_update(a.job.id for a in attempts)
        failed.update(a.job.id for a in attempts)
        log.error(
            "dispatcher=%s could not record %d attempts, first notification=%s order=%s",
            self.name,
            len(attempts),
            attempts[0].job.id,
            attempts[0].job.order_id,
            exc_info=failure,
        )

    async def _record_delivered_pg(self, attempts: Sequence[Attempt], recorded: set[str]) -> None:
        """Successful deliveries on PostgreSQL: one statement in autocommit."""
        columns: tuple[list[Any], ...] = tuple([] for _ in range(12))
        (
            ids,
            started,
            durations,
            urls,
            requests,
            statuses,
            headers,
            bodies,
            outcomes,
            reasons,
            codes,
            errors,
        ) = columns
        by_id: dict[str, Attempt] = {}
        for attempt in attempts:
            result = attempt.result
            assert result is not None
            by_id[attempt.job.id] = attempt
            ids.append(attempt.job.id)
            started.append(result.started_at)
            durations.append(result.duration_ms)
            urls.append(result.url)
            requests.append(_json_text(result.request_headers))
            statuses.append(result.http_status)
            headers.append(_json_text(result.response_headers))
            bodies.append(result.response_body)
            outcomes.append(result.outcome)
            reasons.append(result.reason)
            codes.append(result.reply_code)
            errors.append(result.error)
        async with self.db.statement() as conn:
            rows = await driver_fetch(
                conn, _RECORD_DELIVERED_PG, ids, clock.now(), self.name, *columns[1:]
            )
        assert rows is not None  # PostgreSQL in autocommit
        for row in rows:
            attempt = by_id[row["notification_id"]]
            recorded.add(attempt.job.id)
            assert attempt.result is not None
            _log_attempt(attempt.job, row["attempt"], "delivered", attempt.result)

    async def _record_in_transaction(self, attempts: Sequence[Attempt], recorded: set[str]) -> None:
        async with self.db.transaction() as conn:
            await self._record_in(conn, attempts, recorded)

    async def _record_in(
        self, conn: AsyncConnection, attempts: Sequence[Attempt], recorded: set[str]
    ) -> None:
        """Write a batch of results for the claims that are still ours.

        Ownership is `lease_owner = our name`, checked by the same statement that writes (or
        under a row lock taken first); the attempt number is the row's counter plus one, so
        two attempts of one notification can never share a number. The ids written go into
        `recorded` (taken out again by the caller when the transaction fails).
        """
        n = notifications
        now = clock.now()
        delivered: dict[str, Attempt] = {}
        failed: dict[str, Attempt] = {}
        released: list[str] = []
        for attempt in attempts:
            if attempt.result is None:
                released.append(attempt.job.id)
            elif attempt.result.outcome == "success":
                delivered[attempt.job.id] = attempt
            else:
                failed[attempt.job.id] = attempt
        logged: list[dict[str, Any]] = []
        if delivered:
            # The common case: one statement for the whole batch.
            rows = await conn.execute(self._record_delivered, {"ids": list(delivered), "now": now})
            for row in rows:
                attempt = delivered[row.id]
                logged.append(self._attempt_row(attempt, row.attempts))
                recorded.add(row.id)
                assert attempt.result is not None  # a delivered attempt has the shop's answer
                _log_attempt(attempt.job, row.attempts, "delivered", attempt.result)
        if failed:
            owned = await conn.execute(
                select(n.c.id, n.c.attempts)
                .where(n.c.id.in_(list(failed)), n.c.lease_owner == self.name)
                .with_for_update()
            )
            changes: list[dict[str, Any]] = []
            shipping_unavailable: list[str] = []
            for row in owned:
                attempt = failed[row.id]
                result = attempt.result
                assert result is not None
                number = row.attempts + 1
                status, next_attempt_at = self._next_state(result, number, now)
                changes.append(
                    {
                        "b_id": row.id,
                        "b_status": status,
                        "b_attempts": number,
                        "b_next_attempt_at": next_attempt_at,
                        "b_finished_at": None if status == "pending" else now,
                        "b_last_error": _last_error(result),
                    }
                )
                logged.append(self._attempt_row(attempt, number))
                recorded.add(row.id)
                if status == "abandoned":
                    metrics.ABANDONED.inc()
                if result.outcome == "rejected" and result.reply_code == "shipping_unavailable":
                    shipping_unavailable.append(attempt.job.order_id)
                _log_attempt(attempt.job, number, status, result)
            if changes:
                await conn.execute(
                    update(n)
                    .where(n.c.id == bindparam("b_id"), n.c.lease_owner == self.name)
                    .values(
                        status=bindparam("b_status"),
                        attempts=bindparam("b_attempts"),
                        next_attempt_at=bindparam("b_next_attempt_at"),
                        finished_at=bindparam("b_finished_at"),
                        last_error=bindparam("b_last_error"),
                        lease_owner=None,
                        lease_until=None,
                    ),
                    changes,
                )
            if shipping_unavailable:
                await orders_service.mark_shipping_unavailable(conn, shipping_unavailable, now)
        if logged:
            await conn.execute(_INSERT_ATTEMPTS, logged)
        if released:
            await conn.execute(
                update(n)
                .where(n.c.id.in_(released), n.c.lease_owner == self.name)
                .values(lease_owner=None, lease_until=None)
            )

    def _record_delivered_statement(self) -> Any:
        n = notifications
        return (
            update(n)
            .where(
                n.c.id.in_(bindparam("ids", expanding=True)),
                n.c.lease_owner == self.name,
            )
            .values(
                status="delivered",
                attempts=n.c.attempts + 1,
                finished_at=bindparam("now", type_=n.c.finished_at.type),
                last_error=None,
                lease_owner=None,
                lease_until=None,
            )
            .returning(n.c.id, n.c.attempts)
        )

    def _attempt_row(self, attempt: Attempt, number: int) -> dict[str, Any]:
        result = attempt.result
        assert result is not None
        return {
            "notification_id": attempt.job.id,
            "attempt": number,
            "dispatcher": self.name,
            "started_at": result.started_at,
            "duration_ms": result.duration_ms,
            "request_url": result.url,
            "request_headers": result.request_headers,
            "http_status": result.http_status,
            "response_headers": result.response_headers,
            "response_body": result.response_body,
            "outcome": result.outcome,
            "reason": result.reason,
            "reply_code": result.reply_code,
            "error": result.error,
        }

    def _next_state(
        self, result: DeliveryResult, number: int, now: datetime
    ) -> tuple[str, datetime]:
        """The notification's status and next due time after attempt `number` (1-based)."""
        if result.outcome == "success":
            return "delivered", now
        if result.outcome == "rejected":
            return "rejected", now
        if number > len(self.schedule):
            return "abandoned", now
        return "pending", now + timedelta(seconds=self.schedule[number - 1])


class _Pipeline:
    """run_forever's moving parts, overlapped so the HTTP side never waits for the database.

    * claims: up to PARALLEL_TRANSACTIONS claim transactions at once, each of at most
      `batch_size` rows, while the claimed-but-unrecorded rows (`outstanding`) stay under
      `concurrency + 3 * batch_size` and no more than `batch_size` rows wait for a sender
      (so a slow shop does not make us hoard claims other dispatchers could serve);
    * deliveries: `concurrency` sender loops take claimed rows from a queue;
    * records: finished deliveries are written in batches when a batch is full, when no
      delivery is pending, or after RECORD_LINGER_SECONDS; up to PARALLEL_TRANSACTIONS
      batches at once.
    """

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.batch_size = dispatcher.batch_size
        self.concurrency = dispatcher.concurrency
        self.max_outstanding = dispatcher.concurrency + 3 * dispatcher.batch_size
        self.max_delivering = dispatcher.concurrency + dispatcher.batch_size
        self.claim_threshold = max(1, self.batch_size // 2)
        self.poll = dispatcher.settings.dispatcher_poll_seconds
        self.outstanding = 0  # claimed, not yet recorded (includes rows being claimed)
        self.delivering = 0  # claimed, delivery not finished (includes rows being claimed)
        self.idle_until = 0.0  # after a claim found less than it asked for
        self.closing = False
        self.jobs: asyncio.Queue[Job] = asyncio.Queue()
        self.finished: deque[Attempt] = deque()
        self.tasks: set[asyncio.Task[None]] = set()  # claims and records in flight
        self.claims = 0
        self.records = 0
        self.senders: list[asyncio.Task[None]] = []
        self.recorder: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()  # for the claim loop
        self.has_results = asyncio.Event()  # for the recorder
        self.batch_ready = asyncio.Event()
        self.progress = asyncio.Event()  # a claim or a record finished

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        self.senders = [asyncio.create_task(self._sender()) for _ in range(self.concurrency)]
        self.recorder = asyncio.create_task(self._record_loop())
        self._spawn(self._watch(stop))
        while not stop.is_set():
            size = self._claim_size(loop.time())
            if size:
                self._start_claim(size)
                continue
            self.wake.clear()
            timeout = max(self.idle_until - loop.time(), 0.0) or self.poll
            await _wait(self.wake, timeout)
        self.closing = True
        self.batch_ready.set()
        while self.outstanding:
            self.progress.clear()
            await self.progress.wait()

    async def _watch(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.wake.set()

    def _claim_size(self, now: float) -> int:
        if self.claims >= PARALLEL_TRANSACTIONS or now < self.idle_until:
            return 0
        room = min(
            self.batch_size,
            self.max_outstanding - self.outstanding,
            self.max_delivering - self.delivering,
        )
        if room < self.claim_threshold and self.outstanding:
            return 0
        return max(room, 0)

    def _room_changed(self) -> None:
        """Wake the claim loop, but only when a claim could now be taken."""
        if (
            self.claims < PARALLEL_TRANSACTIONS
            and self.max_delivering - self.delivering >= self.claim_threshold
            and self.max_outstanding - self.outstanding >= self.claim_threshold
        ):
            self.wake.set()

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _start_claim(self, size: int) -> None:
        # Counted now, not when the task first runs: the loop decides on these numbers.
        self.claims += 1
        self.outstanding += size
        self.delivering += size
        self._spawn(self._claim(size))

    async def _claim(self, size: int) -> None:
        jobs: list[Job] = []
        try:
            jobs = await self.dispatcher._claim(size)
        except (SQLAlchemyError, OSError):
            log.exception("dispatcher=%s claim failed", self.dispatcher.name)
        finally:
            self.claims -= 1
            unused = size - len(jobs)
            self.outstanding -= unused
            self.delivering -= unused
            if unused:
                self.idle_until = asyncio.get_running_loop().time() + self.poll
                self._release_if_idle()
            self.wake.set()
            self.progress.set()
        for job in jobs:
            self.jobs.put_nowait(job)

    async def _sender(self) -> None:
        while True:
            job = await self.jobs.get()
            try:
                attempt = await self.dispatcher._send(job)
            finally:
                self.delivering -= 1
            self.finished.append(attempt)
            self.has_results.set()
            if len(self.finished) >= self.batch_size or not self.delivering:
                self.batch_ready.set()
            self._room_changed()

    def _release_if_idle(self) -> None:
        if not self.delivering:
            self.batch_ready.set()

    async def _record_loop(self) -> None:
        while True:
            await self.has_results.wait()
            if len(self.finished) < self.batch_size and self.delivering and not self.closing:
                await _wait(self.batch_ready, RECORD_LINGER_SECONDS)
            self.batch_ready.clear()
            while self.records >= PARALLEL_TRANSACTIONS:
                self.progress.clear()
                await self.progress.wait()
            count = min(self.batch_size, len(self.finished))
            batch = [self.finished.popleft() for _ in range(count)]
            if not self.finished:
                self.has_results.clear()
            if batch:
                self.records += 1
                self._spawn(self._record(batch))

    async def _record(self, batch: list[Attempt]) -> None:
        try:
            await self.dispatcher._record(batch)
        except Exception:  # the claims lapse and are retried; the loop must go on
            log.exception("dispatcher=%s recording crashed", self.dispatcher.name)
        finally:
            self.records -= 1
            self.outstanding -= len(batch)
            self.progress.set()
            self._room_changed()

    async def cancel(self) -> None:
        tasks = [*self.tasks, *self.senders]
        if self.recorder is not None:
            tasks.append(self.recorder)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _wait(event: asyncio.Event, timeout: float) -> None:
    """Until `event` is set or `timeout` passes, whichever is first."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()


def _json_text(value: dict[str, str] | None) -> str | None:
    """Headers as the ExactJSON column stores them (storage/types.py), by the same encoder;
    every value is valid text (`delivery._stored_headers` replaced what was not)."""
    return None if value is None else jsonutil.dumps(value).decode()


def _last_error(result: DeliveryResult) -> str | None:
    if result.outcome == "success":
        return None
    if result.outcome == "rejected":
        # A shop's final code, or our own refusal to connect (delivery.py `_blocked`).
        return f"rejected: {result.reply_code}" if result.reply_code else result.error
    return result.error


def _log_attempt(job: Job, number: int, status: str, result: DeliveryResult) -> None:
    if status == "delivered":
        level = logging.DEBUG
    elif status == "pending":
        level = logging.INFO
    else:
        level = logging.WARNING
    if log.isEnabledFor(level):
        log.log(
            level,
            "notification=%s order=%s attempt=%d status=%s http=%s code=%s error=%s ms=%d",
            job.id,
            job.order_id,
            number,
            status,
            result.http_status,
            result.reply_code,
            result.error,
            result.duration_ms,
        )
