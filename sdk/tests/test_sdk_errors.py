"""Error envelopes map to exception classes (through httpx.MockTransport)."""

import httpx
import pytest
from sdk_support import BASE_URL, ORDER_ID, TOKEN, Recorder, dump, reply

import marketbox_sdk as mb


def _client(respond) -> mb.Client:
    # No retries: these tests look at how one answer maps to an error (see test_sdk_retries).
    transport = httpx.MockTransport(Recorder(respond))
    return mb.Client(TOKEN, base_url=BASE_URL, transport=transport, max_retries=0)


def _error_body(code: str | None, message: str = "boom", fields=None) -> bytes:
    error: dict = {"message": message, "fields": fields or []}
    if code is not None:
        error["code"] = code
    return dump({"error": error})


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (401, "unauthorized", mb.Unauthorized),
        (403, "forbidden", mb.Forbidden),
        (404, "not_found", mb.NotFound),
        (422, "validation_error", mb.ValidationError),
        (422, "wrong_total_amount", mb.AmountMismatch),
        (422, "wrong_total_vat_amount", mb.AmountMismatch),
        (422, "wrong_basket_item_total_amount", mb.AmountMismatch),
        (422, "wrong_basket_item_total_vat_amount", mb.AmountMismatch),
        (422, "wrong_basket_item_amount_wo_vat", mb.AmountMismatch),
        (422, "wrong_expiration_date", mb.WrongExpirationDate),
        (422, "wrong_currency", mb.WrongCurrency),
        (422, "language_not_found", mb.LanguageNotFound),
        (422, "seller_not_found", mb.SellerNotFound),
        (422, "wrong_order_status", mb.WrongOrderStatus),
        (422, "merchant_order_id_duplicate", mb.DuplicateMerchantOrderId),
        (422, "invoice_already_paid", mb.InvoiceAlreadyPaid),
        (404, "invoice_not_found", mb.InvoiceNotFound),
        (403, "signature_error", mb.RequestSignatureRejected),
        (503, "out_of_service", mb.OutOfService),
        (500, None, mb.ServerError),
        (502, "bad_gateway_code", mb.ServerError),
        (401, None, mb.Unauthorized),
        (404, None, mb.NotFound),
        (422, None, mb.ValidationError),
    ],
)
def test_error_code_maps_to_exception(status: int, code: str | None, expected: type) -> None:
    message = "Calculation Error"
    client = _client(reply(status, _error_body(code, message)))

    with pytest.raises(mb.InvoiceboxError) as info:
        client.get_order(ORDER_ID)

    assert type(info.value) is expected
    assert info.value.http_status == status
    assert info.value.request_id == "req-1"
    assert info.value.message == message
    if code is not None:
        assert info.value.code == code


def test_validation_subclasses_are_validation_errors() -> None:
    for cls in (mb.AmountMismatch, mb.WrongOrderStatus, mb.DuplicateMerchantOrderId):
        assert issubclass(cls, mb.ValidationError)


def test_unknown_code_falls_back_to_base_class() -> None:
    code = "brand_new_code"
    client = _client(reply(422, _error_body(code)))

    with pytest.raises(mb.InvoiceboxError) as info:
        client.get_order(ORDER_ID)

    assert type(info.value) is mb.InvoiceboxError
    assert info.value.code == code


def test_fields_are_parsed() -> None:
    fields = [{"name": "amount", "code": "wrong_value", "message": ""}]
    client = _client(reply(422, _error_body("wrong_total_amount", fields=fields)))

    with pytest.raises(mb.AmountMismatch) as info:
        client.get_order(ORDER_ID)

    assert info.value.fields == (mb.ErrorField(name="amount", code="wrong_value", message=""),)
    assert "amount: wrong_value" in str(info.value)


@pytest.mark.parametrize(("header", "expected"), [("7", 7.0), (None, None), ("soon", None)])
def test_rate_limited_carries_retry_after(header: str | None, expected: float | None) -> None:
    headers = {"Retry-After": header} if header is not None else {}
    client = _client(reply(429, b"", headers))

    with pytest.raises(mb.RateLimited) as info:
        client.get_order(ORDER_ID)

    assert info.value.retry_after == expected
    assert info.value.http_status == 429


def test_retry_after_http_date() -> None:
    import datetime as dt

    from marketbox_sdk._errors import parse_retry_after

    now = dt.datetime(2024, 7, 25, 9, 0, 0, tzinfo=dt.UTC)

    assert parse_retry_after("Thu, 25 Jul 2024 09:00:30 GMT", now=now) == 30.0


def test_error_object_on_http_200_still_raises() -> None:
    client = _client(reply(200, _error_body("forbidden", "Forbidden")))

    with pytest.raises(mb.Forbidden):
        client.check_auth()


def test_flat_error_shape_is_understood() -> None:
    client = _client(reply(404, dump({"code": "not_found", "message": "no such order"})))

    with pytest.raises(mb.NotFound) as info:
        client.get_order(ORDER_ID)

    assert info.value.message == "no such order"


def test_non_json_error_body_maps_by_status() -> None:
    client = _client(reply(502, b"<html>Bad gateway</html>"))

    with pytest.raises(mb.ServerError) as info:
        client.get_order(ORDER_ID)

    assert "Bad gateway" in info.value.message


@pytest.mark.parametrize(
    ("status", "body"),
    [(200, b"not json"), (200, b""), (204, b""), (200, b'{"result": 1}'), (302, b"")],
)
def test_non_envelope_success_is_unexpected(status: int, body: bytes) -> None:
    client = _client(reply(status, body))

    with pytest.raises(mb.UnexpectedResponse):
        client.get_order(ORDER_ID)


def test_network_failure_is_transport_error() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = _client(fail)

    with pytest.raises(mb.TransportError) as info:
        client.get_order(ORDER_ID)

    assert isinstance(info.value.__cause__, httpx.ConnectError)


async def test_async_client_maps_errors_too() -> None:
    transport = httpx.MockTransport(Recorder(reply(422, _error_body("wrong_order_status"))))

    async with mb.AsyncClient(TOKEN, base_url=BASE_URL, transport=transport) as client:
        with pytest.raises(mb.WrongOrderStatus):
            await client.cancel_order(ORDER_ID)
