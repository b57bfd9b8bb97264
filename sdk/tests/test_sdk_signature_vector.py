"""The signed notification test vector of notifications.md §4, byte for byte."""

import hashlib
import hmac
import json

import pytest

from marketbox_sdk import (
    Notification,
    compute_signature,
    is_paid,
    parse_notification,
    verify_signature,
)

KEY = "test"
BODY_LENGTH = 1028
BODY_SHA256 = "2ad731ca4883bf8dedc2290e4999115b9f0e754a48e6a91f27800bbc0027812b"
SIGNATURE_SHA1 = "4731e2fb446ba519fd9d8798a1a0873f073189e8"
PLAIN_SHA1 = "32cf562bcc5d72510baaabbcab3925f3536c4f08"
SIGNATURE_SHA256 = "71ed75df37273e45ccb02797711249ececd9c709aa02ffe6210398dd91635f55"
SIGNATURE_MD5 = "65a5263923c340d3bcbeb5e5f6bed938"
COMPACT_UNESCAPED_LENGTH = 1024
COMPACT_UNESCAPED_SHA1 = "bdd1f145865690bcb7f94aea3007cbe5b8f9edfc"
PYTHON_DEFAULT_LENGTH = 1205
PYTHON_DEFAULT_SHA1 = "c8536b26510be87dfc22f3e610fdd1894159d4cd"


def test_fixture_is_the_documented_body(vector_body: bytes) -> None:
    assert len(vector_body) == BODY_LENGTH
    assert hashlib.sha256(vector_body).hexdigest() == BODY_SHA256
    assert hashlib.sha1(vector_body).hexdigest() == PLAIN_SHA1


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [("sha1", SIGNATURE_SHA1), ("sha256", SIGNATURE_SHA256), ("md5", SIGNATURE_MD5)],
)
def test_documented_hmacs(vector_body: bytes, algorithm: str, expected: str) -> None:
    assert compute_signature(vector_body, KEY, algorithm) == expected
    assert verify_signature(vector_body, expected, KEY, algorithm) is True


def test_sha1_is_the_default_and_case_is_ignored(vector_body: bytes) -> None:
    assert verify_signature(vector_body, SIGNATURE_SHA1, KEY) is True
    assert verify_signature(vector_body, SIGNATURE_SHA1.upper(), KEY) is True


def test_sha512_is_supported(vector_body: bytes) -> None:
    expected = hmac.new(KEY.encode(), vector_body, hashlib.sha512).hexdigest()

    assert verify_signature(vector_body, expected, KEY, "sha512") is True


def test_reserialized_compact_body_does_not_validate(vector_body: bytes) -> None:
    variant = json.dumps(
        json.loads(vector_body), ensure_ascii=False, separators=(",", ":")
    ).encode()

    assert len(variant) == COMPACT_UNESCAPED_LENGTH
    assert compute_signature(variant, KEY) == COMPACT_UNESCAPED_SHA1
    assert verify_signature(variant, SIGNATURE_SHA1, KEY) is False


def test_python_default_dumps_body_does_not_validate(vector_body: bytes) -> None:
    variant = json.dumps(json.loads(vector_body)).encode()

    assert len(variant) == PYTHON_DEFAULT_LENGTH
    assert compute_signature(variant, KEY) == PYTHON_DEFAULT_SHA1
    assert verify_signature(variant, SIGNATURE_SHA1, KEY) is False


@pytest.mark.parametrize("signature", [None, "", "0" * 40, SIGNATURE_SHA256, "не-hex"])
def test_wrong_or_missing_signature_does_not_validate(
    vector_body: bytes, signature: str | None
) -> None:
    assert verify_signature(vector_body, signature, KEY) is False


def test_wrong_key_does_not_validate(vector_body: bytes) -> None:
    assert (
        verify_signature(vector_body, SIGNATURE_SHA1, "098f6bcd4621d373cade4e832627b4f6") is False
    )


def test_vector_parses_into_a_paid_notification(vector_body: bytes) -> None:
    from decimal import Decimal

    merchant_id = "ffffffff-ffff-ffff-ffff-ffffffffffff"
    amount = Decimal("2790.67")

    notification = parse_notification(vector_body, SIGNATURE_SHA1, KEY, merchant_id=merchant_id)

    assert isinstance(notification, Notification)
    assert notification.amount == amount
    assert isinstance(notification.amount, Decimal)
    assert notification.basket_items[0].total_amount == amount
    assert notification.merchant_order_id == "55626"
    assert notification.customer is not None
    assert notification.customer.country_id == "RUS"
    assert notification.payment_url == (
        "https://pay.invoicebox.ru/order/0188d934-85bd-2e43-9057-53275f15a1e2"
    )
    assert notification.status == "success"
    assert is_paid(notification) is True
    assert notification.is_test is False


def test_unsupported_algorithm_is_rejected(vector_body: bytes) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        compute_signature(vector_body, KEY, "crc32")


def test_text_instead_of_bytes_is_rejected(vector_body: bytes) -> None:
    with pytest.raises(TypeError):
        compute_signature(vector_body.decode(), KEY)  # type: ignore[arg-type]
