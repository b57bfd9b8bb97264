"""The hosted payment page over HTTP on SQLite and PostgreSQL: rendering, the payer form and its
locks, sandbox cards, redirects, closed invoices, suborders, a total that changes under the
payer, and what is (never) stored."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from marketbox import clock
from marketbox.app import create_app
from marketbox.payment_page import messages
from marketbox.storage.db import Database
from marketbox.storage.tables import (
    metadata,
    notifications,
    order_containers,
    payment_attempts,
    payments,
)
from marketbox.toolkit.i18n import t
from marketbox.web.assets import ASSETS
from tests.conftest import DEMO_AUTH, TEST_PUBLIC_URL, body, make_settings, read
from tests.support.builders import basket_item, order_payload

ORDERS = "/v3/billing/api/order/order"
NBSP = "\u00a0"
CARD_OK = "4242 4242 4242 4242"
CARD_HOLD = "4000 0000 0000 0309"
CARD_DECLINED = "4000 0000 0000 0002"
CARD_NO_FUNDS = "4000 0000 0000 9995"
CARD_EXPIRED = "4000 0000 0000 0069"
FUTURE_EXPIRY = f"12/{(datetime.now(UTC).year + 3) % 100:02d}"


@dataclass
class Page:
    status_code: int
    html: str
    token: str | None
    expected_amount: str | None


async def create(api: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await api.post(ORDERS, content=body(order_payload(**overrides)))
    assert response.status_code == 200, response.text
    return read(response)["data"]


async def api_order(api: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    response = await api.get(f"{ORDERS}/{order_id}")
    assert response.status_code == 200, response.text
    return read(response)["data"]


def page_path(order: dict[str, Any]) -> str:
    return httpx.URL(order["paymentUrl"]).path


def _hidden(html: str, name: str) -> str | None:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    return match.group(1) if match else None


async def open_page(client: httpx.AsyncClient, path: str) -> Page:
    response = await client.get(path)
    html = response.text
    return Page(
        response.status_code, html, _hidden(html, "csrf_token"), _hidden(html, "expected_amount")
    )


def pay_form(page: Page, **overrides: str) -> dict[str, str]:
    data = {
        "csrf_token": page.token or "",
        "expected_amount": page.expected_amount or "",
        "customer_type": "private",
        "name": "Иван Петров",
        "email": "ivan@example.com",
        "phone": "+7 999 000 11 22",
        "card_number": CARD_OK,
        "card_expiry": FUTURE_EXPIRY,
        "card_cvc": "123",
    }
    data.update(overrides)
    return data


async def pay(client: httpx.AsyncClient, order: dict[str, Any], **overrides: str) -> httpx.Response:
    path = page_path(order)
    page = await open_page(client, path)
    assert page.status_code == 200, page.html
    return await client.post(f"{path}/pay", data=pay_form(page, **overrides))


async def container_row(db: Database, container_id: str) -> Any:
    async with db.transaction() as conn:
        query = select(order_containers).where(order_containers.c.id == container_id)
        return (await conn.execute(query)).first()._mapping


async def payment_rows(db: Database, container_id: str) -> list[Any]:
    async with db.transaction() as conn:
        query = select(payments).where(payments.c.container_id == container_id)
        return [r._mapping for r in (await conn.execute(query)).all()]


async def paid_notifications(db: Database, order_id: str) -> int:
    async with db.transaction() as conn:
        query = select(func.count()).where(
            notifications.c.order_id == order_id, notifications.c.event == "paid"
        )
        return int((await conn.execute(query)).scalar_one())


# --- rendering ---------------------------------------------------------------------------------


async def test_page_shows_orders_totals_and_prefilled_payer(api: httpx.AsyncClient) -> None:
    items = [
        basket_item(sku="a", name="Полёт в аэротрубе", quantity=2, amount=Decimal("450.00")),
        basket_item(sku="b", name="Видеосъёмка", amount=Decimal("334.56"), vat_code="RUS_VAT20"),
    ]
    order = await create(api, items=items, merchantOrderIdVisible="A-1024")

    response = await api.get(page_path(order))
    html = response.text

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "ООО «Демо»" in html
    assert f"Заказ №{NBSP}A-1024" in html
    assert "Полёт в аэротрубе" in html and "Видеосъёмка" in html
    assert f"2 × 450,00{NBSP}₽" in html
    assert f"1{NBSP}234,56{NBSP}₽" in html  # the total, in the summary and on the button
    assert f"в{NBSP}т.{NBSP}ч. НДС 20{NBSP}%" in html and f"55,76{NBSP}₽" in html
    assert "Ожидает оплаты" in html and "Оплатить до" in html
    assert "Оплатить" in html and "data-pay-button" in html
    assert 'value="ivan@example.com"' in html  # prefilled from the order's customer
    assert "Доп. услуга" not in html
    assert '<section class="section" data-addons' in html
    assert "4242 4242 4242 4242" in html  # sandbox hint
    assert _hidden(html, "expected_amount") == "1234.56"


async def test_page_is_strict_csp_friendly(api: httpx.AsyncClient) -> None:
    order = await create(api)
    response = await api.get(page_path(order))

    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["cache-control"] == "no-store"
    assert re.search(r"<script(?![^>]*\bsrc=)", response.text) is None
    assert " style=" not in response.text and "<style" not in response.text
    script = ASSETS.url("payment-page.js")  # its content-hashed URL (web/assets.py)
    assert f'<script type="module" src="{script}">' in response.text
    assert (await api.get(script)).status_code == 200


async def test_language_follows_the_order_and_the_switch(api: httpx.AsyncClient) -> None:
    order = await create(api, languageId="en", returnUrl="https://shop.example/back")
    path = page_path(order)

    english = (await api.get(path)).text
    russian = (await api.get(f"{path}?lang=ru")).text

    assert '<html lang="en">' in english and "Pay" in english and "Invoice No." in english
    assert "100.00" in english and "https://shop.example/back" in english
    assert '<html lang="ru">' in russian and "Оплатить" in russian
    assert f'action="{path}/pay?lang=ru"' in russian


@pytest.mark.parametrize("container_id", ["0190f0a1-0000-7000-8000-000000000404", "nope"])
async def test_unknown_invoice_is_an_html_404(client: httpx.AsyncClient, container_id: str) -> None:
    response = await client.get(f"/order/{container_id}")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Страница не найдена" in response.text
    assert (await client.get(f"/order/{container_id}/summary.json")).status_code == 404


async def test_summary_json_follows_the_payment_for_a_mini_app(api: httpx.AsyncClient) -> None:
    """What the marketplace shell reads after a mini-app's `checkout` (docs/miniapps.md):
    the protocol's paymentResult, whether it is final, and each new decline with its words."""
    order = await create(api)
    path = f"{page_path(order)}/summary.json"
    fresh = read(await api.get(path))
    assert (fresh["paymentResult"], fresh["final"], fresh["decline"]) == ("pending", False, None)

    await pay(api, order, card_number=CARD_NO_FUNDS)
    first = read(await api.get(f"{path}?lang=en"))["decline"]
    assert first["text"] == t("fail.insufficient_funds", "en")
    await pay(api, order, card_number=CARD_DECLINED)
    second = read(await api.get(path))
    assert second["paymentResult"] == "pending" and second["final"] is False
    assert second["decline"]["id"] != first["id"]  # a new decline: the shell tells the app again
    assert second["decline"]["text"] == t("fail.declined", "ru")

    await pay(api, order, card_number=CARD_HOLD)
    held = read(await api.get(path))
    assert (held["paymentResult"], held["final"], held["decline"]) == ("hold", True, None)


async def test_summary_json_lists_orders_and_totals(api: httpx.AsyncClient) -> None:
    main = await create(api, merchantOrderIdVisible="M-1")
    sub = await create(
        api,
        merchant_order_id="ADDON-1",
        orderContainerId=main["orderContainerId"],
        items=[basket_item(amount=Decimal("50.50"))],
    )

    response = await api.get(f"{page_path(main)}/summary.json?lang=en")
    summary = read(response)

    assert response.status_code == 200
    assert summary["status"] == "pending"
    assert summary["amount"] == Decimal("150.50")
    assert summary["currency"] == "RUB"
    assert summary["formattedAmount"] == f"150.50{NBSP}₽"
    assert summary["orders"] == [
        {
            "id": main["id"],
            "merchantName": "ООО «Демо»",
            "merchantOrderId": "M-1",
            "amount": Decimal("100.00"),
            "isMain": True,
        },
        {
            "id": sub["id"],
            "merchantName": "ООО «Демо»",
            "merchantOrderId": "ADDON-1",
            "amount": Decimal("50.50"),
            "isMain": False,
        },
    ]


# --- paying --------------------------------------------------------------------------------------


async def test_paying_completes_the_order_and_redirects_to_success_url(
    api: httpx.AsyncClient, db: Database
) -> None:
    success_url = "https://shop.example/success?order=1"
    order = await create(api, successUrl=success_url)

    response = await pay(api, order, email="payer@example.com", phone="8 999 000-11-22")

    assert response.status_code == 303
    assert response.headers["location"] == success_url
    paid = await api_order(api, order["id"])
    assert paid["status"] == "completed"
    assert "paidAt" in paid
    container = await container_row(db, order["orderContainerId"])
    assert container["status"] == "paid"
    assert container["payer"] == {
        "type": "private",
        "name": "Иван Петров",
        "email": "payer@example.com",
        "phone": "79990001122",
    }
    [payment] = await payment_rows(db, order["orderContainerId"])
    assert (payment["status"], payment["method"], payment["card_last4"]) == (
        "succeeded",
        "card",
        "4242",
    )
    assert await paid_notifications(db, order["id"]) == 1


async def test_without_success_url_the_payer_lands_on_our_success_page(
    api: httpx.AsyncClient,
) -> None:
    order = await create(api, items=[basket_item(name="Проездной на 90 дней")])
    path = page_path(order)

    response = await pay(api, order)
    success = await api.get(response.headers["location"])
    receipt = await api.get(f"{path}/receipt")

    assert response.headers["location"] == f"{path}/success"
    assert success.status_code == 200
    assert "Оплата прошла" in success.text and "4242" in success.text
    assert (
        f"i{chr(0x2026)}@example.com" in success.text
    )  # the sandbox: «…письмо с чеком для i…@example.com сохранено, но не отправлено»
    assert receipt.status_code == 200
    assert "Подтверждение оплаты (не кассовый чек)" in receipt.text
    assert "Проездной на 90 дней" in receipt.text
    assert "ИНН 7804445210" in receipt.text


async def test_hold_card_pre_authorises(api: httpx.AsyncClient, db: Database) -> None:
    order = await create(api)

    response = await pay(api, order, card_number=CARD_HOLD)

    assert response.status_code == 303
    assert (await api_order(api, order["id"]))["status"] == "hold"
    [payment] = await payment_rows(db, order["orderContainerId"])
    assert payment["method"] == "card_hold"
    assert "заблокирована" in (await api.get(response.headers["location"])).text


@pytest.mark.parametrize(
    ("card", "code", "reason"),
    [
        (CARD_DECLINED, "card_declined", "Банк отклонил операцию"),
        (CARD_NO_FUNDS, "insufficient_funds", "недостаточно средств"),
        (CARD_EXPIRED, "expired_card", "срок действия карты истёк"),
    ],
)
async def test_declined_card_leaves_the_order_payable(
    api: httpx.AsyncClient, db: Database, card: str, code: str, reason: str
) -> None:
    fail_url = "https://shop.example/fail"
    with_url = await create(api, merchant_order_id="F-1", failUrl=fail_url)
    without_url = await create(api, merchant_order_id="F-2")

    to_shop = await pay(api, with_url, card_number=card)
    to_us = await pay(api, without_url, card_number=card)
    fail_page = await api.get(to_us.headers["location"])

    assert (to_shop.status_code, to_shop.headers["location"]) == (303, fail_url)
    assert to_us.headers["location"] == f"{page_path(without_url)}/fail"
    assert fail_page.status_code == 200
    assert "Оплата не прошла" in fail_page.text and "Попробовать снова" in fail_page.text
    assert reason.lower() in fail_page.text.lower()
    for order in (with_url, without_url):
        assert (await api_order(api, order["id"]))["status"] == "created"
        [attempt] = await payment_rows(db, order["orderContainerId"])
        assert (attempt["status"], attempt["failure_code"]) == ("declined", code)
        assert await paid_notifications(db, order["id"]) == 0
    # The retry page leads back to a payable form.
    retry = await open_page(api, page_path(without_url))
    assert retry.status_code == 200 and retry.token


async def test_card_number_is_never_stored(api: httpx.AsyncClient, db: Database) -> None:
    declined = await create(api, merchant_order_id="N-1")
    paid = await create(api, merchant_order_id="N-2")
    await pay(api, declined, card_number=CARD_DECLINED, card_cvc="987")
    await pay(api, paid, card_number=CARD_OK, card_cvc="987")

    rows: list[str] = []
    async with db.transaction() as conn:
        for table in metadata.sorted_tables:
            rows.extend(repr(row) for row in (await conn.execute(select(table))).all())
    dump = "\n".join(rows)

    for number in (CARD_DECLINED, CARD_OK):
        digits = number.replace(" ", "")
        assert digits not in dump and number not in dump
        assert digits[:12] not in dump
    assert "'0002'" in dump and "'4242'" in dump  # only the last four digits


async def test_invalid_input_rerenders_with_errors_and_changes_nothing(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await create(api)

    response = await pay(
        api,
        order,
        email="not-an-email",
        phone="12",
        card_number="4242 4242 4242 4241",
        card_expiry="01/20",
        card_cvc="12",
    )
    html = response.text

    assert response.status_code == 422
    assert 'role="alert"' in html and "Проверьте поля, отмеченные красным" in html
    assert html.count('aria-invalid="true"') == 5
    assert "Проверьте номер карты" in html and "Срок действия карты истёк" in html
    # Every field is kept for the buyer to correct, the card number and expiry too (from the
    # request, never stored: below); the CVC is typed again.
    assert 'value="4242 4242 4242 4241"' in html and 'value="01/20"' in html
    assert re.search(r'name="card_cvc"[^>]*value=', html) is None
    assert 'value="not-an-email"' in html  # payer input is kept
    assert await payment_rows(db, order["orderContainerId"]) == []
    assert (await container_row(db, order["orderContainerId"]))["payer"] is None
    assert (await api_order(api, order["id"]))["status"] == "created"


async def test_post_without_the_form_token_is_refused(api: httpx.AsyncClient, db: Database) -> None:
    order = await create(api)
    page = await open_page(api, page_path(order))

    forged = await api.post(f"{page_path(order)}/pay", data=pay_form(page, csrf_token="forged"))
    api.cookies.clear()
    no_cookie = await api.post(f"{page_path(order)}/pay", data=pay_form(page))

    # A token that is not the cookie's (a used one, or forged): back to the invoice, nothing tried.
    assert forged.status_code == 303 and forged.headers["location"] == page_path(order)
    assert no_cookie.status_code == 403
    assert "Страница устарела" in no_cookie.text
    assert await payment_rows(db, order["orderContainerId"]) == []
    assert await attempt_count(db, order["orderContainerId"]) == 0


async def attempt_count(db: Database, container_id: str) -> int:
    async with db.transaction() as conn:
        query = select(func.count()).where(payment_attempts.c.container_id == container_id)
        return int((await conn.execute(query)).scalar_one())


@pytest.mark.parametrize(
    ("first", "status", "resent_status"),
    [
        ({"email": "not-an-email"}, 422, 303),  # a field error
        ({"card_number": "4000 0000 0000 9995"}, 303, 303),  # a decline
        ({"card_number": "4242 4242 4242 4242"}, 303, 409),  # paid: the «Оплачен» page
    ],
)
async def test_a_repeated_post_never_makes_a_second_attempt(
    api: httpx.AsyncClient,
    db: Database,
    first: dict[str, str],
    status: int,
    resent_status: int,
) -> None:
    """A reload (or Back) re-sends the POST just answered: it is refused by its used token."""
    order = await create(api)
    page = await open_page(api, page_path(order))
    body = pay_form(page, **first)

    answered = await api.post(f"{page_path(order)}/pay", data=body)
    attempts_after_first = await attempt_count(db, order["orderContainerId"])
    resent = await api.post(f"{page_path(order)}/pay", data=body)

    assert answered.status_code == status
    assert resent.status_code == resent_status
    if resent_status == 303:
        assert resent.headers["location"] == page_path(order)
    assert await attempt_count(db, order["orderContainerId"]) == attempts_after_first
    assert attempts_after_first == (0 if status == 422 else 1)
    assert len(await payment_rows(db, order["orderContainerId"])) == attempts_after_first


async def test_legal_payer_with_inn_and_kpp(api: httpx.AsyncClient, db: Database) -> None:
    order = await create(api)
    legal = {
        "customer_type": "legal",
        "name": "ООО «Ромашка»",
        "inn": "7707083893",
        "kpp": "773601001",
        "address": "Москва, ул. Вавилова, 19",
    }

    bad = await pay(api, order, **{**legal, "inn": "7707083894"})
    good = await pay(api, order, **legal)

    assert bad.status_code == 422 and "Проверьте ИНН" in bad.text
    assert good.status_code == 303
    payer = (await container_row(db, order["orderContainerId"]))["payer"]
    assert payer["type"] == "legal"
    assert payer["vatNumber"] == "7707083893"
    assert payer["taxRegistrationReasonCode"] == "773601001"
    assert payer["registrationAddress"] == "Москва, ул. Вавилова, 19"


async def test_kpp_is_refused_for_a_sole_trader(api: httpx.AsyncClient) -> None:
    order = await create(api)
    response = await pay(
        api, order, customer_type="legal", name="ИП Петров", inn="500100732259", kpp="773601001"
    )

    assert response.status_code == 422
    assert "У ИП нет КПП" in response.text


# --- invoiceSetting ------------------------------------------------------------------------------


async def test_locked_fields_cannot_be_changed(api: httpx.AsyncClient, db: Database) -> None:
    customer = {"type": "private", "name": "Анна Смирнова", "email": "anna@example.com"}
    order = await create(
        api,
        customer=customer,
        invoiceSetting={
            "customerLockedFields": ["name", "email"],
            "customerHiddenFields": ["phone"],
        },
    )
    page = await open_page(api, page_path(order))

    assert 'name="name"' not in page.html and 'name="email"' not in page.html
    assert 'name="phone"' not in page.html  # hidden
    assert 'data-locked="name"' in page.html and "Анна Смирнова" in page.html
    assert 'name="customer_type"' in page.html  # the type is still the payer's choice

    response = await api.post(
        f"{page_path(order)}/pay",
        data=pay_form(page, name="Someone Else", email="evil@example.com", phone="79990000000"),
    )

    assert response.status_code == 303
    payer = (await container_row(db, order["orderContainerId"]))["payer"]
    assert payer == {"type": "private", "name": "Анна Смирнова", "email": "anna@example.com"}


async def test_customer_locked_shows_no_inputs(api: httpx.AsyncClient, db: Database) -> None:
    customer = {
        "type": "legal",
        "name": "ООО «Ромашка»",
        "vatNumber": "7707083893",
        "email": "buh@romashka.example",
    }
    order = await create(api, customer=customer, invoiceSetting={"customerLocked": True})
    page = await open_page(api, page_path(order))

    for name in ("customer_type", "name", "inn", "kpp", "email", "phone", "address"):
        assert f'name="{name}"' not in page.html
    assert "Организация или ИП" in page.html and "7707083893" in page.html

    response = await api.post(
        f"{page_path(order)}/pay",
        data=pay_form(page, customer_type="private", inn="500100732259", email="x@example.com"),
    )

    assert response.status_code == 303
    payer = (await container_row(db, order["orderContainerId"]))["payer"]
    assert payer == {
        "type": "legal",
        "name": "ООО «Ромашка»",
        "vatNumber": "7707083893",
        "email": "buh@romashka.example",
    }


# --- closed invoices ---------------------------------------------------------------------------


async def _pay_first(api: httpx.AsyncClient, order: dict[str, Any]) -> None:
    assert (await pay(api, order)).status_code == 303


async def _cancel(api: httpx.AsyncClient, order: dict[str, Any]) -> None:
    assert (await api.delete(f"{ORDERS}/{order['id']}")).status_code == 200


@pytest.mark.parametrize(
    ("close", "status", "title"),
    [(_pay_first, "paid", "Оплачен"), (_cancel, "canceled", "Отменён")],
)
async def test_closed_invoice_shows_status_and_refuses_payment(
    api: httpx.AsyncClient, db: Database, close: Any, status: str, title: str
) -> None:
    order = await create(api, returnUrl="https://shop.example/")
    page = await open_page(api, page_path(order))
    await close(api, order)
    before = await payment_rows(db, order["orderContainerId"])

    shown = await api.get(page_path(order))
    refused = await api.post(f"{page_path(order)}/pay", data=pay_form(page))

    assert shown.status_code == 200
    assert f'data-status="{status}"' in shown.text and title in shown.text
    assert 'name="card_number"' not in shown.text
    assert "https://shop.example/" in shown.text
    assert refused.status_code == 409 and 'name="card_number"' not in refused.text
    assert await payment_rows(db, order["orderContainerId"]) == before


async def test_expired_invoice_shows_status_and_refuses_payment(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await create(api, expires_in=timedelta(hours=1))
    page = await open_page(api, page_path(order))
    later = datetime.now(UTC) + timedelta(hours=2)
    clock.set_now(lambda: later)
    try:
        shown = await api.get(page_path(order))
        refused = await api.post(f"{page_path(order)}/pay", data=pay_form(page))
    finally:
        clock.set_now(None)

    assert 'data-status="expired"' in shown.text and "Срок оплаты истёк" in shown.text
    assert refused.status_code == 409
    assert await payment_rows(db, order["orderContainerId"]) == []
    assert (await api_order(api, order["id"]))["status"] == "expired"


# --- suborders and a changing total ----------------------------------------------------------


async def test_one_payment_completes_the_main_order_and_its_suborder(
    api: httpx.AsyncClient, db: Database
) -> None:
    main = await create(api, merchantOrderIdVisible="MAIN-1")
    sub = await create(
        api,
        merchant_order_id="LOUNGE-1",
        orderContainerId=main["orderContainerId"],
        items=[basket_item(name="Бизнес-зал", amount=Decimal("1500.00"))],
    )
    page = await open_page(api, page_path(main))

    assert page.html.count("Доп. услуга") == 1
    assert "Бизнес-зал" in page.html and f"1{NBSP}600,00{NBSP}₽" in page.html
    assert page.expected_amount == "1600.00"

    response = await api.post(f"{page_path(main)}/pay", data=pay_form(page))

    assert response.status_code == 303
    for order in (main, sub):
        assert (await api_order(api, order["id"]))["status"] == "completed"
        assert await paid_notifications(db, order["id"]) == 1
    [payment] = await payment_rows(db, main["orderContainerId"])
    assert payment["amount_minor"] == 160000


async def test_a_total_changed_after_render_is_refused(
    api: httpx.AsyncClient, db: Database
) -> None:
    main = await create(api)
    page = await open_page(api, page_path(main))
    await create(
        api,
        merchant_order_id="ADDON-1",
        orderContainerId=main["orderContainerId"],
        items=[basket_item(amount=Decimal("25.00"))],
    )

    refused = await api.post(f"{page_path(main)}/pay", data=pay_form(page))

    assert refused.status_code == 409
    assert "Сумма счёта изменилась" in refused.text
    assert f"125,00{NBSP}₽" in refused.text
    assert _hidden(refused.text, "expected_amount") == "125.00"
    assert await payment_rows(db, main["orderContainerId"]) == []
    assert (await api_order(api, main["id"]))["status"] == "created"

    token = _hidden(refused.text, "csrf_token")  # the refused page's own (the first is used)
    again = await api.post(
        f"{page_path(main)}/pay",
        data=pay_form(page, expected_amount="125.00", csrf_token=token or ""),
    )
    assert again.status_code == 303
    assert (await api_order(api, main["id"]))["status"] == "completed"


async def test_production_mode_never_approves_test_cards(database_url: str, db: Database) -> None:
    settings = make_settings(database_url, mode="production", session_secret="test-secret")
    app = create_app(settings, db=db, migrate=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=TEST_PUBLIC_URL, headers=DEMO_AUTH
    ) as client:
        order = await create(client)
        page = await open_page(client, page_path(order))
        response = await client.post(f"{page_path(order)}/pay", data=pay_form(page))
        fail_page = await client.get(response.headers["location"])

    assert "4242 4242 4242 4242" not in page.html  # no test-card hint
    assert response.headers["location"] == f"{page_path(order)}/fail"
    assert "Оплата картой сейчас недоступна" in fail_page.text
    [attempt] = await payment_rows(db, order["orderContainerId"])
    assert (attempt["status"], attempt["failure_code"]) == ("declined", "acquirer_unavailable")


# --- catalogue ---------------------------------------------------------------------------------


def test_page_messages_exist_in_both_languages() -> None:
    for key in (*messages.STATUS_KEYS, *messages.BANNER_KEYS, *messages.FORM_ERROR_KEYS):
        assert t(key, "ru") != t(key, "en"), key


@pytest.mark.parametrize(
    ("success_url", "in_shell"),
    [("https://lounge.example/success?order=7", True), ("https://other.example/ok", False)],
)
async def test_success_url_of_the_points_mini_app_opens_in_the_marketplace_shell(
    api: httpx.AsyncClient, db: Database, success_url: str, in_shell: bool
) -> None:
    from urllib.parse import parse_qs, urlsplit

    from marketbox.marketplace import service as marketplace_service
    from marketbox.merchants.service import DEMO_MERCHANT_ID

    async with db.transaction() as conn:
        point = await marketplace_service.create_point_of_sale(
            conn,
            merchant_id=DEMO_MERCHANT_ID,
            title="Lounge",
            mini_app={"url": "https://lounge.example/", "modes": ["order"]},
        )
    order = await create(api, shopId=point["id"], successUrl=success_url)

    response = await pay(api, order)

    location = response.headers["location"]
    if in_shell:
        parts = urlsplit(location)
        assert parts.path == f"/marketplace/shop/{point['id']}"
        assert parse_qs(parts.query) == {
            "path": [success_url],
            "lang": ["ru"],
            "payment": [order["orderContainerId"]],
        }
    else:
        assert location == success_url


async def test_the_shell_says_why_a_payment_failed_and_hands_the_mini_app_its_result(
    api: httpx.AsyncClient, db: Database
) -> None:
    from urllib.parse import urlsplit

    from marketbox.marketplace import service as marketplace_service
    from marketbox.merchants.service import DEMO_MERCHANT_ID

    app = {"url": "https://lounge.example/", "modes": ["order"]}
    async with db.transaction() as conn:
        point = await marketplace_service.create_point_of_sale(
            conn, merchant_id=DEMO_MERCHANT_ID, title="Lounge", mini_app=app
        )
        other = await marketplace_service.create_point_of_sale(
            conn, merchant_id=DEMO_MERCHANT_ID, title="Other", mini_app=app
        )
    order = await create(
        api,
        shopId=point["id"],
        failUrl="https://lounge.example/fail",
        successUrl="https://lounge.example/ok",
        languageId="en",
    )

    declined = await pay(api, order, card_number="4000 0000 0000 9995")
    shell = await api.get(declined.headers["location"])
    elsewhere = await api.get(
        f"/marketplace/shop/{other['id']}?payment={order['orderContainerId']}"
    )
    paid = await pay(api, order)
    after = await api.get(paid.headers["location"])

    assert urlsplit(declined.headers["location"]).path == f"/marketplace/shop/{point['id']}"
    assert "Insufficient funds on the card" in shell.text  # the invoice's language, en
    assert '"paymentResult":"pending"' in shell.text.replace(" ", "")
    assert f"/order/{order['orderContainerId']}?lang=en" in shell.text  # «Try again»
    assert "Insufficient funds" not in elsewhere.text  # another point's shell shows nothing
    assert "paymentResult" not in elsewhere.text
    assert '"paymentResult":"completed"' in after.text.replace(" ", "")
    assert f"/order/{order['orderContainerId']}/receipt?lang=en" in after.text
