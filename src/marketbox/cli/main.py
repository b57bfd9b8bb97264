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
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn
from urllib.parse import urlsplit

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from marketbox import logs
from marketbox.cli.errors import CommandError
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


def object_id(text: str) -> str:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an id: ids are 36-character UUIDs "
            "(e.g. ffffffff-ffff-ffff-ffff-ffffffffffff)"
        ) from None


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
    _add_demo(commands)
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
    _add_json_option(create)
    create.set_defaults(handler=cmd_merchant_create)
    _add_rotate(actions, "merchant", cmd_merchant_rotate)


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


def _add_rotate(actions: Any, kind: str, handler: Handler) -> None:
    rotate = actions.add_parser(
        "rotate",
        help=f"issue a new token and/or signing key for a {kind}; the old ones stop working "
        "in every process at once (with MARKETBOX_REDIS_URL; docs/architecture.md)",
    )
    rotate.add_argument("id", type=object_id, metavar="ID", help=f"the {kind}'s id")
    rotate.add_argument("--token", action="store_true", help="rotate the API token only")
    rotate.add_argument("--signing-key", action="store_true", help="rotate the signing key only")
    _add_json_option(rotate)
    rotate.set_defaults(handler=handler)


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
    notify.set_defaults(handler=cmd_notify_test)


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
        async with open_database(settings) as db:
            listener = await metrics.start_listener(settings, db, sockets) if sockets else None
            where = f"; metrics on port {args.metrics_port}" if sockets else ""
            print(f"marketbox: worker running{where} (Ctrl-C to stop)", flush=True)
            try:
                await run_worker(settings, db, stop)
            finally:
                if listener is not None:
                    await listener.cleanup()

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
            block_private_networks=settings.blocks_private_networks,
        )

    creds = _run(_with_transaction(settings, work))
    _print(
        {"merchantId": creds.id, "token": creds.token, "signingKey": creds.signing_key}, args.json
    )
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
        print(
            f"{point['id']}\t{point['addonStatus']}{active}\t{point['title']}\t{point['url']}"
            f"\trule: {rule}"
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
    """Both secrets unless one is named; the change is announced to every process after the
    commit (storage/shared.py), so cached tokens are dropped everywhere."""
    from marketbox.merchants.service import NoSuchAccount
    from marketbox.storage.shared import SharedState

    both = not args.token and not args.signing_key

    async def work(conn: Any) -> Any:
        try:
            return await rotate(
                conn, args.id, token=both or args.token, signing_key=both or args.signing_key
            )
        except NoSuchAccount as exc:
            raise CommandError(f"no {kind} with id {args.id}") from exc

    async def rotate_and_announce() -> Any:
        creds = await _with_transaction(settings, work)
        shared = SharedState(settings.redis_url, settings.redis_key_prefix)
        try:
            await shared.credentials_changed()
        finally:
            await shared.aclose()
        return creds

    creds = _run(rotate_and_announce())
    printed = {"merchantId" if kind == "merchant" else "id": creds.id}
    if creds.token:
        printed["token"] = creds.token
    if creds.signing_key:
        printed["signingKey"] = creds.signing_key
    _print(printed, args.json)
    return 0


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
    """Queue the monitoring test notification and deliver it at once, printing the reply.

    A shop that does not answer `success` makes the command fail; the record stays in the
    outbox and a running worker keeps retrying it like any other notification.
    """
    from marketbox.cli.database import open_database
    from marketbox.notifications import worker
    from marketbox.notifications.dispatcher import Dispatcher

    async def work() -> tuple[str, Any]:
        async with open_database(settings) as db:
            async with db.transaction() as conn:
                try:
                    notification_id = await worker.send_test(
                        conn, merchant_id=args.merchant, settings=settings
                    )
                except LookupError as exc:
                    raise CommandError(f"no merchant with id {args.merchant}") from exc
            async with Dispatcher(settings, db) as dispatcher:
                return notification_id, await dispatcher.deliver_now(notification_id)

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


if __name__ == "__main__":
    raise SystemExit(main())
