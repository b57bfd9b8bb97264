"""Mail messages on the wire (through httpx.MockTransport), sync and async: the request each
call sends and how the answer is read. The same calls against the real app:
tests/integration/test_mail_notices.py."""

import datetime as dt

import httpx
import pytest
from sdk_support import BASE_URL, CONTAINER_ID, MERCHANT_ID, ORDER_ID, TOKEN, Recorder, envelope

import marketbox_sdk as mb

MESSAGE_ID = "0190f0a1-0000-7000-8000-0000000000e1"
MESSAGE_JSON = {
    "id": MESSAGE_ID,
    "merchantId": MERCHANT_ID,
    "kind": "merchant_payment",
    "to": "orders@shop.example",
    "language": "ru",
    "subject": "Оплачен счёт № 1",
    "text": "По счёту № 1 оплачены ваши заказы.\n",
    "status": "sent",
    "attempts": 1,
    "lastError": None,
    "orderContainerId": CONTAINER_ID,
    "orderId": ORDER_ID,
    "createdAt": "2026-12-06T10:00:00+00:00",
    "nextAttemptAt": None,
    "sentAt": "2026-12-06T10:00:05+00:00",
}
PAGE = envelope([MESSAGE_JSON], metaData={"totalCount": 1, "page": 1, "pageSize": 10})


def recorder(body: bytes) -> Recorder:
    return Recorder(
        lambda request: httpx.Response(
            200, content=body, headers={"Content-Type": "application/json"}
        )
    )


def check_message(message: mb.MailMessage) -> None:
    assert (message.id, message.kind, message.to, message.status) == (
        MESSAGE_ID,
        "merchant_payment",
        "orders@shop.example",
        "sent",
    )
    assert message.order_container_id == CONTAINER_ID and message.attempts == 1
    assert message.sent_at == dt.datetime(2026, 12, 6, 10, 0, 5, tzinfo=dt.UTC)
    assert message.next_attempt_at is None


def test_list_and_get_mail_messages() -> None:
    listing, one = recorder(PAGE), recorder(envelope(MESSAGE_JSON))
    with mb.Client(TOKEN, base_url=BASE_URL, transport=httpx.MockTransport(listing)) as sdk:
        page = sdk.list_mail_messages(kind="merchant_payment", status=["sent"], page_size=10)
    assert listing.last.url.path == "/v3/mail/api/message"
    assert listing.last.url.params.multi_items() == [
        ("kind", "merchant_payment"),
        ("status[]", "sent"),
        ("_pageSize", "10"),
    ]
    [message] = page
    check_message(message)
    with mb.Client(TOKEN, base_url=BASE_URL, transport=httpx.MockTransport(one)) as sdk:
        check_message(sdk.get_mail_message(MESSAGE_ID))
    assert one.last.url.path == f"/v3/mail/api/message/{MESSAGE_ID}"


async def test_the_async_client_reads_mail_the_same_way() -> None:
    listing, one = recorder(PAGE), recorder(envelope(MESSAGE_JSON))
    async with mb.AsyncClient(
        TOKEN, base_url=BASE_URL, transport=httpx.MockTransport(listing)
    ) as sdk:
        [message] = [m async for m in sdk.iterate_mail_messages(order_id=ORDER_ID)]
    check_message(message)
    assert listing.last.url.params["orderId"] == ORDER_ID
    async with mb.AsyncClient(TOKEN, base_url=BASE_URL, transport=httpx.MockTransport(one)) as sdk:
        check_message(await sdk.get_mail_message(MESSAGE_ID))


def test_another_merchants_letter_is_not_found() -> None:
    missing = Recorder(
        lambda request: httpx.Response(
            404,
            content=b'{"error": {"code": "not_found", "message": "Mail message not found"}}',
            headers={"Content-Type": "application/json"},
        )
    )
    with mb.Client(TOKEN, base_url=BASE_URL, transport=httpx.MockTransport(missing)) as sdk:
        with pytest.raises(mb.NotFound):
            sdk.get_mail_message(MESSAGE_ID)
