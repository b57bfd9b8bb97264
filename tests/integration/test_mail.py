"""Letters (docs/mail.md) on SQLite and PostgreSQL, with an SMTP server of our own making as the
outside world (aiosmtpd on 127.0.0.1): a paid invoice's receipt letter reaches the server
through the worker; the sandbox without SMTP captures it and sends nothing; a refusing server
gets retries and then the letter is `failed`, the payment untouched; the success page says
only what is true (sent / will be sent / stored in the sandbox / not sent / nothing)."""

from __future__ import annotations

import asyncio
import email
import itertools
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from marketbox.app import create_app
from marketbox.config import Settings
from marketbox.mail.sender import MailSender, parse_smtp_url
from marketbox.mail.tables import mail_messages
from marketbox.merchants import service as merchants_service
from marketbox.notifications.worker import run_worker
from marketbox.payments import service as payments_service
from marketbox.storage.db import Database
from marketbox.toolkit.formatting import format_money
from tests.conftest import DEMO_AUTH, TEST_PUBLIC_URL, make_settings
from tests.integration.test_payment_page import container_row, create, open_page, page_path, pay

NBSP = "\u00a0"


@dataclass
class Mailbox:
    """What the SMTP server received; `refuse` makes it answer every recipient with 550."""

    refuse: bool = False
    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@dataclass
class Shop:
    settings: Settings
    db: Database
    client: httpx.AsyncClient


@asynccontextmanager
async def shop(database_url: str, **overrides: Any) -> AsyncIterator[Shop]:
    settings = make_settings(database_url, **overrides)
    db = Database(settings.database_url)
    async with db.transaction() as conn:
        await merchants_service.seed_demo_merchant(conn)
    app = create_app(settings, db=db, migrate=False)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=TEST_PUBLIC_URL) as client:
            client.headers.update(DEMO_AUTH)
            yield Shop(settings, db, client)
    finally:
        await db.dispose()


async def letters(db: Database, container_id: str) -> list[Any]:
    async with db.transaction() as conn:
        query = select(mail_messages).where(mail_messages.c.container_id == container_id)
        return [r._mapping for r in (await conn.execute(query)).all()]


_NUMBERS = itertools.count(1)


async def new_order(s: Shop, **overrides: Any) -> dict[str, Any]:
    return await create(s.client, merchantOrderId=f"MAIL-{next(_NUMBERS)}", **overrides)


async def paid_order(s: Shop) -> dict[str, Any]:
    order = await new_order(s)
    response = await pay(s.client, order, email="buyer@example.com")
    assert response.status_code == 303, response.text
    return order


async def success_text(client: httpx.AsyncClient, order: dict[str, Any]) -> str:
    response = await client.get(page_path(order) + "/success")
    assert response.status_code == 200, response.text
    return response.text


def smtp_url(port: int) -> str:
    return f"smtp://127.0.0.1:{port}"


async def test_the_worker_sends_the_receipt_letter_by_smtp(
    database_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    async with shop(database_url, smtp_url=smtp_url(port), mail_poll_seconds=0.05) as s:
        page = await open_page(s.client, page_path(await new_order(s)))
        assert "Пришлём подтверждение оплаты на эту почту" in page.html  # a letter really leaves
        order = await paid_order(s)
        [letter] = await letters(s.db, order["orderContainerId"])
        assert (letter["kind"], letter["status"]) == ("buyer_receipt", "pending")
        assert "Подтверждение оплаты будет отправлено на" in await success_text(s.client, order)

        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(s.settings, s.db, stop))
        try:
            for _ in range(200):
                [letter] = await letters(s.db, order["orderContainerId"])
                if letter["status"] != "pending":
                    break
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await asyncio.wait_for(worker, 10)
        assert letter["status"] == "sent"
        assert letter["attempts"] == 1 and letter["sent_at"] is not None

        [(recipients, message)] = box.messages
        assert recipients == ["buyer@example.com"]
        assert message["To"] == "buyer@example.com"
        assert message["From"] == "noreply@testserver"
        container = await container_row(s.db, order["orderContainerId"])
        assert message["Subject"] == f"Оплата счёта №{NBSP}{container['number']}"
        text = message.get_content()
        amount = format_money(Decimal(str(order["amount"])), "RUB", "ru")
        assert f"оплачен: {amount}." in text
        assert f"{TEST_PUBLIC_URL}/order/{order['orderContainerId']}/receipt" in text
        assert "Подтверждение оплаты отправлено на" in await success_text(s.client, order)


async def test_the_letter_is_in_english_for_an_english_order(
    sqlite_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    async with shop(sqlite_url, smtp_url=smtp_url(port)) as s:
        order = await new_order(s, languageId="en")
        assert (await pay(s.client, order, email="buyer@example.com")).status_code == 303
        assert await MailSender(s.settings, s.db).run_due() == {"sent": 1}
        [(_, message)] = box.messages
        assert str(message["Subject"]).startswith("Payment of invoice No. ")
        amount = format_money(Decimal(str(order["amount"])), "RUB", "en")
        assert f"is paid: {amount}." in message.get_content()


async def test_the_sandbox_without_smtp_captures_and_sends_nothing(
    database_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    box, _ = mailbox
    async with shop(database_url) as s:
        assert s.settings.mail_delivery == "capture"
        page = await open_page(s.client, page_path(await new_order(s)))
        assert (
            "В песочнице письмо с подтверждением оплаты сохраняется, но не отправляется"
            in page.html
        )
        assert "Пришлём подтверждение" not in page.html
        order = await paid_order(s)
        assert await MailSender(s.settings, s.db).run_due() == {"captured": 1}
        [letter] = await letters(s.db, order["orderContainerId"])
        assert letter["status"] == "captured"
        assert letter["recipient"] == "buyer@example.com"
        assert "Оплата счёта" in letter["subject"]
        assert box.messages == []
        html = await success_text(s.client, order)
        assert (
            "письмо с подтверждением оплаты для" in html and "сохранено, но не отправлено" in html
        )
        assert "оплаты отправлено" not in html and "оплаты будет отправлено" not in html


async def test_a_refusing_server_gets_retries_then_the_letter_fails(
    database_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    box.refuse = True
    overrides = {"smtp_url": smtp_url(port), "mail_retry_schedule": (0, 0)}
    async with shop(database_url, **overrides) as s:
        order = await paid_order(s)
        sender = MailSender(s.settings, s.db)
        assert await sender.run_due() == {"pending": 1}
        [letter] = await letters(s.db, order["orderContainerId"])
        assert (letter["status"], letter["attempts"]) == ("pending", 1)
        assert "550" in letter["last_error"]
        assert "Подтверждение оплаты будет отправлено на" in await success_text(s.client, order)
        assert await sender.run_due() == {"pending": 1}
        assert await sender.run_due() == {"failed": 1}
        assert await sender.run_due() == {}
        [letter] = await letters(s.db, order["orderContainerId"])
        assert (letter["status"], letter["attempts"], letter["sent_at"]) == ("failed", 3, None)
        assert box.messages == []
        container = await container_row(s.db, order["orderContainerId"])
        assert container["status"] == "paid"  # the payment stands whatever the mail does
        html = await success_text(s.client, order)
        assert "Не удалось отправить подтверждение оплаты на" in html
        assert "оплаты отправлено" not in html and "оплаты будет отправлено" not in html


async def test_production_without_smtp_promises_nothing(sqlite_url: str) -> None:
    async with shop(sqlite_url) as s:
        order = await paid_order(s)
    production = {"mode": "production", "session_secret": "x" * 32}
    async with shop(sqlite_url, **production) as s:
        assert s.settings.mail_delivery == "none"
        assert await MailSender(s.settings, s.db).run_due() == {}
        [letter] = await letters(s.db, order["orderContainerId"])
        assert letter["status"] == "pending"  # waits for MARKETBOX_SMTP_URL
        html = await success_text(s.client, order)
        assert "отправ" not in html.split('class="status-page__details"')[1].split("</section>")[0]
        page = await open_page(s.client, page_path(await new_order(s)))
        assert "Для связи по заказу" in page.html and "Пришлём подтверждение" not in page.html


async def test_no_email_no_letter_and_no_text(sqlite_url: str) -> None:
    async with shop(sqlite_url) as s:
        customer = {"type": "private", "name": "Иван", "phone": "79990001122"}
        order = await new_order(s, customer=customer)
        async with s.db.transaction() as conn:
            await payments_service.pay_container(
                conn, container_id=order["orderContainerId"], method="bank"
            )
        assert await letters(s.db, order["orderContainerId"]) == []
        html = await success_text(s.client, order)
        assert "data-mail=" not in html and "чек" not in html.lower().split("<footer")[0][-2000:]


def test_smtp_urls() -> None:
    plain = parse_smtp_url("smtp://user%40x:p%3Ass@mail.example:2525")
    assert (plain.hostname, plain.port, plain.username, plain.password) == (
        "mail.example",
        2525,
        "user@x",
        "p:ss",
    )
    assert (plain.use_tls, plain.start_tls) == (False, False)
    assert parse_smtp_url("smtp://mail.example?starttls=1").port == 587
    assert parse_smtp_url("smtp://mail.example?starttls=1").start_tls
    tls = parse_smtp_url("smtps://mail.example")
    assert (tls.port, tls.use_tls, tls.start_tls) == (465, True, False)
    with pytest.raises(ValueError, match="MARKETBOX_SMTP_URL"):
        Settings(smtp_url="http://mail.example")
