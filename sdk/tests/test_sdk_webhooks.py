"""Notification verification, parsing, replies and the reference receiver."""

from decimal import Decimal

import pytest
from sdk_support import MERCHANT_ID, dump, order_json

import marketbox_sdk as mb

KEY = "098f6bcd4621d373cade4e832627b4f6"
OTHER_MERCHANT = "01771534-1a57-f184-dee3-ebeb91dded76"


def signed(payload: dict, key: str = KEY, algorithm: str = "sha1") -> tuple[bytes, str]:
    body = dump(payload)
    return body, mb.compute_signature(body, key, algorithm)


def notification_payload(**overrides) -> dict:
    fields = {"status": "completed", "paidAt": "2024-07-25T09:05:00+00:00", **overrides}
    return order_json(**fields)


def test_parse_notification_returns_decimal_amounts() -> None:
    amount = Decimal("2100.00")
    body, signature = signed(notification_payload(amount=amount))

    notification = mb.parse_notification(body, signature, KEY, merchant_id=MERCHANT_ID)

    assert notification.amount == amount
    assert isinstance(notification.amount, Decimal)
    assert notification.paid_at is not None
    assert mb.is_paid(notification) is True


@pytest.mark.parametrize(
    ("status", "paid"),
    [("completed", True), ("success", True), ("created", False), ("canceled", False)],
)
def test_is_paid(status: str, paid: bool) -> None:
    body, signature = signed(notification_payload(status=status))

    notification = mb.parse_notification(body, signature, KEY)

    assert mb.is_paid(notification) is paid


def test_sha256_notification() -> None:
    body, signature = signed(notification_payload(), algorithm="sha256")

    notification = mb.parse_notification(body, signature, KEY, algorithm="sha256")

    assert notification.id == notification_payload()["id"]


@pytest.mark.parametrize(
    ("signature", "error", "reply_code"),
    [
        (None, mb.MissingSignature, "out_of_service"),
        ("", mb.MissingSignature, "out_of_service"),
        ("deadbeef", mb.InvalidSignature, "signature_error"),
    ],
)
def test_bad_signature_raises_with_reply(signature, error: type, reply_code: str) -> None:
    body, _ = signed(notification_payload())

    with pytest.raises(error) as info:
        mb.parse_notification(body, signature, KEY)

    assert info.value.reply()["code"] == reply_code
    assert info.value.reply()["status"] == "error"


def test_foreign_merchant_is_refused() -> None:
    body, signature = signed(notification_payload(merchantId=OTHER_MERCHANT))

    with pytest.raises(mb.MerchantMismatch) as info:
        mb.parse_notification(body, signature, KEY, merchant_id=MERCHANT_ID)

    assert info.value.reply()["code"] == "order_not_found"


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[1, 2]",
        dump({"id": "x", "status": "completed"}),
        dump(notification_payload(createdAt="yesterday")),
    ],
)
def test_signed_garbage_is_invalid_notification(payload: bytes) -> None:
    signature = mb.compute_signature(payload, KEY)

    with pytest.raises(mb.InvalidNotification):
        mb.parse_notification(payload, signature, KEY)


def test_replies() -> None:
    message = "Amount differs from the shop's record"

    assert mb.reply_success() == {"status": "success"}
    assert mb.reply_error(mb.NotificationErrorCode.ORDER_WRONG_AMOUNT, message) == {
        "status": "error",
        "code": "order_wrong_amount",
        "message": message,
    }
    assert mb.reply_error("shipping_unavailable") == {
        "status": "error",
        "code": "shipping_unavailable",
    }
    assert mb.reply_error() == {"status": "error", "code": "out_of_service"}
    with pytest.raises(ValueError):
        mb.reply_error("no_such_code")


def test_error_codes_are_the_documented_ones() -> None:
    documented = {
        "out_of_service",
        "order_wrong_amount",
        "order_already_paid",
        "order_not_found",
        "shipping_unavailable",
        "signature_error",
        "order_wrong_status",
    }

    assert {code.value for code in mb.NotificationErrorCode} == documented


@pytest.mark.parametrize(
    "headers",
    [
        {"x-signature": "abc"},
        {"X-SIGNATURE": "abc"},
        [("X-Signature", "abc")],
        [(b"x-signature", b"abc")],
    ],
)
def test_get_header_is_case_insensitive(headers) -> None:
    assert mb.get_header(headers) == "abc"
    assert mb.get_header(headers, "x-request-id") is None


def test_get_header_with_httpx_headers() -> None:
    import httpx

    headers = httpx.Headers({"X-Signature": "abc"})

    assert mb.get_header(headers, "x-signature") == "abc"


# -- NotificationReceiver ----------------------------------------------------------------------


class Shop:
    """A tiny shop with one order, implementing the receiver's business checks."""

    def __init__(self) -> None:
        self.amount = Decimal("2100.00")
        self.paid_by: str | None = None
        self.calls = 0

    def handle(self, notification: mb.Notification) -> None:
        self.calls += 1
        if self.paid_by == notification.id:
            return None
        if self.paid_by is not None:
            raise mb.NotificationError(mb.NotificationErrorCode.ORDER_ALREADY_PAID)
        if notification.amount != self.amount:
            raise mb.NotificationError(
                mb.NotificationErrorCode.ORDER_WRONG_AMOUNT, "amount differs"
            )
        if mb.is_paid(notification):
            self.paid_by = notification.id
        return None


def test_receiver_pays_once_and_is_idempotent() -> None:
    shop = Shop()
    receiver = mb.NotificationReceiver(key=KEY, merchant_id=MERCHANT_ID, handler=shop.handle)
    body, signature = signed(notification_payload())
    headers = {"x-signature": signature}

    first = receiver.handle(body, headers)
    second = receiver.handle(body, headers)

    assert first == second == {"status": "success"}
    assert shop.paid_by == notification_payload()["id"]


def test_receiver_refuses_wrong_amount_and_double_payment() -> None:
    shop = Shop()
    receiver = mb.NotificationReceiver(key=KEY, merchant_id=MERCHANT_ID, handler=shop.handle)
    wrong_body, wrong_sig = signed(notification_payload(amount=Decimal("1.00")))
    shop.paid_by = "another-notification"
    body, sig = signed(notification_payload())

    shop_paid = receiver.handle(body, {"X-Signature": sig})
    shop.paid_by = None
    wrong = receiver.handle(wrong_body, {"X-Signature": wrong_sig})

    assert shop_paid == {"status": "error", "code": "order_already_paid"}
    assert wrong == {"status": "error", "code": "order_wrong_amount", "message": "amount differs"}


def test_receiver_test_notification_has_no_side_effects() -> None:
    shop = Shop()
    receiver = mb.NotificationReceiver(key=KEY, merchant_id=MERCHANT_ID, handler=shop.handle)
    body, signature = signed(
        notification_payload(id=mb.TEST_NOTIFICATION_ID, merchantOrderId="", amount=0)
    )

    result = receiver.handle(body, {"X-Signature": signature})

    assert result == {"status": "success"}
    assert shop.calls == 0


@pytest.mark.parametrize(
    ("headers", "merchant", "expected_code"),
    [
        ({}, MERCHANT_ID, "out_of_service"),
        ({"X-Signature": "0" * 40}, MERCHANT_ID, "signature_error"),
        (None, OTHER_MERCHANT, "order_not_found"),
    ],
)
def test_receiver_checklist_failures(headers, merchant: str, expected_code: str) -> None:
    shop = Shop()
    body, signature = signed(notification_payload(merchantId=merchant))
    receiver = mb.NotificationReceiver(key=KEY, merchant_id=MERCHANT_ID, handler=shop.handle)

    result = receiver.handle(body, headers if headers is not None else {"X-Signature": signature})

    assert result["status"] == "error"
    assert result["code"] == expected_code
    assert shop.calls == 0


def test_receiver_turns_crashes_into_out_of_service(caplog) -> None:
    def crash(notification: mb.Notification) -> None:
        raise RuntimeError("database down")

    receiver = mb.NotificationReceiver(key=KEY, merchant_id=MERCHANT_ID, handler=crash)
    body, signature = signed(notification_payload())

    result = receiver.handle(body, {"X-Signature": signature})

    assert result == {"status": "error", "code": "out_of_service"}
    assert "notification handler failed" in caplog.text


async def test_async_receiver_awaits_the_handler() -> None:
    seen: list[str] = []

    async def handler(notification: mb.Notification) -> None:
        seen.append(notification.id)

    receiver = mb.NotificationReceiver(key=KEY, merchant_id=MERCHANT_ID, handler=handler)
    body, signature = signed(notification_payload())

    result = await receiver.handle_async(body, [(b"x-signature", signature.encode())])

    assert result == {"status": "success"}
    assert seen == [notification_payload()["id"]]
    with pytest.raises(TypeError):
        receiver.handle(body, {"X-Signature": signature})
