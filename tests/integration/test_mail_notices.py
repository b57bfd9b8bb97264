"""The merchant's payment notice (docs/mail.md) and reading letters through the API and the
CLI, on SQLite and PostgreSQL, with a real SMTP server (aiosmtpd on 127.0.0.1): the notice is
written with the buyer's letter in the payment's transaction and sent by the worker, captured
in the sandbox without SMTP; a merchant reads only its own letters."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

import marketbox_sdk as mb
from marketbox.app import create_app
from marketbox.mail.sender import MailSender
from marketbox.merchants import service as merchants_service
from marketbox.payments import service as payments_service
from marketbox.storage.db import Database
from marketbox.toolkit.formatting import format_money
from tests.conftest import TEST_PUBLIC_URL
from tests.integration import test_join_policy as join_tests
from tests.integration import test_mail as mail_tests
from tests.integration.test_cli import run_cli
from tests.integration.test_join_policy import Merchant, flight, taxi_order, taxi_point
from tests.integration.test_mail import (
    Mailbox,
    Shop,
    letters,
    new_order,
    paid_order,
    shop,
    smtp_url,
)
from tests.integration.test_payment_page import container_row, pay
from tests.support.live_server import live_server

mailbox = mail_tests.mailbox  # the SMTP server fixture, shared with test_mail.py
# Two merchants of one invoice, as test_join_policy.py makes them.
merchant_factory = join_tests.merchant_factory
airline = join_tests.airline
taxi = join_tests.taxi

MESSAGES = "/v3/mail/api/message"
SHOP_EMAIL = "orders@shop.example"


async def set_demo_email(s: Shop, email: str | None) -> None:
    async with s.db.transaction() as conn:
        await merchants_service.set_notification_email(
            conn, merchants_service.DEMO_MERCHANT_ID, email
        )


async def other_merchant(s: Shop) -> dict[str, str]:
    async with s.db.transaction() as conn:
        creds = await merchants_service.create_merchant(conn, name="Другой магазин")
    return {"Authorization": f"Bearer {creds.token}"}


def by_kind(rows: list[Any]) -> dict[str, Any]:
    return {row["kind"]: row for row in rows}


async def test_the_merchant_notice_is_written_with_the_payment_and_sent_by_smtp(
    database_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    async with shop(database_url, smtp_url=smtp_url(port)) as s:
        await set_demo_email(s, SHOP_EMAIL)
        order = await paid_order(s)
        written = by_kind(await letters(s.db, order["orderContainerId"]))
        assert set(written) == {"buyer_receipt", "merchant_payment"}
        notice = written["merchant_payment"]
        assert (notice["recipient"], notice["status"]) == (SHOP_EMAIL, "pending")
        assert notice["merchant_id"] == merchants_service.DEMO_MERCHANT_ID
        assert notice["order_id"] == order["id"]

        assert await MailSender(s.settings, s.db).run_due() == {"sent": 2}
        received = {tuple(to): message for to, message in box.messages}
        message = received[(SHOP_EMAIL,)]
        number = (await container_row(s.db, order["orderContainerId"]))["number"]
        assert message["Subject"] == f"Оплачен счёт №\u00a0{number}"
        text = message.get_content()
        amount = format_money(Decimal(str(order["amount"])), "RUB", "ru")
        assert f"оплачены ваши заказы на {amount}." in text
        assert order["merchantOrderId"] in text and order["id"] in text
        assert "buyer@example.com" in text  # the buyer's contact, to reach them
        assert ("buyer@example.com",) in received  # and the buyer still gets theirs


async def test_the_notice_is_in_the_orders_language(
    sqlite_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    async with shop(sqlite_url, smtp_url=smtp_url(port)) as s:
        await set_demo_email(s, SHOP_EMAIL)
        order = await new_order(s, languageId="en")
        assert (await pay(s.client, order, email="buyer@example.com")).status_code == 303
        await MailSender(s.settings, s.db).run_due()
        message = dict((tuple(to), m) for to, m in box.messages)[(SHOP_EMAIL,)]
        assert str(message["Subject"]).startswith("Invoice No.")
        amount = format_money(Decimal(str(order["amount"])), "RUB", "en")
        assert "Your orders in invoice No.\u00a0" in message.get_content()
        assert f"are paid: {amount}." in message.get_content()


async def test_no_address_no_notice(sqlite_url: str) -> None:
    async with shop(sqlite_url) as s:
        order = await paid_order(s)
        assert [r["kind"] for r in await letters(s.db, order["orderContainerId"])] == [
            "buyer_receipt"
        ]


async def test_the_sandbox_captures_the_notice_and_the_api_shows_it(
    database_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    box, _ = mailbox
    async with shop(database_url) as s:
        await set_demo_email(s, SHOP_EMAIL)
        order = await paid_order(s)
        assert await MailSender(s.settings, s.db).run_due() == {"captured": 2}
        assert box.messages == []

        listed = (await s.client.get(MESSAGES, params={"kind": "merchant_payment"})).json()
        assert listed["metaData"]["totalCount"] == 1
        [item] = listed["data"]
        assert item["to"] == SHOP_EMAIL and item["status"] == "captured"
        assert item["orderContainerId"] == order["orderContainerId"]
        assert item["sentAt"] is None and item["attempts"] == 0
        assert order["merchantOrderId"] in item["text"]

        everything = (await s.client.get(MESSAGES)).json()
        assert {m["kind"] for m in everything["data"]} == {"buyer_receipt", "merchant_payment"}
        answer = await s.client.get(f"{MESSAGES}/{item['id']}")
        assert answer.status_code == 200
        assert answer.json()["data"] == item

        sent = await s.client.get(MESSAGES, params={"status": "sent"})
        assert sent.json()["data"] == []
        bad = await s.client.get(MESSAGES, params={"colour": "red"})
        assert bad.status_code in (400, 422) and "error" in bad.json()


async def test_another_merchant_sees_none_of_it(database_url: str) -> None:
    async with shop(database_url) as s:
        await set_demo_email(s, SHOP_EMAIL)
        await paid_order(s)
        mine = (await s.client.get(MESSAGES)).json()["data"]
        assert len(mine) == 2
        stranger = await other_merchant(s)
        theirs = await s.client.get(MESSAGES, headers=stranger)
        assert theirs.status_code == 200
        assert theirs.json()["data"] == [] and theirs.json()["metaData"]["totalCount"] == 0
        for letter in mine:
            answer = await s.client.get(f"{MESSAGES}/{letter['id']}", headers=stranger)
            assert answer.status_code == 404
            assert answer.json()["error"]["code"] == "not_found"
        unknown = await s.client.get(f"{MESSAGES}/not-an-id")
        assert unknown.status_code == 404
        anonymous = await s.client.get(MESSAGES, headers={"Authorization": ""})
        assert anonymous.status_code == 401


async def test_the_cli_sets_the_address_and_reads_the_mail(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    created = run_cli(
        "merchant", "create", "--name", "Почта", "--email", "a@shop.example", "--json", db=db
    )
    assert created.returncode == 0, created.stderr
    merchant_id = json.loads(created.stdout)["merchantId"]
    refused = run_cli("merchant", "set-email", merchant_id, "not-an-address", db=db)
    assert refused.returncode == 2 and "not an e-mail address" in refused.stderr
    demo = merchants_service.DEMO_MERCHANT_ID
    changed = run_cli("merchant", "set-email", demo, SHOP_EMAIL, "--json", db=db)
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout)["notificationEmail"] == SHOP_EMAIL

    async with shop(f"sqlite+aiosqlite:///{db}") as s:
        order = await paid_order(s)
        await MailSender(s.settings, s.db).run_due()

    listed = run_cli("mail", "list", "--merchant", demo, "--json", db=db)
    assert listed.returncode == 0, listed.stderr
    items = {m["kind"]: m for m in json.loads(listed.stdout)}
    assert items["merchant_payment"]["to"] == SHOP_EMAIL
    assert items["merchant_payment"]["status"] == "captured"
    assert items["buyer_receipt"]["orderContainerId"] == order["orderContainerId"]
    table = run_cli("mail", "list", db=db)
    assert table.returncode == 0 and SHOP_EMAIL in table.stdout
    assert run_cli("mail", "list", "--merchant", merchant_id, db=db).stdout.strip() == (
        "no letters"
    )

    shown = run_cli("mail", "show", items["merchant_payment"]["id"], db=db)
    assert shown.returncode == 0, shown.stderr
    assert f"to: {SHOP_EMAIL}" in shown.stdout and "status: captured" in shown.stdout
    assert order["merchantOrderId"] in shown.stdout
    missing = run_cli("mail", "show", "00000000-0000-7000-8000-000000000000", db=db)
    assert missing.returncode == 1 and "no letter with id" in missing.stderr

    cleared = run_cli("merchant", "set-email", demo, "--clear", db=db)
    assert cleared.returncode == 0, cleared.stderr
    async with shop(f"sqlite+aiosqlite:///{db}") as s:
        later = await paid_order(s)
        assert [r["kind"] for r in await letters(s.db, later["orderContainerId"])] == [
            "buyer_receipt"
        ]


async def test_the_sdk_reads_the_merchants_mail(sqlite_url: str) -> None:
    async with shop(sqlite_url) as s:
        await set_demo_email(s, SHOP_EMAIL)
        order = await paid_order(s)
        await MailSender(s.settings, s.db).run_due()
        app = create_app(s.settings, db=s.db, migrate=False)
        transport = httpx.ASGITransport(app=app)
        async with mb.AsyncClient(
            merchants_service.DEMO_TOKEN, base_url=TEST_PUBLIC_URL, transport=transport
        ) as sdk:
            page = await sdk.list_mail_messages(kind="merchant_payment")
            [notice] = page
            assert (notice.to, notice.status, notice.order_id) == (
                SHOP_EMAIL,
                "captured",
                order["id"],
            )
            assert (await sdk.get_mail_message(notice.id)).text == notice.text

    with live_server(sqlite_url) as base_url:
        with mb.Client(merchants_service.DEMO_TOKEN, base_url=base_url) as sdk:
            kinds = {m.kind for m in sdk.iterate_mail_messages()}
            assert kinds == {"buyer_receipt", "merchant_payment"}
            with pytest.raises(mb.NotFound):
                sdk.get_mail_message("00000000-0000-7000-8000-000000000000")


async def test_each_merchant_of_an_invoice_is_told_of_its_own_orders_only(
    db: Database, airline: Merchant, taxi: Merchant
) -> None:
    main = await flight(airline)
    await taxi_point(db, taxi)
    joined = await taxi_order(taxi, main["orderContainerId"])
    assert joined.status_code == 200, joined.text
    async with db.transaction() as conn:
        for merchant, email in ((airline, "air@shop.example"), (taxi, "taxi@shop.example")):
            await merchants_service.set_notification_email(conn, merchant.id, email)
        await payments_service.pay_container(
            conn, container_id=main["orderContainerId"], method="bank"
        )

    written = await letters(db, main["orderContainerId"])
    notices = {r["recipient"]: r for r in written if r["kind"] == "merchant_payment"}
    assert set(notices) == {"air@shop.example", "taxi@shop.example"}
    assert "FLIGHT" in notices["air@shop.example"]["body"]
    assert "TAXI-1" not in notices["air@shop.example"]["body"]
    assert "TAXI-1" in notices["taxi@shop.example"]["body"]
    assert "FLIGHT" not in notices["taxi@shop.example"]["body"]

    # The buyer's letter lists both shops' orders: it is the invoice owner's to read.
    taxi_mail = (await taxi.http.get(MESSAGES)).json()["data"]
    assert [(m["kind"], m["to"]) for m in taxi_mail] == [("merchant_payment", "taxi@shop.example")]
    airline_mail = (await airline.http.get(MESSAGES)).json()["data"]
    assert sorted((m["kind"], m["to"]) for m in airline_mail) == [
        ("buyer_receipt", "ivan@example.com"),  # the main order's customer (tests/support)
        ("merchant_payment", "air@shop.example"),
    ]


async def test_a_held_payment_is_a_notice_that_the_money_is_held(sqlite_url: str) -> None:
    async with shop(sqlite_url) as s:
        await set_demo_email(s, SHOP_EMAIL)
        order = await new_order(s)
        async with s.db.transaction() as conn:
            await payments_service.pay_container(
                conn, container_id=order["orderContainerId"], method="card", hold=True
            )
        written = by_kind(await letters(s.db, order["orderContainerId"]))
        notice = written["merchant_payment"]
        assert notice["subject"].startswith("Оплата по счёту №")
        assert "заблокировано" in notice["body"] and "спишутся при отгрузке" in notice["body"]
        assert "оплачены" not in notice["body"]
