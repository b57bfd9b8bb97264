"""The sandbox commands (docs/sandbox.md): `trigger`, `clock` and `sandbox reset`.

Each refuses production mode first (one line, exit 1), then opens the database, loads the
sandbox clock's offset into this process (so domain time is the sandbox's), calls one service
and prints.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from marketbox.cli.errors import CommandError
from marketbox.config import Settings
from marketbox.sandbox.errors import BadDuration

if TYPE_CHECKING:
    from marketbox.storage.db import Database

TRIGGERS = ("pay", "decline", "hold", "expire")


def duration(text: str) -> timedelta:
    """argparse `type=`: «2h», «30m», «1d12h»."""
    from marketbox.sandbox.clock import parse_duration

    try:
        return parse_duration(text)
    except BadDuration as exc:
        raise argparse.ArgumentTypeError(exc.fields[0].message) from None


def add_commands(commands: Any, object_id: Callable[[str], str]) -> None:
    trigger = commands.add_parser(
        "trigger",
        help="sandbox: pay, decline, hold or expire an order without a browser",
        description="Do to an order what a buyer or its deadline would: pay its invoice with "
        "a test card (pay), have the bank decline it (decline), pay it as a pre-authorisation "
        "(hold), or let its deadline pass now (expire). Notifications, receipts and letters "
        "follow as usual; a running worker delivers them. Refused in production mode.",
    )
    trigger.add_argument("action", choices=TRIGGERS, help="what happens to the order")
    trigger.add_argument("order_id", type=object_id, metavar="ORDER_ID", help="the order's id")
    _json_option(trigger)
    trigger.set_defaults(handler=cmd_trigger)

    clock = commands.add_parser(
        "clock",
        help="sandbox: show, move forward or reset the sandbox clock",
        description="The sandbox clock is the time deadlines and notification retries follow. "
        "Moving it forward makes them fire now, in every process within a second. Refused in "
        "production mode.",
    )
    actions = clock.add_subparsers(
        dest="action", required=True, metavar="ACTION", help="what to do with the clock"
    )
    show = actions.add_parser("show", help="print the sandbox time and how far it is moved")
    _json_option(show)
    show.set_defaults(handler=cmd_clock_show)
    advance = actions.add_parser(
        "advance", help="move the clock forward (expired orders are expired at once)"
    )
    advance.add_argument(
        "by", type=duration, metavar="DURATION", help="how far: 30s, 15m, 2h, 1d, 1d12h30m"
    )
    _json_option(advance)
    advance.set_defaults(handler=cmd_clock_advance)
    reset = actions.add_parser("reset", help="back to the real time")
    _json_option(reset)
    reset.set_defaults(handler=cmd_clock_reset)

    sandbox = commands.add_parser("sandbox", help="sandbox data")
    sandbox_actions = sandbox.add_subparsers(
        dest="action", required=True, metavar="ACTION", help="what to do with the sandbox"
    )
    wipe = sandbox_actions.add_parser(
        "reset",
        help="delete every order, payment, notification, letter and receipt; keep merchants, "
        "instruments and points of sale; restore the demo shop (docs/sandbox.md)",
    )
    _json_option(wipe)
    wipe.set_defaults(handler=cmd_sandbox_reset)


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")


def _refuse_production(settings: Settings) -> None:
    if settings.mode != "sandbox":
        raise CommandError(
            "sandbox controls are disabled in production mode (MARKETBOX_MODE=production)"
        )


def _in_sandbox(settings: Settings, work: Callable[[Database], Awaitable[Any]]) -> Any:
    import asyncio

    from marketbox.cli.database import open_database
    from marketbox.sandbox import clock as sandbox_clock

    _refuse_production(settings)

    async def run() -> Any:
        async with open_database(settings) as db:
            await sandbox_clock.refresh(db)
            return await work(db)

    return asyncio.run(run())


def _print(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        for key, value in data.items():
            print(f"{key}: {value}")


def cmd_trigger(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.orders.errors import OrderNotFound
    from marketbox.payments.gateway import create_gateway
    from marketbox.sandbox import service
    from marketbox.sandbox.errors import TriggerRefused

    async def work(db: Database) -> Any:
        gateway = create_gateway(settings, db)
        try:
            return await service.trigger(
                db, gateway, settings, action=args.action, order_id=args.order_id, merchant=None
            )
        except OrderNotFound as exc:
            raise CommandError(f"no order with id {args.order_id}") from exc
        except TriggerRefused as exc:
            raise CommandError(f"order {args.order_id}: {exc.detail}") from exc
        finally:
            await gateway.close()

    result = _run_trigger(settings, work)
    printed = {"orderId": result.order_id, "action": result.action, "result": result.outcome}
    if result.payment_id:
        printed["paymentId"] = result.payment_id
    if result.failure_code:
        printed["failureCode"] = result.failure_code
    _print(printed, args.json)
    return 0


def _run_trigger(settings: Settings, work: Callable[[Database], Awaitable[Any]]) -> Any:
    from marketbox.errors import AppError

    try:
        return _in_sandbox(settings, work)
    except AppError as exc:  # AlreadyPaid, the throttle…: the API's message, one line
        raise CommandError(exc.detail) from exc


def _clock_state(expired: int | None = None) -> dict[str, Any]:
    from marketbox import clock

    offset = clock.offset()
    state: dict[str, Any] = {
        "now": clock.now().isoformat(),
        "offsetSeconds": int(offset.total_seconds()),
    }
    if expired is not None:
        state["expiredOrders"] = expired
    return state


def cmd_clock_show(args: argparse.Namespace, settings: Settings) -> int:
    async def work(db: Database) -> None:
        return None

    _in_sandbox(settings, work)
    _print(_clock_state(), args.json)
    return 0


def cmd_clock_advance(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.sandbox import service

    async def work(db: Database) -> int:
        async with db.transaction() as conn:
            state = await service.advance_clock(conn, args.by)
        return state.expired

    expired = _in_sandbox(settings, work)
    _print(_clock_state(expired), args.json)
    return 0


def cmd_clock_reset(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.sandbox import clock as sandbox_clock

    async def work(db: Database) -> None:
        async with db.transaction() as conn:
            await sandbox_clock.reset(conn)

    _in_sandbox(settings, work)
    _print(_clock_state(), args.json)
    return 0


def cmd_sandbox_reset(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.sandbox import service
    from marketbox.storage.shared import SharedState

    async def work(db: Database) -> dict[str, int]:
        async with db.transaction() as conn:
            result = await service.reset(conn)
        # The demo shop's documented token is back: running processes drop cached tokens.
        shared = SharedState(settings.redis_url, settings.redis_key_prefix)
        try:
            await shared.credentials_changed()
        finally:
            await shared.aclose()
        return result.deleted

    deleted = _in_sandbox(settings, work)
    if args.json:
        print(json.dumps({"deleted": deleted}))
    else:
        total = sum(deleted.values())
        print(f"marketbox: sandbox reset: {total} rows deleted; demo shop restored")
        for table, count in sorted(deleted.items()):
            if count:
                print(f"  {table}: {count}")
    return 0
