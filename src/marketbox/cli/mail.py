"""`marketbox mail list|show`: the letters the platform wrote (docs/mail.md "Reading the
mail"), read through `mail.listing` as the API reads them, for every merchant or one."""

from __future__ import annotations

import argparse
import json
from typing import Any

from marketbox.config import Settings

LIST_LIMIT = 30


def add_mail(commands: Any) -> None:
    from marketbox.cli.main import object_id, positive_int

    mail = commands.add_parser("mail", help="read the letters written to buyers and merchants")
    actions = mail.add_subparsers(
        dest="action", required=True, metavar="ACTION", help="what to do with the mail"
    )
    listing = actions.add_parser("list", help="list letters, newest first")
    listing.add_argument("--merchant", type=object_id, help="only this merchant's letters (its id)")
    listing.add_argument(
        "--limit",
        type=positive_int,
        default=LIST_LIMIT,
        help=f"how many letters to show at most (default {LIST_LIMIT}, at most 100)",
    )
    listing.add_argument("--json", action="store_true", help="print the letters as one JSON array")
    listing.set_defaults(handler=cmd_mail_list)
    show = actions.add_parser("show", help="print one letter: its headers, status and text")
    show.add_argument("id", type=object_id, help="the letter's id (as `mail list` prints it)")
    show.add_argument("--json", action="store_true", help="print the letter as one JSON object")
    show.set_defaults(handler=cmd_mail_show)


def cmd_mail_list(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.cli.main import _run, _with_transaction
    from marketbox.mail import listing
    from marketbox.storage.query import ListQuery

    query = ListQuery(order=[("createdAt", True)], page_size=min(args.limit, 100))

    async def work(conn: Any) -> tuple[list[dict[str, Any]], int]:
        return await listing.list_messages(conn, merchant_id=args.merchant, query=query)

    items, total = _run(_with_transaction(settings, work))
    if args.json:
        print(json.dumps(items, ensure_ascii=False))
        return 0
    if not items:
        print("no letters")
    for item in items:
        print(
            f"{item['id']}\t{item['createdAt']}\t{item['status']}\t{item['kind']}"
            f"\t{item['to']}\t{item['subject']}"
        )
    if total > len(items):
        print(f"({len(items)} of {total}; --limit shows more)")
    return 0


def cmd_mail_show(args: argparse.Namespace, settings: Settings) -> int:
    from marketbox.cli.errors import CommandError
    from marketbox.cli.main import _run, _with_transaction
    from marketbox.mail import listing

    async def work(conn: Any) -> dict[str, Any]:
        try:
            return await listing.get_message(conn, args.id, merchant_id=None)
        except listing.MailMessageNotFound as exc:
            raise CommandError(f"no letter with id {args.id}") from exc

    item = _run(_with_transaction(settings, work))
    if args.json:
        print(json.dumps(item, ensure_ascii=False))
        return 0
    for label, key in (
        ("id", "id"),
        ("kind", "kind"),
        ("merchant", "merchantId"),
        ("to", "to"),
        ("subject", "subject"),
        ("status", "status"),
        ("attempts", "attempts"),
        ("last error", "lastError"),
        ("invoice", "orderContainerId"),
        ("order", "orderId"),
        ("created", "createdAt"),
        ("next attempt", "nextAttemptAt"),
        ("sent", "sentAt"),
    ):
        if item[key] is not None:
            print(f"{label}: {item[key]}")
    print()
    print(item["text"], end="")
    return 0
