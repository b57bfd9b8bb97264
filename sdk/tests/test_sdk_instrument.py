"""Payment-instrument (bank) client: invoices and signed confirmations."""

import datetime as dt
import hashlib
import hmac
from decimal import Decimal

import httpx
import pytest
from sdk_support import BASE_URL, CONTAINER_ID, Recorder, envelope, reply

import marketbox_sdk as mb

SIGNING_KEY = "098f6bcd4621d373cade4e832627b4f6"
INVOICE = {
    "id": CONTAINER_ID,
    "number": "123-123212",
    "createdAt": "2024-07-25T09:00:00+00:00",
    "expirationDate": "2024-07-26T00:00:00+00:00",
    "description": "Invoice",
    "amount": Decimal("19658.45"),
    "vatAmount": Decimal("3276.41"),
    "currencyId": "RUB",
    "customer": {"type": "legal", "vatNumber": "7804445210"},
    "paymentOrderTemplate": {"type": "legal", "amount": Decimal("19658.45"), "bic": "044525225"},
    "status": "pending",
    "paymentUrl": f"https://pay.example/order/{CONTAINER_ID}",
}
PAYMENT = {
    "id": "0190f0a1-0000-7000-8000-0000000000f1",
    "invoiceId": CONTAINER_ID,
    "paymentOperationId": "op-1",
    "amount": Decimal("19658.45"),
    "currencyId": "RUB",
    "status": "paid",
}


def _client(respond, algorithm: str = "sha1") -> tuple[mb.InstrumentClient, Recorder]:
    recorder = Recorder(respond)
    client = mb.InstrumentClient(
        signing_key=SIGNING_KEY,
        token="bank-token",
        algorithm=algorithm,
        base_url=BASE_URL,
        transport=httpx.MockTransport(recorder),
        max_retries=0,  # one answer, one error: retries are tested in test_sdk_retries
    )
    return client, recorder


@pytest.mark.parametrize(
    ("algorithm", "digest"),
    [
        ("sha1", hashlib.sha1),
        ("sha256", hashlib.sha256),
        ("sha512", hashlib.sha512),
        ("md5", hashlib.md5),
    ],
)
def test_confirm_is_signed_over_the_exact_body(algorithm: str, digest) -> None:
    client, recorder = _client(reply(200, envelope(PAYMENT)), algorithm)
    expected_body = (
        b'{"invoiceId":"' + CONTAINER_ID.encode() + b'","paymentOperationId":"op-1",'
        b'"amount":19658.45,"currencyId":"RUB","status":"paid"}'
    )

    with client:
        payment = client.confirm_invoice_payment(
            invoice_id=CONTAINER_ID,
            payment_operation_id="op-1",
            amount=Decimal("19658.45"),
            currency_id="RUB",
            status="paid",
        )

    request = recorder.last
    assert request.method == "POST"
    assert request.url.path == "/v3/payment/api/invoice/confirm"
    assert request.content == expected_body
    assert (
        request.headers["X-Signature"]
        == hmac.new(SIGNING_KEY.encode(), expected_body, digest).hexdigest()
    )
    assert request.headers["Authorization"] == "Bearer bank-token"
    assert payment.amount == Decimal("19658.45")
    assert payment.id == PAYMENT["id"]


def test_confirm_with_payment_order() -> None:
    client, recorder = _client(reply(200, envelope(PAYMENT)))
    order = mb.PaymentOrder(
        type="legal",
        amount=Decimal("19658.45"),
        currency_id="RUB",
        number="17",
        date=dt.date(2023, 4, 1),
    )

    client.confirm_invoice_payment(
        invoice_id=CONTAINER_ID,
        payment_operation_id="op-1",
        amount="19658.45",
        currency_id="RUB",
        payment_order=order,
    )

    body = recorder.last_json()
    assert body["paymentOrder"] == {
        "type": "legal",
        "amount": Decimal("19658.45"),
        "currencyId": "RUB",
        "number": "17",
        "date": "2023-04-01",
    }
    assert mb.verify_signature(
        recorder.last.content, recorder.last.headers["x-signature"], SIGNING_KEY
    )


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (422, "invoice_already_paid", mb.InvoiceAlreadyPaid),
        (404, "invoice_not_found", mb.InvoiceNotFound),
        (403, "signature_error", mb.RequestSignatureRejected),
        (503, "out_of_service", mb.OutOfService),
    ],
)
def test_confirm_outcome_codes(status: int, code: str, error: type) -> None:
    from sdk_support import dump

    client, _ = _client(reply(status, dump({"error": {"code": code, "message": code}})))

    with pytest.raises(error):
        client.confirm_invoice_payment(
            invoice_id=CONTAINER_ID, payment_operation_id="op-1", amount=1, currency_id="RUB"
        )


def test_list_and_get_invoices() -> None:
    client, recorder = _client(
        reply(200, envelope([INVOICE], metaData={"totalCount": 1, "pageSize": 30, "page": 1}))
    )

    page = client.list_invoices(status="pending", filters={"customer[vatNumber][eq]": "7804445210"})

    assert recorder.last.url.path == "/v3/payment/api/invoice"
    assert recorder.last.url.params.multi_items() == [
        ("status", "pending"),
        ("customer[vatNumber][eq]", "7804445210"),
    ]
    assert "X-Signature" not in recorder.last.headers
    invoice = page.items[0]
    assert invoice.amount == Decimal("19658.45")
    assert invoice.payment_order_template is not None
    assert invoice.payment_order_template.bic == "044525225"


async def test_async_instrument_client() -> None:
    recorder = Recorder(reply(200, envelope(INVOICE)))
    transport = httpx.MockTransport(recorder)

    async with mb.AsyncInstrumentClient(
        signing_key=SIGNING_KEY, base_url=BASE_URL, transport=transport
    ) as client:
        invoice = await client.get_invoice(CONTAINER_ID)

    assert recorder.last.url.path == f"/v3/payment/api/invoice/{CONTAINER_ID}"
    assert "Authorization" not in recorder.last.headers
    assert invoice.number == "123-123212"


def test_sync_and_async_instrument_methods_match() -> None:
    sync_methods = {n for n in vars(mb.InstrumentClient) if not n.startswith("_")} - {"close"}
    async_methods = {n for n in vars(mb.AsyncInstrumentClient) if not n.startswith("_")} - {
        "aclose"
    }

    assert sync_methods == async_methods


def test_bad_algorithm_fails_at_construction() -> None:
    with pytest.raises(ValueError):
        mb.InstrumentClient(signing_key=SIGNING_KEY, algorithm="crc32")
