"""Retries against a real local HTTP server: 429 with Retry-After, 5xx and dropped connections
are repeated with the same Idempotency-Key, other errors are not; max_retries and timeout per
client and per call; what the error says once the client gives up."""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from decimal import Decimal
from typing import Any

import pytest
from retry_server import DROP, Answer, ScriptedServer
from sdk_support import ORDER_ID, TOKEN, dump, envelope, order_json

import marketbox_sdk as mb

REFUND_ID = "0190f0a1-0000-7000-8000-0000000000f1"
REFUND = {
    "id": REFUND_ID,
    "parentId": ORDER_ID,
    "merchantOrderId": "R-1",
    "merchantId": "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "description": "Refund",
    "amount": Decimal("2100.00"),
    "vatAmount": Decimal("0.00"),
    "currencyId": "RUB",
    "basketItems": [],
    "createdAt": "2024-07-25T09:00:00+00:00",
    "status": "created",
}
REFUND_OK = Answer(200, envelope(REFUND))
ORDER_OK = Answer(200, envelope(order_json()))
LINE = mb.BasketItem(
    sku="tariff-2",
    name="Ticket",
    measure="шт.",
    measure_code="796",
    quantity=1,
    amount=Decimal("2100.00"),
    amount_wo_vat=Decimal("2100.00"),
    total_amount=Decimal("2100.00"),
    total_vat_amount=0,
    vat_code="VATNONE",
    type="service",
    payment_type="full_prepayment",
)


def error(status: int, code: str, **headers: str) -> Answer:
    return Answer(status, dump({"error": {"code": code, "message": code, "fields": []}}), headers)


BUSY = error(503, "out_of_service")


def client(server: ScriptedServer, **kwargs: Any) -> mb.Client:
    sdk = mb.Client(TOKEN, base_url=server.url, **kwargs)
    sdk.retry_delay = 0.01  # backoff 10 ms, 20 ms, ...: the tests never sleep for seconds
    return sdk


def async_client(server: ScriptedServer, **kwargs: Any) -> mb.AsyncClient:
    sdk = mb.AsyncClient(TOKEN, base_url=server.url, **kwargs)
    sdk.retry_delay = 0.01
    return sdk


def refund(sdk: mb.Client, **kwargs: Any) -> mb.Refund:
    return sdk.create_refund(
        parent_id=ORDER_ID,
        merchant_order_id="R-1",
        description="Refund",
        amount=Decimal("2100.00"),
        vat_amount=0,
        basket_items=[LINE],
        **kwargs,
    )


def keys(server: ScriptedServer) -> list[str | None]:
    return [s.headers.get("Idempotency-Key") for s in server.seen]


def test_a_429_waits_what_retry_after_asks_then_succeeds_with_the_same_key() -> None:
    with ScriptedServer(error(429, "too_many_requests", **{"Retry-After": "0.3"}), REFUND_OK) as s:
        result = refund(client(s))

    assert result.id == REFUND_ID
    assert len(s.seen) == 2
    assert s.gaps()[0] >= 0.3  # Retry-After honoured, not the 10 ms backoff
    first, second = keys(s)
    assert first is not None and first == second
    assert s.seen[0].body == s.seen[1].body


def test_5xx_and_a_dropped_connection_are_repeated_with_backoff() -> None:
    with ScriptedServer(BUSY, DROP, error(500, "internal_error"), REFUND_OK) as s:
        result = refund(client(s, max_retries=3), idempotency_key="refund-R-1")

    assert result.status == "created"
    assert [x.method for x in s.seen] == ["POST"] * 4
    assert keys(s) == ["refund-R-1"] * 4
    assert all(gap >= 0.005 for gap in s.gaps())  # backoff with jitter: 50-100 % of 10, 20, 40 ms


def test_reads_are_repeated_without_a_key() -> None:
    with ScriptedServer(DROP, Answer(502, b"<html>Bad gateway</html>"), ORDER_OK) as s:
        order = client(s).get_order(ORDER_ID)

    assert order.id == ORDER_ID
    assert [x.method for x in s.seen] == ["GET"] * 3
    assert keys(s) == [None, None, None]


@pytest.mark.parametrize(
    "answer",
    [
        error(422, "validation_error"),
        error(404, "not_found"),
        error(401, "unauthorized"),
        error(409, "conflict"),
        error(501, "not_implemented"),
        Answer(200, b"not json"),
    ],
    ids=["422", "404", "401", "409", "501", "not-json"],
)
def test_errors_a_repeat_cannot_cure_are_raised_at_once(answer: Answer) -> None:
    with ScriptedServer(answer, REFUND_OK) as s, pytest.raises(mb.InvoiceboxError) as caught:
        refund(client(s))

    assert len(s.seen) == 1
    assert caught.value.attempts == 1


def test_a_key_still_being_processed_is_retried() -> None:
    with ScriptedServer(error(409, "idempotency_key_in_use"), REFUND_OK) as s:
        assert refund(client(s)).id == REFUND_ID

    assert len(s.seen) == 2


def test_max_retries_per_client_and_per_call() -> None:
    with ScriptedServer(BUSY) as s:
        sdk = client(s, max_retries=1)
        with pytest.raises(mb.OutOfService):
            sdk.get_order(ORDER_ID)
        after_client_default = len(s.seen)
        with pytest.raises(mb.OutOfService):
            sdk.get_order(ORDER_ID, max_retries=0)
        after_no_retry = len(s.seen)
        with pytest.raises(mb.OutOfService):
            sdk.get_order(ORDER_ID, max_retries=3)

    assert (after_client_default, after_no_retry, len(s.seen)) == (2, 3, 7)
    assert mb.Client(TOKEN).max_retries == mb.DEFAULT_MAX_RETRIES == 2
    with pytest.raises(ValueError, match="max_retries"):
        mb.Client(TOKEN, max_retries=-1)


def test_giving_up_tells_what_to_do_next() -> None:
    with ScriptedServer(BUSY) as s, pytest.raises(mb.OutOfService) as caught:
        refund(client(s), idempotency_key="refund-R-1")

    error = caught.value
    assert len(s.seen) == 3
    assert error.attempts == 3
    assert error.idempotency_key == "refund-R-1"
    assert "gave up after 3 attempts" in str(error)
    assert "idempotency_key='refund-R-1'" in str(error)


def test_a_long_retry_after_is_handed_to_the_caller() -> None:
    later = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1), True)
    with ScriptedServer(error(429, "too_many_requests", **{"Retry-After": later})) as s:
        started = time.monotonic()
        with pytest.raises(mb.RateLimited) as caught:
            client(s).list_refunds()

    assert len(s.seen) == 1
    assert time.monotonic() - started < 1
    assert 3590 < caught.value.retry_after <= 3600  # type: ignore[operator]
    assert "wait 35" in str(caught.value)


def test_a_past_http_date_retries_at_once() -> None:
    past = email.utils.format_datetime(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1), True)
    with ScriptedServer(error(429, "too_many_requests", **{"Retry-After": past}), ORDER_OK) as s:
        client(s).get_order(ORDER_ID)

    assert len(s.seen) == 2
    assert s.gaps()[0] < 1


def test_timeouts_per_call_are_retried_then_raised() -> None:
    slow = Answer(200, envelope(order_json()), delay=0.5)
    with ScriptedServer(slow) as s:
        sdk = client(s)
        started = time.monotonic()
        with pytest.raises(mb.TransportError) as caught:
            sdk.get_order(ORDER_ID, timeout=0.1, max_retries=1)
        elapsed = time.monotonic() - started
        patient = sdk.get_order(ORDER_ID, timeout=5)

    assert "ReadTimeout" in str(caught.value)
    assert caught.value.attempts == 2
    assert "check base_url and the network" in str(caught.value)
    assert elapsed < 0.5
    assert patient.id == ORDER_ID
    assert len(s.seen) == 3


async def test_the_async_client_retries_the_same_way() -> None:
    script = (error(429, "too_many_requests", **{"Retry-After": "0.2"}), DROP, BUSY, REFUND_OK)
    with ScriptedServer(*script) as s:
        async with async_client(s, max_retries=3) as sdk:
            result = await sdk.create_refund(
                parent_id=ORDER_ID,
                merchant_order_id="R-1",
                description="Refund",
                amount=Decimal("2100.00"),
                vat_amount=0,
                basket_items=[LINE],
            )
        async with async_client(s) as sdk:
            with pytest.raises(mb.ValidationError):  # 422 after the script's end: no retry
                s.then(error(422, "validation_error"))
                await sdk.cancel_refund(REFUND_ID)

    assert result.id == REFUND_ID
    assert len(s.seen) == 5
    assert s.gaps()[0] >= 0.2
    generated = keys(s)[:4]
    assert len(set(generated)) == 1 and generated[0] is not None


async def test_the_async_client_gives_up_after_max_retries() -> None:
    with ScriptedServer(DROP) as s:
        async with async_client(s) as sdk:
            with pytest.raises(mb.TransportError) as caught:
                await sdk.list_shipments(order_id=ORDER_ID, timeout=2)

    assert len(s.seen) == 3
    assert caught.value.attempts == 3
