"""The office's notification pages (docs/office.md "Notifications") over HTTP on SQLite and
PostgreSQL: the list and its filters, a notification's attempts with the exact request and the
shop's reply, resend one, resend all failed, the test notification answered on the page, CSRF
and tenancy. The shop is a real local HTTP server (tests/support/receiver.py)."""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from marketbox.config import Settings
from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.notifications.dispatcher import Dispatcher
from marketbox.payments import service as payments_service
from marketbox.storage.db import Database
from tests.conftest import body, make_settings, read
from tests.support.builders import order_payload
from tests.support.office import csrf_of, log_in, office_user
from tests.support.receiver import Receiver, Reply

ORDERS = "/v3/billing/api/order/order"
EMAIL = "notif@shop.test"
_numbers = itertools.count(1)
_ROW_RE = re.compile(r'data-notification="([0-9a-f-]+)" data-event="([a-z_]+)"')


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url,
        notification_retry_schedule=(0,) * 10,
        notification_timeout_seconds=2.0,
        dispatcher_poll_seconds=0.05,
    )


@pytest.fixture
async def shop() -> AsyncIterator[Receiver]:
    async with Receiver() as receiver:
        yield receiver


@pytest.fixture
async def dispatcher(settings: Settings, db: Database) -> AsyncIterator[Dispatcher]:
    async with Dispatcher(settings, db, name="test-dispatcher") as d:
        yield d


@pytest.fixture
async def office(api: httpx.AsyncClient, db: Database) -> httpx.AsyncClient:
    """The API client, also logged in to the office as the demo shop's user."""
    await office_user(db, DEMO_MERCHANT_ID, EMAIL)
    await log_in(api, EMAIL)
    return api


async def paid_order(api: httpx.AsyncClient, db: Database, url: str) -> dict[str, Any]:
    payload = order_payload(merchant_order_id=f"ON-{next(_numbers)}", notificationUrl=url)
    response = await api.post(ORDERS, content=body(payload))
    assert response.status_code == 200, response.text
    order: dict[str, Any] = read(response)["data"]
    async with db.transaction() as conn:
        await payments_service.pay_container(
            conn, container_id=order["orderContainerId"], method="card", card_last4="4242"
        )
    return order


def rows(page: str) -> list[tuple[str, str]]:
    return _ROW_RE.findall(page)


async def test_a_notification_shows_every_attempts_request_and_reply(
    office: httpx.AsyncClient, db: Database, shop: Receiver, dispatcher: Dispatcher
) -> None:
    order = await paid_order(office, db, shop.url)
    shop.script(Reply.error("out_of_service"), Reply.success())
    await dispatcher.run_once()
    await dispatcher.run_once()

    listing = await office.get("/office/notifications")
    [(notification_id, event)] = rows(listing.text)
    assert event == "paid"
    assert 'data-status="delivered"' in listing.text
    page = await office.get(f"/office/notifications/{notification_id}")

    assert page.status_code == 200
    text = html.unescape(page.text)
    first, second = shop.requests
    assert page.text.count("data-attempt=") == 2
    assert first.headers["x-signature"] in text
    assert first.headers["x-request-id"] in text and second.headers["x-request-id"] in text
    assert f"POST {shop.url}" in text
    assert '"out_of_service"' in text  # the first reply's body
    assert 'data-outcome="retry"' in page.text and 'data-outcome="success"' in page.text
    assert f'href="/office/orders/{order["id"]}"' in page.text
    # the body, pretty-printed: one field per line
    assert f'\n  "id": "{order["id"]}"' in text
    timeline = await office.get(f"/office/orders/{order['id']}")
    assert f'href="/office/notifications/{notification_id}#attempt-2"' in timeline.text


async def test_the_list_filters_by_status_event_and_order(
    office: httpx.AsyncClient, db: Database, shop: Receiver, dispatcher: Dispatcher
) -> None:
    first = await paid_order(office, db, shop.url)
    second = await paid_order(office, db, shop.url)
    shop.script(Reply.error("order_not_found"))
    await dispatcher.run_once()

    rejected = await office.get("/office/notifications", params={"status": "rejected"})
    by_order = await office.get("/office/notifications", params={"order": second["id"]})
    refunds = await office.get("/office/notifications", params={"event": "refund"})
    bad = await office.get("/office/notifications", params={"order": "x" * 300})

    assert len(rows(rejected.text)) == 1
    assert len(rows(by_order.text)) == 1 and second["id"] in by_order.text
    assert first["id"] not in by_order.text
    assert rows(refunds.text) == []
    assert bad.status_code == 200 and rows(bad.text) == []


async def test_resend_one_makes_a_new_attempt(
    office: httpx.AsyncClient, db: Database, shop: Receiver, dispatcher: Dispatcher
) -> None:
    await paid_order(office, db, shop.url)
    await dispatcher.run_once()
    [(notification_id, _)] = rows((await office.get("/office/notifications")).text)
    page = await office.get(f"/office/notifications/{notification_id}")

    resent = await office.post(
        f"/office/notifications/{notification_id}/resend", data={"csrf": csrf_of(page.text)}
    )
    assert await dispatcher.run_once() == 1

    assert resent.status_code == 303
    carrier = resent.headers["location"].split("?")[0].rsplit("/", 1)[1]
    assert carrier != notification_id
    after = await office.get(resent.headers["location"])
    assert 'role="status"' in after.text
    assert 'data-outcome="success"' in after.text
    assert f'href="/office/notifications/{notification_id}"' in after.text  # the original
    assert len(shop.requests) == 2
    assert shop.requests[0].body == shop.requests[1].body


async def test_resend_all_failed(
    office: httpx.AsyncClient, db: Database, shop: Receiver, dispatcher: Dispatcher
) -> None:
    for _ in range(2):
        await paid_order(office, db, shop.url)
    shop.script(Reply.error("order_not_found"), Reply.error("order_wrong_status"))
    await dispatcher.run_once()
    listing = await office.get("/office/notifications", params={"lang": "en"})

    done = await office.post(
        "/office/notifications/resend-failed", data={"csrf": csrf_of(listing.text)}
    )
    assert await dispatcher.run_once() == 2

    assert done.status_code == 303
    after = await office.get(done.headers["location"])
    assert "2 notifications queued again" in after.text
    delivered = await office.get("/office/notifications", params={"status": "delivered"})
    assert len(rows(delivered.text)) == 2


async def test_the_test_notification_shows_the_shops_answer_on_the_page(
    office: httpx.AsyncClient, shop: Receiver
) -> None:
    shop.script(Reply.error("signature_error", "bad signature"))
    listing = await office.get("/office/notifications", params={"lang": "en"})

    sent = await office.post(
        "/office/notifications/test", data={"csrf": csrf_of(listing.text), "url": shop.url}
    )

    assert sent.status_code == 200
    [received] = shop.requests
    text = html.unescape(sent.text)
    assert "data-test-result" in sent.text
    assert 'data-outcome="rejected"' in sent.text
    assert "HTTP 200" in text and "bad signature" in text
    assert received.headers["x-signature"] in text


async def test_the_test_notification_without_any_url_is_explained(
    office: httpx.AsyncClient,
) -> None:
    listing = await office.get("/office/notifications", params={"lang": "en"})
    csrf = csrf_of(listing.text)

    nowhere = await office.post("/office/notifications/test", data={"csrf": csrf})
    bad = await office.post("/office/notifications/test", data={"csrf": csrf, "url": "ftp://x"})

    assert nowhere.status_code == 422
    assert "Nowhere to send it" in nowhere.text
    assert bad.status_code == 422
    assert "This URL will not do" in html.unescape(bad.text)
    assert rows((await office.get("/office/notifications")).text) == []


async def test_forms_without_csrf_and_other_merchants_change_nothing(
    office: httpx.AsyncClient, db: Database, shop: Receiver, dispatcher: Dispatcher
) -> None:
    await paid_order(office, db, shop.url)
    await dispatcher.run_once()
    [(notification_id, _)] = rows((await office.get("/office/notifications")).text)

    no_token = [
        await office.post(f"/office/notifications/{notification_id}/resend"),
        await office.post("/office/notifications/resend-failed", data={"csrf": "nope"}),
        await office.post("/office/notifications/test", data={"url": shop.url}),
    ]
    async with db.transaction() as conn:
        other = await merchants_service.create_merchant(conn, name="Другой магазин")
    office.cookies.clear()
    await office_user(db, other.id, "other@shop.test")
    await log_in(office, "other@shop.test")
    foreign = await office.get(f"/office/notifications/{notification_id}")
    listing = await office.get("/office/notifications")
    resend = await office.post(
        f"/office/notifications/{notification_id}/resend", data={"csrf": csrf_of(listing.text)}
    )

    assert [r.status_code for r in no_token] == [403, 403, 403]
    assert (foreign.status_code, resend.status_code) == (404, 404)
    assert rows(listing.text) == []
    assert await dispatcher.run_once() == 0
    assert len(shop.requests) == 1
