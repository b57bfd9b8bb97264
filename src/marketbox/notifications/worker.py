"""The background worker (dispatcher loop + expiry sweep + card-payment recovery + mail) and the
notification services.

`run_worker` is what `create_app(run_worker=True)` and the `marketbox` CLI run; `main()` runs
it as a process until SIGTERM/SIGINT. `send_test` writes an outbox record inside the caller's
transaction, like every service; the worker delivers it after the commit. Resending and the
delivery log are `service.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, metrics
from marketbox.config import Settings, get_settings
from marketbox.mail.sender import MailSender
from marketbox.notifications import outbox
from marketbox.notifications.dispatcher import Dispatcher
from marketbox.orders import service as orders_service
from marketbox.payments import attempts, operations
from marketbox.payments.gateway import PaymentGateway, create_gateway
from marketbox.refunds import service as refunds_service
from marketbox.sandbox import clock as sandbox_clock
from marketbox.storage import idempotency
from marketbox.storage.db import Database

log = logging.getLogger("marketbox.notifications")


async def run_worker(
    settings: Settings, db: Database, stop_event: asyncio.Event | None = None
) -> None:
    """Deliver notifications, expire overdue orders and finish card attempts a crash left
    unfinished (payments/attempts.py `recover`) until `stop_event` is set (or cancelled).

    Setting the event is a graceful stop: deliveries in flight finish and are recorded.
    Cancelling is abrupt: in-flight claims lapse after the lease and are delivered again.
    """
    stop = stop_event or asyncio.Event()
    tasks = []
    if settings.mode == "sandbox":
        # The sandbox clock (docs/sandbox.md): deadlines and retries follow it within a second.
        await sandbox_clock.refresh(db)
        tasks.append(asyncio.create_task(sandbox_clock.keep_in_step(db, stop)))
    dispatcher = Dispatcher(settings, db)
    gateway = create_gateway(settings, db)
    tasks.append(asyncio.create_task(_expiry_sweeps(settings, db, stop, gateway)))
    tasks.append(asyncio.create_task(_mail_passes(settings, db, stop)))
    try:
        await dispatcher.run_forever(stop)
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await dispatcher.close()
        await gateway.close()


async def _expiry_sweeps(
    settings: Settings, db: Database, stop: asyncio.Event, gateway: PaymentGateway
) -> None:
    """Unpaid orders past their deadline become `expired` (and their shops are notified);
    formed refunds are paid out; captures, releases and refunds are asked of the gateway
    (payments/operations.py); Idempotency-Keys older than `idempotency.KEEP` (24 h) are
    forgotten; card attempts left unfinished by a crash are resolved with the gateway."""
    while not stop.is_set():
        try:
            async with db.transaction() as conn:
                expired = await orders_service.expire_due(conn)
            if expired:
                log.info("expired %d overdue orders", expired)
            async with db.transaction() as conn:
                paid_out = await refunds_service.pay_out_formed(conn)
            if paid_out:
                log.info("paid out %d refunds", paid_out)
        except Exception:  # a failed sweep is retried at the next one; the worker goes on
            log.exception("expiry sweep failed")
        try:
            moved = await operations.run_due(
                db,
                gateway,
                settings,
                effects={operations.REFUND: refunds_service.payout_effect},
            )
            if moved.total:
                log.info("gateway operations: %s", moved.by_status)
                metrics.count_by_status(metrics.GATEWAY_OPERATIONS, moved.by_status)
        except Exception:
            log.exception("gateway operations pass failed")
        try:
            await purge_idempotency_keys(db)
        except Exception:
            log.exception("idempotency key purge failed")
        try:
            recovered = await attempts.recover(db, gateway, settings)
            if recovered.total:
                log.info("recovered card attempts: %s", recovered.by_status)
                metrics.count_by_status(metrics.CARD_ATTEMPTS_RECOVERED, recovered.by_status)
        except Exception:
            log.exception("card-attempt recovery failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.expiry_sweep_seconds)


async def _mail_passes(settings: Settings, db: Database, stop: asyncio.Event) -> None:
    """Send the recorded letters (mail/sender.py): by SMTP, or captured in the sandbox."""
    sender = MailSender(settings, db)
    while not stop.is_set():
        try:
            moved = await sender.run_due()
            if moved:
                log.info("mail: %s", moved)
        except Exception:  # retried at the next pass
            log.exception("mail pass failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.mail_poll_seconds)


async def purge_idempotency_keys(db: Database) -> int:
    """Forget the Idempotency-Keys claimed more than `idempotency.KEEP` (24 h) ago."""
    async with db.statement() as conn:
        purged = await idempotency.purge(conn, before=clock.now() - idempotency.KEEP)
    if purged:
        log.info("purged %d idempotency keys", purged)
    return purged


def main(settings: Settings | None = None) -> None:
    """Run the worker as a process until SIGTERM or SIGINT (a graceful stop)."""
    settings = settings or get_settings()
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
    asyncio.run(_serve(settings))


async def _serve(settings: Settings) -> None:
    db = Database(settings.database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await run_worker(settings, db, stop)
    finally:
        await db.dispose()


async def send_test(conn: AsyncConnection, *, merchant_id: str, settings: Settings) -> str:
    """Queue the monitoring test notification (notifications.md §6.1) to the merchant's URL.

    Returns the notification id (its status is `no_url` when the merchant has no URL);
    raises LookupError for an unknown merchant. Never commits. To send it right away instead
    of waiting for the worker: `await Dispatcher(settings, db).deliver_now(id)` after commit.
    """
    payment_url = settings.payment_url(outbox.TEST_NOTIFICATION_ORDER_ID)
    return await outbox.enqueue_test(conn, merchant_id=merchant_id, payment_url=payment_url)
