"""The `marketbox` command: a thin shell over the services.

Each command parses arguments, opens one transaction, calls one service and prints. Success
exits 0; any failure prints one line to stderr and exits non-zero (2 for a bad command line,
1 otherwise).

Adding a command: write `cmd_<name>(args, settings) -> int`, and a `_add_<name>(commands)`
that registers its parser with `set_defaults(handler=cmd_<name>)` (for a group such as
`merchant`, one handler per action), then call it from `build_parser`. Every command and
option carries a help text (tests/unit/test_cli_parser.py checks); option values are checked
by the `type=` functions below, so a bad value is a usage error before anything runs.
A command that needs the database opens it with `cli.database.open_database` (or
`_with_transaction`), which turns a bad MARKETBOX_DATABASE_URL into one line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, NoReturn
from urllib.parse import urlsplit

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from marketbox import logs
from marketbox.cli import sandbox as sandbox_commands
from marketbox.cli.errors import CommandError
from marketbox.cli.mail import add_mail
from marketbox.config import Settings, get_settings

__all__ = ["CommandError", "build_parser", "main"]

EXIT_FAILURE = 1
EXIT_USAGE = 2
DEFAULT_PORT = 8000
DEFAULT_SHOP_PORT = 8001
# The widths of the name and notification_url columns (storage/tables.py).
MAX_NAME_LENGTH = 500
MAX_URL_LENGTH = 1000

Handler = Callable[[argparse.Namespace, Settings], int]


class Parser(argparse.ArgumentParser):
    """argparse with the CLI's promise for usage errors too: one line, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


# Option value checks (argparse `type=`): each returns the clean value or says what is wrong.


def port_number(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port: use a number in 1-65535")
    return port


def non_blank(text: str) -> str:
    value = text.strip()
    if not value:
        raise argparse.ArgumentTypeError("must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise argparse.ArgumentTypeError(
            f"is {len(value)} characters long; at most {MAX_NAME_LENGTH}"
        )
    return value


def http_url(text: str) -> str:
    value = text.strip()
    try:
        parts = urlsplit(value)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        valid = False
    if not valid:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an absolute http(s) URL (e.g. https://shop.example/notify)"
        )
    if len(value) > MAX_URL_LENGTH:
        raise argparse.ArgumentTypeError(f"is longer than {MAX_URL_LENGTH} characters")
    return value


def positive_int(text: str) -> int:
    value = text.strip()
    # ASCII digits only (int() would take "²" or "١"); at most a 32-bit id.
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 2**31 - 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not an id: use a whole number such as 42")
    return int(value)


MAX_WORKERS = 64


def process_count(text: str) -> int:
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of processes: use a whole number in 1-{MAX_WORKERS}"
        )
    return int(value)


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_OVERLAP_SECONDS = 7 * 86400  # merchants.service.MAX_OVERLAP


def overlap_duration(text: str) -> timedelta:
    """`0`, or a whole number with a unit: `90s`, `30m`, `2h`, `7d` (at most 7 days)."""
    found = re.fullmatch(r"([0-9]+)([smhd])|0", text.strip().lower())
    seconds = int(found[1]) * _DURATION_UNITS[found[2]] if found and found[1] else 0
    if found is None or seconds > MAX_OVERLAP_SECONDS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an overlap: use 0 or a duration such as 30m, 2h or 7d (at most 7d)"
        )
    return timedelta(seconds=seconds)


def object_id(text: str) -> str:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an id: ids are 36-character UUIDs "
            "(e.g. ffffffff-ffff-ffff-ffff-ffffffffffff)"
        ) from None


def email_address(text: str) -> str:
    from marketbox.merchants.service import clean_notification_email

    try:
        return clean_notification_email(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (expected name@example.com)") from None


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="marketbox",
        description="Self-hostable Invoicebox-compatible marketplace and payment platform. "
        "Configured by MARKETBOX_* environment variables (see README.md).",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="what to do"
    )
    _add_serve(commands)
    _add_worker(commands)
    _add_migrate(commands)
    _add_merchant(commands)
    _add_instrument(commands)
    _add_addon(commands)
    _add_notify_test(commands)
    _add_notifications(commands)
    _add_demo(commands)
    add_mail(commands)
    _add_listen(commands)
    _add_gate(commands)
    sandbox_commands.add_commands(commands, object_id)
    _add_user(commands)
    return parser


Commands = Any  # argparse's private _SubParsersAction


def _add_listen_options(parser: argparse.ArgumentParser, host_for: str) -> None:
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help=f"address {host_for} listen on (default: %(default)s; 0.0.0.0: every interface)",
    )
    parser.add_argument(
        "--port",
        type=port_number,
        default=DEFAULT_PORT,
        help="TCP port of the platform, 1-65535 (default: %(default)s)",
    )


def _add_serve(commands: Commands) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the API, payment page, marketplace and dispatcher",
        description="Run the platform. Payment links use MARKETBOX_PUBLIC_URL when it is set, "
        "otherwise the address served here (http://127.0.0.1:PORT for --host 0.0.0.0).",
    )
    _add_listen_options(serve, "the platform will")
    serve.add_argument(
        "--no-worker",
        action="store_true",
        help="leave the notification dispatcher out (run `marketbox worker` separately)",
    )
    serve.add_argument(
        "--workers",
        type=process_count,
        default=1,
        metavar="N",
        help="API processes sharing the port (default: %(default)s, this process); with N > 1 "
        "the dispatcher runs in one more process of its own (docs/deploy.md)",
    )
    serve.set_defaults(handler=cmd_serve)


def _add_worker(commands: Commands) -> None:
    worker = commands.add_parser(
        "worker",
        help="run the notification dispatcher and expiry sweep only",
        description="Deliver notifications, expire overdue orders and run the gateway "
        "operations until SIGTERM or Ctrl-C (deliveries in flight finish first). Any number "
        "of workers may run at once: they share the work through leases (docs/deploy.md).",
    )
    worker.add_argument(
        "--metrics-port",
        type=port_number,
        metavar="PORT",
        help="serve /metrics and /healthz for Prometheus on this TCP port (default: none); "
        "scrapes need MARKETBOX_METRICS_TOKEN when it is set",
    )
    worker.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="address the metrics port listens on (default: %(default)s; 0.0.0.0: every interface)",
    )
    worker.set_defaults(handler=cmd_worker)


def _add_migrate(commands: Commands) -> None:
    migrate = commands.add_parser(
        "migrate", help="apply database migrations (and seed the demo shop in sandbox mode)"
    )
    migrate.set_defaults(handler=cmd_migrate)


def _add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")


def _add_merchant(commands: Commands) -> None:
    merchant = commands.add_parser("merchant", help="manage merchants")
    actions = merchant.add_subparsers(
        dest="action", required=True, metavar="ACTION", help="what to do with merchants"
    )
    create = actions.add_parser("create", help="create a merchant; prints its id, token and key")
    create.add_argument(
        "--name", required=True, type=non_blank, help="the merchant's name (not empty)"
    )
    create.add_argument(
        "--notification-url",
        type=http_url,
        help="absolute http(s) URL that receives the merchant's payment notifications",
    )
    create.add_argument(
        "--email",
        type=email_address,
        help="e-mail address that receives a notice of each payment (docs/mail.md)",
    )
    _add_json_option(create)
    create.set_defaults(handler=cmd_merchant_create)
    _add_rotate(actions, "merchant", cmd_merchant_rotate)
    set_email = actions.add_parser(
        "set-email", help="set (or with --clear, remove) where the merchant's notices are mailed"
    )
    set_email.add_argument(
        "id", type=object_id, help="the merchant's id (as printed by `merchant create`)"
    )
    set_email.add_argument(
        "email", nargs="?", type=email_address, help="the address for payment notices"
    )
    set_email.add_argument(
        "--clear", action="store_true", help="mail no notices to this merchant any more"
    )
    _add_json_option(set_email)
    set_email.set_defaults(handler=cmd_merchant_set_email)
    _add_retire_previous(actions, "merchant", cmd_merchant_retire_previous)
    notification = actions.add_parser(
        "notification",
        help="set the merchant's default notification URL and signature algorithm",
    )
    notification.add_argument("id", type=object_id, metavar="ID", help="the merchant's id")
    target = notification.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--url", type=http_url, help="absolute http(s) URL that receives the notifications"
    )
    target.add_argument(
        "--no-url", action="store_true", help="remove the default URL (orders' own URLs remain)"
    )
    notification.add_argument(
        "--algorithm",
        choices=("sha1", "sha256", "sha512", "md5"),
        help="HMAC algorithm of X-Signature (default: keep the current one)",
    )
    _add_json_option(notification)
    notification.set_defaults(handler=cmd_merchant_notification)


def _add_instrument(commands: Commands) -> None:
    instrument = commands.add_parser("instrument", help="manage payment instruments (banks)")
    actions = instrument.add_subparsers(
        dest="action", required=True, metavar="ACTION", help="what to do with instruments"
    )
    create = actions.add_parser(
        "create", help="create a payment instrument; prints its id, token and key"
    )
    create.add_argument(
        "--name", required=True, type=non_blank, help="the instrument's name (not empty)"
    )
    _add_json_option(create)
    create.set_defaults(handler=cmd_instrument_create)
    _add_rotate(actions, "instrument", cmd_instrument_rotate)
    _add_retire_previous(actions, "instrument", cmd_instrument_retire_previous)


def _add_rotate(actions: Any, kind: str, handler: Handler) -> None:
    rotate = actions.add_parser(
        "rotate",
        help=f"issue a new token and/or signing key for a {kind}; the old ones keep working "
        "for --overlap, then stop in every process (docs/security.md)",
    )
    rotate.add_argument("id", type=object_id, metavar="ID", help=f"the {kind}'s id")
    rotate.add_argument("--token", action="store_true", help="rotate the API token only")
    rotate.add_argument("--signing-key", action="store_true", help="rotate the signing key only")
    rotate.add_argument(
        "--overlap",
        type=overlap_duration,
        default=timedelta(hours=24),
        help="how long the previous token and key keep working: 0 (they stop at once) or a "
        "duration such as 30m, 2h, 7d (at most 7d; default: 24h)",
    )
    _add_json_option(rotate)
    rotate.set_defaults(handler=handler)


def _add_retire_previous(actions: Any, kind: str, handler: Handler) -> None:
    retire = actions.add_parser(
        "retire-previous",
        help=f"stop the {kind}'s previous token and signing key now (end a rotation's overlap)",
    )
    retire.add_argument("id", type=object_id, metavar="ID", help=f"the {kind}'s id")
    retire.add_argument("--token", action="store_true", help="retire the previous token only")
    retire.add_argument(
        "--signing-key", action="store_true", help="retire the previous signing key only"
    )
    _add_json_option(retire)
    retire.set_defaults(handler=handler)


def _add_addon(commands: Commands) -> None:
    addon = commands.add_parser(
        "addon",
        help="review add-ons: points of sale whose mini-app joins other merchants' invoices",
    )
    actions = addon.add_subparsers(
        dest="action", required=True, metavar="ACTION", help="what to do with add-ons"
    )
    listing = actions.add_parser("list", help="list points of sale with a suborder mini-app")
    listing.add_argument(
        "--status",
        choices=("pending", "approved", "revoked"),
        help="only add-ons in this state (default: all)",
    )
    _add_json_option(listing)
    listing.set_defaults(handler=cmd_addon_list)
    for action, verb in (("approve", "approved"), ("revoke", "revoked")):
        decide = actions.add_parser(
            action,
            help=f"mark a point of sale's add-on as {verb}"
            + (" (offered on payment pages from now on)" if verb == "approved" else ""),
        )
        decide.add_argument(
            "shop_id", type=positive_int, metavar="SHOP_ID", help="the point of sale's id"
        )
        _add_json_option(decide)
        decide.set_defaults(handler=cmd_addon_decide, decision=verb)
    place = actions.add_parser(
        "position",
        help="place an add-on on the payment page's strip (1 first; none: after the placed ones,"
        " oldest first)",
    )
    place.add_argument(
        "shop_id", type=positive_int, metavar="SHOP_ID", help="the point of sale's id"
    )
    place.add_argument("position", metavar="POSITION", help="a whole number from 1, or none")
    _add_json_option(place)
    place.set_defaults(handler=cmd_addon_position)
    limit = actions.add_parser(
        "limit",
        help="show or set the most add-on cards a payment page shows (none: no limit)",
    )
    limit.add_argument(
        "limit", nargs="?", metavar="N", help="a whole number from 1, or none (default: show)"
    )
    _add_json_option(limit)
    limit.set_defaults(handler=cmd_addon_limit)


def _add_notify_test(commands: Commands) -> None:
    notify = commands.add_parser(
        "notify-test", help="send the monitoring test notification to a merchant now"
    )
    notify.add_argument(
        "--merchant",
        required=True,
        metavar="ID",
        type=object_id,
        help="the merchant's id (as printed by `merchant create`)",
    )
    notify.add_argument(
        "--url", type=http_url, help="send it here instead of the merchant's notification URL"
    )
    _add_json_option(notify)
    notify.set_defaults(handler=cmd_notify_test)


def _add_notifications(commands: Commands) -> None:
    log = commands.add_parser(
        "notifications",
        help="the notification delivery log of a merchant: list, show, resend",
        description="Every notification sent to a shop, each attempt's exact request and the "
        "shop's reply (docs/notifications.md §8). Resends are delivered by the worker.",
    )
    actions = log.add_subparsers(dest="action", required=True, metavar="ACTION", help="what to do")

    def merchant_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--merchant", required=True, metavar="ID", type=object_id, help="the merchant's id"
        )

    listing = actions.add_parser("list", help="the merchant's notifications, newest first")
    merchant_option(listing)
    listing.add_argument("--order", metavar="ID", type=object_id, help="only about this order")
    listing.add_argument(
        "--status",
        choices=("pending", "delivered", "rejected", "abandoned", "no_url"),
        help="only in this state",
    )
    listing.add_argument(
        "--limit", type=positive_int, default=30, help="at most this many (default: 30, max 100)"
    )
    _add_json_option(listing)
    listing.set_defaults(handler=cmd_notifications_list)
    show = actions.add_parser("show", help="one notification with every attempt")
    show.add_argument("notification_id", type=object_id, metavar="ID", help="the notification's id")
    merchant_option(show)
    _add_json_option(show)
    show.set_defaults(handler=cmd_notifications_show)
    resend = actions.add_parser("resend", help="send one notification again (current key)")
    resend.add_argument(
        "notification_id", type=object_id, metavar="ID", help="the notification's id"
    )
    merchant_option(resend)
    _add_json_option(resend)
    resend.set_defaults(handler=cmd_notifications_resend)
    failed = actions.add_parser(
        "resend-failed", help="resend every rejected or abandoned notification not resent yet"
    )
    merchant_option(failed)
    _add_json_option(failed)
    failed.set_defaults(handler=cmd_notifications_resend_failed)


def _add_listen(commands: Commands) -> None:
    listen = commands.add_parser(
        "listen",
        help="print live order events from the gate and forward them to a local URL",
        description="Connect to the WebSocket gate (/v3/gate/rpc, docs/gate.md) as a merchant, "
        "print each order event as it happens and, with --forward-to, POST it signed like a "
        "notification to a local URL and print the answer (like `stripe listen`).",
    )
    listen.add_argument(
        "--forward-to", metavar="URL", help="local URL to POST each event to, signed"
    )
    listen.add_argument(
        "--merchant-token",
        metavar="TOKEN",
        help="the merchant's API token (default in sandbox mode: the demo shop's)",
    )
    listen.add_argument(
        "--signing-key",
        metavar="KEY",
        help="the merchant's signing key for X-Signature (default: the demo shop's for its "
        "token; without one, events are forwarded unsigned)",
    )
    listen.add_argument(
        "--algorithm",
        default="sha1",
        choices=["sha1", "sha256", "sha512", "md5"],
        help="HMAC algorithm of X-Signature (default: %(default)s)",
    )
    listen.add_argument(
        "--url", metavar="BASE", help="the platform's base URL (default: MARKETBOX_PUBLIC_URL)"
    )
    listen.add_argument(
        "--json", action="store_true", help="print each event's raw body instead of a line"
    )
    listen.set_defaults(handler=cmd_listen)


def _add_gate(commands: Commands) -> None:
    gate = commands.add_parser("gate", help="the WebSocket gate (docs/gate.md)")
    actions = gate.add_subparsers(
        dest="action", required=True, metavar="ACTION", help="what to look at"
    )
    status = actions.add_parser("status", help="list the clients connected to every API process")
    _add_json_option(status)
    status.set_defaults(handler=cmd_gate_status)


def _add_demo(commands: Commands) -> None:
    demo = commands.add_parser(
        "demo",
        help="run the whole flow locally with the demo shop",
        description="Run the platform and the demo shop together on this machine, "
        "and print where to go once both answer.",
    )
    _add_listen_options(demo, "the platform and the demo shop will")
    demo.add_argument(
        "--shop-port",
        type=port_number,
        default=DEFAULT_SHOP_PORT,
        help="TCP port for the demo shop, 1-65535 (default: %(default)s)",
    )
    demo.set_defaults(handler=cmd_demo)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if first["loc"]:
            message = "MARKETBOX_" + "_".join(str(p) for p in first["loc"]).upper() + f": {message}"
        return _fail(f"invalid configuration: {message}")
    logs.configure(settings.log_level, settings.log_format)
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except CommandError as exc:
        return _fail(str(exc), settings)
    except KeyboardInterrupt:
        return 130
    except SQLAlchemyError as exc:
        from marketbox.cli.database import describe_failure

        return _fail(describe_failure(exc, settings.database_url), settings)
    except Exception as exc:  # the CLI's promise: one line, non-zero exit
        return _fail(f"{type(exc).__name__}: {_one_line(exc)}", settings)


def _fail(message: str, settings: Settings | None = None) -> int:
    if settings is not None:
        from marketbox.cli.database import redact

        message = redact(message, settings.database_url)
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
    from marketbox.cli.database import open_database

    async with open_database(settings) as db, db.transaction() as conn:
        return await work(conn)


def serve_settings(settings: Settings, host: str, port: int) -> Settings:
    """`settings` with the public URL of the server on host:port, unless one was configured.

    An explicit MARKETBOX_PUBLIC_URL (a proxy, a domain) wins; otherwise payment links point
    where this process serves, as `demo` does.
    """
    from marketbox.cli.serving import local_url

    if "public_url" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"public_url": local_url(host, port)})


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.cli.database import open_database
    from marketbox.cli.serving import prepare_metrics_directory, remove_metrics_directory

    settings = serve_settings(settings, args.host, args.port)

    async def prepare() -> None:
        async with open_database(settings):
            pass

    _run(prepare())  # first: a database problem is one line, not a server failing to start

    # Before prometheus_client is imported (by the app): its mode depends on the directory.
    created = prepare_metrics_directory(settings, create=args.workers > 1)
    try:
        from marketbox.app import create_app

        try:  # MARKETBOX_COMPANY_LOOKUP names a module to import: say in one line what is wrong
            app = create_app(
                settings, run_worker=not args.no_worker and args.workers == 1, migrate=False
            )
        except ValueError as exc:
            raise CommandError(f"invalid configuration: {exc}") from exc
        if args.workers > 1:  # the app above only checked the configuration
            return _serve_processes(args, settings)
        return _serve_here(args, settings, app)
    finally:
        remove_metrics_directory(created)


def _serve_here(args: argparse.Namespace, settings: Settings, app: Any) -> int:
    """`serve`: the API (and the dispatcher, unless --no-worker) in this process."""
    from marketbox.cli.serving import listen, make_server

    sockets = listen(args.host, args.port)

    def announce() -> None:
        print(
            f"marketbox: serving on http://{args.host}:{args.port} "
            f"(public URL {settings.public_base}; Ctrl-C to stop)",
            flush=True,
        )

    server = make_server(app, announce, settings.log_format)
    try:
        server.run(sockets=sockets)
    except SystemExit:
        pass  # uvicorn's way to end a failed start-up; its log says why
    finally:
        for sock in sockets:
            sock.close()
    if not server.started:
        raise CommandError("the server did not start (the reason is logged above)")
    return 0


def _serve_processes(args: argparse.Namespace, settings: Settings) -> int:
    """`serve --workers N`: N API processes on one port and one dispatcher process."""
    import functools

    from marketbox.cli.serving import Supervisor, api_process_app, listen, make_config

    sockets = listen(args.host, args.port)
    config = make_config(
        functools.partial(api_process_app, settings),
        settings.log_format,
        factory=True,
        workers=args.workers,
    )

    def announce() -> None:
        print(
            f"marketbox: serving on http://{args.host}:{args.port} with {args.workers} "
            f"API processes (public URL {settings.public_base}; Ctrl-C to stop)",
            flush=True,
        )

    supervisor = Supervisor(
        config, sockets, settings=settings, with_dispatcher=not args.no_worker, announce=announce
    )
    try:
        supervisor.run()
    finally:
        for sock in sockets:
            sock.close()
    if not supervisor.started:
        raise CommandError("the server did not start (the reason is logged above)")
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    import signal

    from marketbox import metrics
    from marketbox.cli.database import open_database
    from marketbox.notifications import events as gate_bus
    from marketbox.notifications.worker import run_worker

    if args.metrics_port is not None and settings.mode == "production":
        if not settings.metrics_token:
            raise CommandError(
                "--metrics-port in production mode needs MARKETBOX_METRICS_TOKEN "
                "(scrapes send it as a Bearer token)"
            )
    sockets = []
    if args.metrics_port is not None:
        from marketbox.cli.serving import listen

        sockets = listen(args.metrics_host, args.metrics_port, option="--metrics-port")

    async def work() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)  # a graceful stop: deliveries finish
        # Events of the outbox rows this worker writes (expiry, payouts) reach the gate's
        # clients through the deployment's bus (notifications/events.py).
        bus = gate_bus.create_bus(
            settings.database_url, settings.redis_url, settings.redis_key_prefix
        )
        gate_bus.install(bus)
        async with open_database(settings) as db:
            listener = await metrics.start_listener(settings, db, sockets) if sockets else None
            where = f"; metrics on port {args.metrics_port}" if sockets else ""
            print(f"marketbox: worker running{where} (Ctrl-C to stop)", flush=True)
            try:
                await run_worker(settings, db, stop)
            finally:
                if listener is not None:
                    await listener.cleanup()
                gate_bus.install(None)
                await bus.close()

    try:
        _run(work())
    finally:
        for sock in sockets:
            sock.close()
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.cli.database import open_database

    async def work() -> None:
        async with open_database(settings):
            pass

    _run(work())
    print("marketbox: database is up to date")
    return 0


def cmd_merchant_create(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.merchants import service

    async def work(conn: Any) -> Any:
        return await service.create_merchant(
            conn,
            name=args.name,
            notification_url=args.notification_url,
            notification_email=args.email,
            block_private_networks=settings.blocks_private_networks,
        )

    creds = _run(_with_transaction(settings, work))
    _print(
        {"merchantId": creds.id, "token": creds.token, "signingKey": creds.signing_key}, args.json
    )
    return 0


def cmd_merchant_set_email(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.merchants import service

    if (args.email is None) == (not args.clear):
        raise CommandError("give either an e-mail address or --clear")

    async def work(conn: Any) -> str | None:
        try:
            return await service.set_notification_email(conn, args.id, args.email)
        except service.NoSuchAccount as exc:
            raise CommandError(f"no merchant with id {args.id}") from exc

    stored = _run(_with_transaction(settings, work))
    _print({"merchantId": args.id, "notificationEmail": stored}, args.json)
    return 0


def cmd_addon_list(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.marketplace import addons

    async def work(conn: Any) -> list[dict[str, Any]]:
        return await addons.list_addons(conn, status=args.status)

    found = _run(_with_transaction(settings, work))
    if args.json:
        print(json.dumps(found, ensure_ascii=False))
    elif not found:
        print("no add-ons" + (f" in status {args.status}" if args.status else ""))
    for point in [] if args.json else found:
        rule = json.dumps(point["addonRule"], ensure_ascii=False) if point["addonRule"] else "-"
        active = "" if point["active"] else " (inactive)"
        place = point["position"] if point["position"] is not None else "-"
        print(
            f"{point['id']}\t{point['addonStatus']}{active}\t{point['title']}\t{point['url']}"
            f"\trule: {rule}\tposition: {place}"
        )
    return 0


def cmd_addon_decide(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.errors import AppError
    from marketbox.marketplace import addons

    async def work(conn: Any) -> dict[str, Any]:
        try:
            return await addons.set_addon_status(conn, args.shop_id, args.decision)
        except AppError as exc:
            raise CommandError(f"point of sale {args.shop_id}: {exc.detail}") from exc

    _print(_run(_with_transaction(settings, work)), args.json)
    return 0


def cmd_addon_position(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.errors import AppError
    from marketbox.marketplace import addons

    try:
        position = addons.parse_strip_number(args.position, maximum=addons.MAX_POSITION)
    except addons.BadStripSetting as exc:
        raise CommandError(f"position: {exc}") from exc

    async def work(conn: Any) -> dict[str, Any]:
        try:
            return await addons.set_addon_position(conn, args.shop_id, position)
        except AppError as exc:
            raise CommandError(f"point of sale {args.shop_id}: {exc.detail}") from exc

    _print(_run(_with_transaction(settings, work)), args.json)
    return 0


def cmd_addon_limit(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.marketplace import addons

    try:
        limit = addons.parse_strip_number(args.limit, maximum=addons.MAX_STRIP_LIMIT)
    except addons.BadStripSetting as exc:
        raise CommandError(f"limit: {exc}") from exc

    async def work(conn: Any) -> int | None:
        if args.limit is None:
            return await addons.strip_limit(conn)
        return await addons.set_strip_limit(conn, limit)

    stored = _run(_with_transaction(settings, work))
    _print({"limit": stored if stored is not None or args.json else "none"}, args.json)
    return 0


def cmd_instrument_create(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.merchants import service

    async def work(conn: Any) -> Any:
        return await service.create_instrument(conn, name=args.name)

    creds = _run(_with_transaction(settings, work))
    _print({"id": creds.id, "token": creds.token, "signingKey": creds.signing_key}, args.json)
    return 0


def cmd_merchant_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.merchants import service

    return _rotate(args, settings, "merchant", service.rotate_merchant_credentials)


def cmd_instrument_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.merchants import service

    return _rotate(args, settings, "instrument", service.rotate_instrument_credentials)


def _rotate(args: argparse.Namespace, settings: Settings, kind: str, rotate: Any) -> int:
    """Both secrets unless one is named; the previous ones keep working for `--overlap`. The
    change is announced to every process after the commit (storage/shared.py), so cached
    tokens are dropped everywhere."""
    from marketbox import clock
    from marketbox.merchants.service import NoSuchAccount
    from marketbox.orders.serializers import format_datetime

    both = not args.token and not args.signing_key

    async def work(conn: Any) -> Any:
        try:
            return await rotate(
                conn,
                args.id,
                token=both or args.token,
                signing_key=both or args.signing_key,
                overlap=args.overlap,
            )
        except NoSuchAccount as exc:
            raise CommandError(f"no {kind} with id {args.id}") from exc

    creds = _run(_change_credentials(settings, work))
    printed = {"merchantId" if kind == "merchant" else "id": creds.id}
    if creds.token:
        printed["token"] = creds.token
    if creds.signing_key:
        printed["signingKey"] = creds.signing_key
    if args.overlap:  # without one the old secrets have stopped already
        printed["previousValidUntil"] = format_datetime(clock.now() + args.overlap)
    _print(printed, args.json)
    return 0


def cmd_merchant_retire_previous(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.merchants import service

    return _retire(args, settings, "merchant", service.retire_previous_merchant_credentials)


def cmd_instrument_retire_previous(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.merchants import service

    return _retire(args, settings, "instrument", service.retire_previous_instrument_credentials)


def _retire(args: argparse.Namespace, settings: Settings, kind: str, retire: Any) -> int:
    from marketbox.merchants.service import NoSuchAccount

    both = not args.token and not args.signing_key

    async def work(conn: Any) -> None:
        try:
            await retire(
                conn, args.id, token=both or args.token, signing_key=both or args.signing_key
            )
        except NoSuchAccount as exc:
            raise CommandError(f"no {kind} with id {args.id}") from exc

    _run(_change_credentials(settings, work))
    retired = [
        name
        for name, chosen in (("token", args.token), ("signingKey", args.signing_key))
        if both or chosen
    ]
    _print({"merchantId" if kind == "merchant" else "id": args.id, "retired": retired}, args.json)
    return 0


def cmd_merchant_notification(args: argparse.Namespace, settings: Settings) -> int:
    """The default notification URL and algorithm, checked as the API checks them."""
    from marketbox.errors import AppError
    from marketbox.merchants import service
    from marketbox.security import service as security_service
    from marketbox.security.schemas import NotificationSettingsRequest

    request = NotificationSettingsRequest(
        notificationUrl=None if args.no_url else args.url, signatureAlgorithm=args.algorithm
    )

    async def work(conn: Any) -> dict[str, Any]:
        merchant = await service.get_merchant(conn, args.id)
        if merchant is None:
            raise CommandError(f"no merchant with id {args.id}")
        try:
            return await security_service.set_notification(
                conn, merchant=merchant, request=request, production=settings.mode == "production"
            )
        except AppError as exc:
            raise CommandError(f"merchant {args.id}: {exc.detail}") from exc

    found = _run(_change_credentials(settings, work))
    _print({"merchantId": args.id, **found["notification"]}, args.json)
    return 0


async def _change_credentials(settings: Settings, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run `work` in a transaction, then announce the change to every process."""
    from marketbox.storage.shared import SharedState

    result = await _with_transaction(settings, work)
    shared = SharedState(settings.redis_url, settings.redis_key_prefix)
    try:
        await shared.credentials_changed()
    finally:
        await shared.aclose()
    return result


def _add_user(commands: Commands) -> None:
    user = commands.add_parser("user", help="manage users of the merchant office (/office)")
    actions = user.add_subparsers(
        dest="action", required=True, metavar="ACTION", help="what to do with office users"
    )
    create = actions.add_parser("create", help="create an office user of a merchant")
    invite = actions.add_parser(
        "invite", help="invite a user of a merchant: prints the link that sets the password"
    )
    for parser in (create, invite):
        parser.add_argument(
            "--merchant", required=True, type=object_id, help="the merchant's id (a UUID)"
        )
        parser.add_argument("--email", required=True, type=non_blank, help="the user's e-mail")
        _add_json_option(parser)
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input (else: invite later)",
    )
    create.add_argument(
        "--role",
        choices=("merchant", "operator"),
        default="merchant",
        help="merchant (default) or operator",
    )
    create.set_defaults(handler=cmd_user_create)
    invite.set_defaults(handler=cmd_user_invite)


def cmd_user_create(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.errors import AppError
    from marketbox.office import service

    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else None

    async def work(conn: Any) -> Any:
        try:
            return await service.create_user(
                conn, email=args.email, merchant_id=args.merchant, role=args.role, password=password
            )
        except AppError as exc:
            raise CommandError(exc.detail) from exc

    user = _run(_with_transaction(settings, work))
    _print({"userId": user.id, "email": user.email, "merchantId": user.merchant_id}, args.json)
    return 0


def cmd_user_invite(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.errors import AppError
    from marketbox.office import service

    async def work(conn: Any) -> Any:
        try:
            return await service.invite(conn, email=args.email, merchant_id=args.merchant)
        except AppError as exc:
            raise CommandError(exc.detail) from exc

    token = _run(_with_transaction(settings, work))
    link = f"{settings.public_base}/office/invite/{token}"
    _print({"email": args.email.strip().lower(), "inviteUrl": link}, args.json)
    return 0


def cmd_notify_test(args: argparse.Namespace, settings: Settings) -> int:
    """Send the monitoring test notification now and print the shop's answer.

    A shop that does not answer `success` makes the command fail; the record stays in the
    log and a running worker keeps retrying it like any other notification.
    """
    from marketbox.cli.database import open_database
    from marketbox.notifications import service
    from marketbox.notifications.errors import NoNotificationUrl

    async def work() -> dict[str, Any]:
        async with open_database(settings) as db:
            try:
                return await service.send_test(
                    db, settings, merchant_id=args.merchant, url=args.url
                )
            except LookupError as exc:
                raise CommandError(f"no merchant with id {args.merchant}") from exc
            except NoNotificationUrl as exc:
                raise CommandError(
                    "the merchant has no notification URL: give --url, or set one with "
                    "`merchant create --notification-url`"
                ) from exc

    result = _run(work())
    attempt = result["attempt"]
    if args.json:
        print(json.dumps(result))
    else:
        print(f"marketbox: test notification {result['notificationId']}: {_attempt_line(attempt)}")
    if attempt is None or attempt["outcome"] != "success":
        reason = attempt and (attempt["error"] or attempt["replyCode"])
        raise CommandError(f"the shop did not accept it: {reason or result['status']}")
    return 0


def _attempt_line(attempt: dict[str, Any] | None) -> str:
    if attempt is None:
        return "not sent"
    response = attempt["response"]
    status = f"HTTP {response['status']}" if response else "no answer"
    reply = ((response or {}).get("body") or attempt["error"] or "").strip().replace("\n", " ")
    return (
        f"attempt {attempt['attempt']} {attempt['outcome']} ({attempt['reason']}, {status}, "
        f"{attempt['durationMs']} ms) {reply[:200]}"
    )


def cmd_notifications_list(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.notifications import service
    from marketbox.storage.query import Condition, ListQuery

    query = ListQuery(order=[("createdAt", True)], page_size=min(args.limit, 100))
    if args.order:
        query.conditions.append(Condition("orderId", "eq", [args.order]))
    if args.status:
        query.conditions.append(Condition("status", "eq", [args.status]))

    async def work(conn: Any) -> tuple[list[dict[str, Any]], int]:
        return await service.list_notifications(conn, merchant_id=args.merchant, query=query)

    items, total = _run(_with_transaction(settings, work))
    if args.json:
        print(json.dumps({"data": items, "totalCount": total}))
        return 0
    for item in items:
        print(
            f"{item['id']}  {item['createdAt']}  {item['event']:<10} {item['status']:<9} "
            f"attempts={item['attemptCount']}  order={item['orderId']}"
        )
    print(f"{len(items)} of {total}")
    return 0


def cmd_notifications_show(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.notifications import service
    from marketbox.notifications.errors import NotificationNotFound

    async def work(conn: Any) -> dict[str, Any]:
        try:
            return await service.get_notification(
                conn, args.notification_id, merchant_id=args.merchant
            )
        except NotificationNotFound as exc:
            raise CommandError(
                f"merchant {args.merchant} has no notification {args.notification_id}"
            ) from exc

    detail = _run(_with_transaction(settings, work))
    if args.json:
        print(json.dumps(detail))
        return 0
    for key in ("id", "orderId", "event", "url", "status", "attemptCount", "lastError"):
        print(f"{key}: {detail[key]}")
    print(f"X-Signature: {detail['request']['headers']['X-Signature']}")
    print(f"body: {detail['request']['body']}")
    for attempt in detail["attempts"]:
        print(f"  {attempt['startedAt']}  {_attempt_line(attempt)}")
    return 0


def cmd_notifications_resend(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.notifications import service
    from marketbox.notifications.errors import NotificationInFlight, NotificationNotFound

    async def work(conn: Any) -> str:
        try:
            return await service.resend(conn, args.notification_id, merchant_id=args.merchant)
        except NotificationNotFound as exc:
            raise CommandError(
                f"merchant {args.merchant} has no notification {args.notification_id}"
            ) from exc
        except NotificationInFlight as exc:
            raise CommandError(f"{exc.detail}") from exc

    carrier = _run(_with_transaction(settings, work))
    _print({"notificationId": carrier}, args.json)
    return 0


def cmd_notifications_resend_failed(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.notifications import service

    async def work(conn: Any) -> list[str]:
        return await service.resend_failed(conn, merchant_id=args.merchant)

    resent = _run(_with_transaction(settings, work))
    if args.json:
        print(json.dumps({"notificationIds": resent}))
    else:
        for notification_id in resent:
            print(notification_id)
        print(f"{len(resent)} resent; the worker delivers them")
    return 0


def cmd_listen(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.cli.listen import Listener, main_loop
    from marketbox.merchants.service import DEMO_SIGNING_KEY, DEMO_TOKEN

    token = args.merchant_token
    if not token:
        if settings.mode != "sandbox":
            raise CommandError("--merchant-token is required outside sandbox mode")
        token = DEMO_TOKEN
    key = args.signing_key or (DEMO_SIGNING_KEY if token == DEMO_TOKEN else None)
    if args.forward_to and not key:
        print(
            "marketbox: no --signing-key: events are forwarded without X-Signature",
            file=sys.stderr,
        )
    listener = Listener(
        base_url=args.url or settings.public_base,
        token=token,
        forward_to=args.forward_to,
        signing_key=key,
        algorithm=args.algorithm,
        as_json=args.json,
        out=lambda line: print(line, flush=True),
    )
    return main_loop(listener)


def cmd_gate_status(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.gate import hub, presence

    found = _run(_with_transaction(settings, presence.live))
    if args.json:
        print(json.dumps(found, default=str, ensure_ascii=False))
    elif not found:
        print("no clients connected to the gate")
    for connection in [] if args.json else found:
        print(f"{connection['id']}  {hub.describe(connection)}")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.cli.demo import run_demo

    return run_demo(args, settings)


if __name__ == "__main__":
    raise SystemExit(main())
