"""What the platform mails and when (docs/mail.md).

Letters are written into `mail_messages` in the transaction of the event they tell about (a
committed payment always has its letters; a rolled-back one has none), their text frozen
then; the worker sends them (mail/sender.py). Nothing here sends or knows about SMTP.

    buyer_receipt      to the payer's e-mail (the payment page's form over the order's
                       customer): the invoice is paid, what was paid for, the receipt page
    merchant_payment   to each paid merchant's notification e-mail (`merchants.
                       notification_email`, none without one): its orders in the invoice,
                       paid or held, the amounts, the buyer's contact
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import ids, money
from marketbox.mail import repository
from marketbox.receipts.service import buyer_contact
from marketbox.storage.query import mapping_of
from marketbox.toolkit.formatting import format_date, format_money
from marketbox.toolkit.i18n import N_, normalize_locale, t

BUYER_RECEIPT = "buyer_receipt"
MERCHANT_PAYMENT = "merchant_payment"

PENDING = "pending"
SENT = "sent"
CAPTURED = "captured"
FAILED = "failed"

_PAID = N_("mail.receipt.paid")
_HELD = N_("mail.receipt.held")
_NOTICE_PAID = N_("mail.notice.paid")
_NOTICE_HELD = N_("mail.notice.held")
_NOTICE_SUBJECT_PAID = N_("mail.notice.subject")
_NOTICE_SUBJECT_HELD = N_("mail.notice.subject_held")


@dataclass(frozen=True)
class Letter:
    kind: str
    recipient: str
    language: str
    subject: str
    body: str
    container_id: str
    merchant_id: str | None = None
    order_id: str | None = None


def buyer_email(main_order: Mapping[str, Any], payer: Mapping[str, Any]) -> str | None:
    """The buyer's e-mail, as the 54-FZ receipt finds its buyer contact."""
    email = str(buyer_contact(main_order.get("customer"), payer).get("email") or "").strip()
    return email or None


def buyer_receipt_letter(
    paid: Sequence[Any],
    *,
    container_id: str,
    number: str,
    main_order_id: str,
    payer: Mapping[str, Any],
    held: bool,
    paid_at: datetime,
) -> Letter | None:
    """The buyer's letter about a payment of the invoice; None when no e-mail was given."""
    orders = [mapping_of(r) for r in paid]
    main = next((o for o in orders if o["id"] == main_order_id), orders[0])
    recipient = buyer_email(main, payer)
    if recipient is None:
        return None
    lang = normalize_locale(main.get("language_id"))
    currency = str(main["currency"])
    total = money.from_minor(sum(int(o["amount_minor"]) for o in orders), currency)
    amount = format_money(total, currency, lang)
    lines = [
        t("mail.greeting", lang),
        "",
        t(_HELD if held else _PAID, lang, number=number, amount=amount),
        "",
    ]
    for order in orders:
        order_amount = money.from_minor(int(order["amount_minor"]), currency)
        lines.append(f"— {order['description']}: {format_money(order_amount, currency, lang)}")
    receipt_url = str(main["payment_url"]) + "/receipt"
    lines += [
        "",
        t("mail.receipt.date", lang, date=format_date(paid_at, lang, with_zone=True)),
        t("mail.receipt.link", lang, url=receipt_url),
        "",
        t("mail.automatic", lang),
    ]
    return Letter(
        kind=BUYER_RECEIPT,
        recipient=recipient,
        language=lang,
        subject=t("mail.receipt.subject", lang, number=number),
        body="\n".join(lines) + "\n",
        container_id=container_id,
        merchant_id=str(main["merchant_id"]),
    )


def merchant_notice_letters(
    paid: Sequence[Any],
    *,
    container_id: str,
    number: str,
    payer: Mapping[str, Any],
    held: bool,
    paid_at: datetime,
) -> list[Letter]:
    """One notice per merchant with a notification e-mail, about its own orders only (the rows
    carry `merchant_notification_email`: payments/repository.py `_PAID_COLUMNS`)."""
    by_merchant: dict[str, list[Mapping[str, Any]]] = {}
    for row in paid:
        order = mapping_of(row)
        if order.get("merchant_notification_email"):
            by_merchant.setdefault(str(order["merchant_id"]), []).append(order)
    letters = []
    for merchant_id, orders in by_merchant.items():
        first = orders[0]
        lang = normalize_locale(first.get("language_id"))
        currency = str(first["currency"])
        total = money.from_minor(sum(int(o["amount_minor"]) for o in orders), currency)
        amount = format_money(total, currency, lang)
        lines = [t(_NOTICE_HELD if held else _NOTICE_PAID, lang, number=number, amount=amount), ""]
        for order in orders:
            order_amount = format_money(
                money.from_minor(int(order["amount_minor"]), currency), currency, lang
            )
            lines.append(
                f"— {order['merchant_order_id']} ({order['id']}): {order['description']}: "
                f"{order_amount}"
            )
        buyer = buyer_contact(first.get("customer"), payer)
        contact = ", ".join(str(buyer[k]) for k in ("name", "email", "phone") if buyer.get(k))
        lines += ["", t("mail.receipt.date", lang, date=format_date(paid_at, lang, with_zone=True))]
        if contact:
            lines.append(t("mail.notice.buyer", lang, contact=contact))
        lines += ["", t("mail.automatic", lang)]
        subject = _NOTICE_SUBJECT_HELD if held else _NOTICE_SUBJECT_PAID
        letters.append(
            Letter(
                kind=MERCHANT_PAYMENT,
                recipient=str(first["merchant_notification_email"]),
                language=lang,
                subject=t(subject, lang, number=number),
                body="\n".join(lines) + "\n",
                container_id=container_id,
                merchant_id=merchant_id,
                order_id=str(first["id"]) if len(orders) == 1 else None,
            )
        )
    return letters


async def enqueue(conn: AsyncConnection, letters: Sequence[Letter], *, now: datetime) -> list[str]:
    """Record the letters (one INSERT) in the caller's transaction; returns their ids."""
    values = records(letters, now=now)
    await repository.insert_messages(conn, values)
    return [str(v["id"]) for v in values]


def records(letters: Sequence[Letter], *, now: datetime) -> list[dict[str, Any]]:
    """The `mail_messages` rows of the letters, as `enqueue` writes them."""
    return [
        {
            "id": ids.new_id(),
            "kind": letter.kind,
            "recipient": letter.recipient,
            "language": letter.language,
            "subject": letter.subject,
            "body": letter.body,
            "container_id": letter.container_id,
            "merchant_id": letter.merchant_id,
            "order_id": letter.order_id,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": None,
            "created_at": now,
            "sent_at": None,
        }
        for letter in letters
    ]


def payment_letters(
    paid: Sequence[Any],
    *,
    container_id: str,
    number: str,
    main_order_id: str,
    payer: Mapping[str, Any],
    held: bool,
    now: datetime,
) -> list[Letter]:
    """The letters of a payment (payments/service.pay_container writes their `records`
    together with its own rows): the buyer's, and each merchant's notice."""
    letter = buyer_receipt_letter(
        paid,
        container_id=container_id,
        number=number,
        main_order_id=main_order_id,
        payer=payer,
        held=held,
        paid_at=now,
    )
    notices = merchant_notice_letters(
        paid, container_id=container_id, number=number, payer=payer, held=held, paid_at=now
    )
    return ([letter] if letter else []) + notices


@dataclass(frozen=True)
class MailState:
    status: str
    recipient: str


async def buyer_receipt_state(conn: AsyncConnection, container_id: str) -> MailState | None:
    """Where the buyer's letter about the invoice stands (None: no letter was written)."""
    row = await repository.latest_of_kind(conn, container_id, BUYER_RECEIPT)
    return MailState(str(row["status"]), str(row["recipient"])) if row is not None else None
