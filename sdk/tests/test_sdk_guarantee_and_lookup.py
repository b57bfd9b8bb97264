"""Company lookup and guarantee actions in the SDK, sync and async, through httpx.MockTransport."""

import datetime as dt

import httpx
import pytest
from sdk_support import BASE_URL, ORDER_ID, TOKEN, Recorder, dump, envelope, reply

import marketbox_sdk as mb

INN = "0001047185"
PUBLIC_CODE = "0190f0a1-0000-7000-8000-0000000000aa"
ACTIONS = f"/v3/billing/api/order/{ORDER_ID}/payment-method-action"
PAYER = mb.Customer(type="legal", name="Кедровый причал", vat_number=INN)
COUNTERPARTY = {
    "id": "6a0f4c1e-1111-5222-8333-444455556666",
    "vatNumber": INN,
    "taxRegistrationReasonCode": "000101001",
    "name": 'ООО "КЕДРОВЫЙ ПРИЧАЛ"',
    "nameFull": 'ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ "КЕДРОВЫЙ ПРИЧАЛ"',
    "nameI18n": None,
    "registrationNumber": "1160001012478",
    "registrationDate": "2016-03-14T00:00:00+00:00",
    "registrationAddress": "199106, г. Санкт-Петербург, ул. Причальная, д. 7",
    "postAddress": "г. Санкт-Петербург, ул. Причальная, д. 7",
    "postAddressZip": "199106",
}
VALIDATED = {
    "type": "none",
    "result": "notEnoughMoney",
    "resultNote": "The payer does not have enough money to pay the invoice",
    "resultData": {"url": "", "method": "POST", "arguments": []},
}
SENT = {
    "type": "none",
    "result": "success",
    "resultNote": None,
    "resultData": {"publicCode": PUBLIC_CODE, "leftAttempt": 2},
}
WRONG_CODE = {
    "type": "message",
    "result": "wrongCode",
    "resultData": {"message": {"title": "Wrong code", "message": "Tries left: 2."}},
}
PAID = {"type": "none", "result": "success", "resultData": {}}


def _sync(respond) -> tuple[mb.Client, Recorder]:
    recorder = Recorder(respond)
    return mb.Client(
        TOKEN, base_url=BASE_URL, transport=httpx.MockTransport(recorder), max_retries=0
    ), recorder


def _async(respond) -> tuple[mb.AsyncClient, Recorder]:
    recorder = Recorder(respond)
    transport = httpx.MockTransport(recorder)
    return mb.AsyncClient(TOKEN, base_url=BASE_URL, transport=transport, max_retries=0), recorder


def page_of(*items: dict) -> bytes:
    meta = {"totalCount": len(items), "pageSize": 30, "page": 1}
    return envelope(list(items), metaData=meta)


# --- company lookup --------------------------------------------------------------------------


def test_lookup_company_sends_the_inn_and_reads_counterparties() -> None:
    client, recorder = _sync(reply(200, page_of(COUNTERPARTY)))

    with client:
        found = client.lookup_company(INN)

    request = recorder.last
    assert request.method == "GET"
    assert request.url.path == "/v3/filter/api/counterparty-detail"
    assert request.url.query == f"vatNumber={INN}".encode()
    assert found.total_count == 1
    [company] = found.items
    assert company.vat_number == INN
    assert company.tax_registration_reason_code == "000101001"
    assert company.name_i18n is None
    assert company.registration_number == "1160001012478"
    assert company.registration_date == dt.datetime(2016, 3, 14, tzinfo=dt.UTC)
    assert company.post_address_zip == "199106"
    assert company.raw == COUNTERPARTY


async def test_async_lookup_company_with_paging() -> None:
    client, recorder = _async(reply(200, page_of()))

    async with client:
        found = await client.lookup_company("000503194730", page=2, page_size=1)

    assert recorder.last.url.query == b"vatNumber=000503194730&_page=2&_pageSize=1"
    assert found.items == []
    assert found.total_count == 0


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (422, "validation_error", mb.ValidationError),
        (503, "out_of_service", mb.OutOfService),
    ],
)
def test_lookup_company_errors(status: int, code: str, error: type) -> None:
    body = dump({"error": {"code": code, "message": "no", "fields": []}})
    client, _ = _sync(reply(status, body))

    with client, pytest.raises(error):
        client.lookup_company("123")


def test_a_counterparty_without_an_id_is_unexpected() -> None:
    client, _ = _sync(reply(200, page_of({"vatNumber": INN})))

    with client, pytest.raises(mb.UnexpectedResponse, match="id"):
        client.lookup_company(INN)


# --- guarantee actions -----------------------------------------------------------------------


def test_validate_payment_method() -> None:
    client, recorder = _sync(reply(200, envelope(VALIDATED)))

    with client:
        check = client.validate_payment_method(
            ORDER_ID, payment_method_id="39363265", customer=PAYER, language_id="en"
        )

    assert recorder.last.method == "POST"
    assert recorder.last.url.path == f"{ACTIONS}/validate"
    assert recorder.last_json() == {
        "paymentMethodId": "39363265",
        "customer": {"type": "legal", "name": "Кедровый причал", "vatNumber": INN},
        "languageId": "en",
    }
    assert check.result == "notEnoughMoney"
    assert not check.available
    assert check.result_note == VALIDATED["resultNote"]
    assert check.raw == VALIDATED


def test_send_payment_code() -> None:
    client, recorder = _sync(reply(200, envelope(SENT)))

    with client:
        sent = client.send_payment_code(ORDER_ID, payment_method_id="39363265", customer=PAYER)

    assert recorder.last.url.path == f"{ACTIONS}/send-code"
    assert "languageId" not in recorder.last_json()
    assert sent.sent
    assert sent.public_code == PUBLIC_CODE
    assert sent.left_attempt == 2
    assert sent.raw == SENT


def test_a_code_that_could_not_be_sent() -> None:
    answer = {**SENT, "result": "error", "resultNote": "no", "resultData": {}}
    answer["resultData"] = {"publicCode": None, "leftAttempt": 0}
    client, _ = _sync(reply(200, envelope(answer)))

    with client:
        sent = client.send_payment_code(ORDER_ID, payment_method_id="39363265", customer=PAYER)

    assert not sent.sent
    assert sent.public_code is None
    assert sent.left_attempt == 0


@pytest.mark.parametrize(
    ("answer", "paid", "title"),
    [(PAID, True, None), (WRONG_CODE, False, "Wrong code")],
    ids=["success", "wrong-code"],
)
def test_pay_with_code(answer: dict, paid: bool, title: str | None) -> None:
    client, recorder = _sync(reply(200, envelope(answer)))

    with client:
        result = client.pay_with_code(
            ORDER_ID,
            payment_method_id="39363265",
            customer=PAYER,
            public_code=PUBLIC_CODE,
            code="000000",
        )

    assert recorder.last.url.path == f"{ACTIONS}/pay"
    assert recorder.last_json()["customerPaymentData"] == {
        "publicCode": PUBLIC_CODE,
        "code": "000000",
    }
    assert result.result == answer["result"]
    assert result.paid is paid
    assert result.title == title
    assert result.raw == answer


async def test_async_guarantee_flow() -> None:
    answers = iter([VALIDATED, SENT, PAID])
    client, recorder = _async(lambda request: reply(200, envelope(next(answers)))(request))

    async with client:
        check = await client.validate_payment_method(
            ORDER_ID, payment_method_id="39363266", customer=PAYER
        )
        sent = await client.send_payment_code(
            ORDER_ID, payment_method_id="39363266", customer=PAYER
        )
        result = await client.pay_with_code(
            ORDER_ID,
            payment_method_id="39363266",
            customer=PAYER,
            public_code=str(sent.public_code),
            code="000000",
        )

    paths = [r.url.path.rsplit("/", 1)[1] for r in recorder.requests]
    assert paths == ["validate", "send-code", "pay"]
    assert check.result == "notEnoughMoney"
    assert result.paid


def test_a_paid_order_is_wrong_order_status() -> None:
    body = dump({"error": {"code": "wrong_order_status", "message": "paid", "fields": []}})
    client, _ = _sync(reply(422, body))

    with client, pytest.raises(mb.WrongOrderStatus):
        client.send_payment_code(ORDER_ID, payment_method_id="39363265", customer=PAYER)


def test_the_customer_must_be_a_customer_model() -> None:
    client, _ = _sync(reply(200, envelope(SENT)))

    with client, pytest.raises(TypeError, match="Customer"):
        client.send_payment_code(
            ORDER_ID,
            payment_method_id="39363265",
            customer={"vatNumber": INN},  # type: ignore[arg-type]
        )
