"""The `marketbox` command: a thin shell over the services.

Each command parses arguments, opens one transaction, calls one service and prints. Success
exits 0; any failure prints one line to stderr and exits non-zero.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from marketbox.config import Settings, get_settings

EXIT_FAILURE = 1
EXIT_USAGE = 2


class CommandError(Exception):
    """A failure with a one-line explanation for the user."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marketbox",
        description="Self-hostable Invoicebox-compatible marketplace and payment platform.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the API, payment page and dispatcher")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--no-worker", action="store_true", help="leave the dispatcher out")

    sub.add_parser("worker", help="run the notification dispatcher and expiry sweep only")
    sub.add_parser("migrate", help="apply database migrations")

    merchant = sub.add_parser("merchant", help="manage merchants")
    merchant_sub = merchant.add_subparsers(dest="action", required=True, metavar="ACTION")
    m_create = merchant_sub.add_parser("create", help="create a merchant with an API token")
    m_create.add_argument("--name", required=True)
    m_create.add_argument("--notification-url")
    m_create.add_argument("--json", action="store_true", help="print JSON")

    instrument = sub.add_parser("instrument", help="manage payment instruments (banks)")
    instrument_sub = instrument.add_subparsers(dest="action", required=True, metavar="ACTION")
    i_create = instrument_sub.add_parser("create", help="create a payment instrument")
    i_create.add_argument("--name", required=True)
    i_create.add_argument("--json", action="store_true", help="print JSON")

    notify = sub.add_parser("notify-test", help="send the monitoring test notification")
    notify.add_argument("--merchant", required=True, metavar="ID")

    demo = sub.add_parser("demo", help="run the whole flow locally with the demo shop")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--shop-port", type=int, default=8001)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if first["loc"]:
            message = "MARKETBOX_" + "_".join(str(p) for p in first["loc"]).upper() + f": {message}"
        return _fail(f"invalid configuration: {message}")
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    handler = COMMANDS[args.command]
    try:
        return handler(args, settings)
    except CommandError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    except (SQLAlchemyError, ConnectionRefusedError, socket.gaierror) as exc:
        reason = _one_line(getattr(exc, "orig", None) or exc)
        url = make_url(settings.database_url).render_as_string(hide_password=True)
        return _fail(f"cannot use the database {url}: {reason} (check MARKETBOX_DATABASE_URL)")
    except Exception as exc:  # the CLI's promise: one line, non-zero exit
        return _fail(f"{type(exc).__name__}: {_one_line(exc)}")


def _fail(message: str) -> int:
    print(f"marketbox: error: {message}", file=sys.stderr)
    return EXIT_FAILURE


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


def _print(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(data))
    else:
        for key, value in data.items():
            print(f"{key}: {value}")


async def _with_transaction(settings: Settings, work: Callable[[Any], Awaitable[Any]]) -> Any:
    from marketbox.bootstrap import prepare_database
    from marketbox.storage.db import Database

    db = Database(settings.database_url)
    try:
        await prepare_database(settings, db)
        async with db.transaction() as conn:
            return await work(conn)
    finally:
        await db.dispose()


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from marketbox.app import create_app

    app = create_app(settings, run_worker=not args.no_worker)
    print(
        f"marketbox: serving on http://{args.host}:{args.port} (public URL {settings.public_base})"
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.bootstrap import prepare_database
    from marketbox.notifications.worker import run_worker
    from marketbox.storage.db import Database

    async def work() -> None:
        db = Database(settings.database_url)
        try:
            await prepare_database(settings, db)
            await run_worker(settings, db)
        finally:
            await db.dispose()

    print("marketbox: worker running (Ctrl-C to stop)")
    _run(work())
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.bootstrap import prepare_database
    from marketbox.storage.db import Database

    async def work() -> None:
        db = Database(settings.database_url)
        try:
            await prepare_database(settings, db)
        finally:
            await db.dispose()

    _run(work())
    print("marketbox: database is up to date")
    return 0


def cmd_merchant(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.merchants import service

    async def work(conn: Any) -> Any:
        return await service.create_merchant(
            conn,
            name=args.name,
            notification_url=args.notification_url,
            block_private_networks=settings.blocks_private_networks,
        )

    if args.notification_url and not args.notification_url.startswith(("http://", "https://")):
        raise CommandError("--notification-url must be an http(s) URL")
    creds = _run(_with_transaction(settings, work))
    _print(
        {"merchantId": creds.id, "token": creds.token, "signingKey": creds.signing_key}, args.json
    )
    return 0


def cmd_instrument(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.merchants import service

    async def work(conn: Any) -> Any:
        return await service.create_instrument(conn, name=args.name)

    creds = _run(_with_transaction(settings, work))
    _print({"id": creds.id, "token": creds.token, "signingKey": creds.signing_key}, args.json)
    return 0


def cmd_notify_test(args: argparse.Namespace, settings: Settings) -> int:
    """Queue the monitoring test notification and deliver it at once, printing the reply.

    A shop that does not answer `success` makes the command fail; the record stays in the
    outbox and a running worker keeps retrying it like any other notification.
    """
    from marketbox.bootstrap import prepare_database
    from marketbox.notifications import worker
    from marketbox.notifications.dispatcher import Dispatcher
    from marketbox.storage.db import Database

    async def work() -> tuple[str, Any]:
        db = Database(settings.database_url)
        try:
            await prepare_database(settings, db)
            async with db.transaction() as conn:
                try:
                    notification_id = await worker.send_test(
                        conn, merchant_id=args.merchant.lower(), payment_base=settings.public_base
                    )
                except LookupError as exc:
                    raise CommandError(f"no merchant with id {args.merchant}") from exc
            async with Dispatcher(settings, db) as dispatcher:
                return notification_id, await dispatcher.deliver_now(notification_id)
        finally:
            await db.dispose()

    notification_id, result = _run(work())
    if result is None:
        raise CommandError(
            f"test notification {notification_id} was not sent: the merchant has no "
            "notification URL (set one with `merchant create --notification-url`)"
        )
    reply = (result.response_body or "").strip().replace("\n", " ")[:200]
    status = result.http_status if result.http_status is not None else "no answer"
    print(
        f"marketbox: test notification {notification_id}: {result.outcome} (HTTP {status}) {reply}"
    )
    if result.outcome != "success":
        raise CommandError(f"the shop did not accept it: {result.error or reply or result.outcome}")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.cli.demo import run_demo

    return run_demo(args, settings)


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "serve": cmd_serve,
    "worker": cmd_worker,
    "migrate": cmd_migrate,
    "merchant": cmd_merchant,
    "instrument": cmd_instrument,
    "notify-test": cmd_notify_test,
    "demo": cmd_demo,
}


if __name__ == "__main__":
    raise SystemExit(main())
