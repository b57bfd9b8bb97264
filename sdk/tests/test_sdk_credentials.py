"""Credentials, key rotation and notification settings (marketbox extension), and the webhook
verifier during a rotation's overlap."""

import datetime as dt
import json

import httpx
import pytest
from sdk_support import BASE_URL, FIXTURES, MERCHANT_ID, TOKEN, Recorder, envelope, reply

import marketbox_sdk as mb

OLD_KEY = "098f6bcd4621d373cade4e832627b4f6"
NEW_KEY = "5d41402abc4b2a76b9719d911017c592"
CREDENTIALS = {
    "merchantId": MERCHANT_ID,
    "token": {
        "fingerprint": "0123456789abcdef",
        "createdAt": "2026-12-07T10:00:00+00:00",
        "previous": {"fingerprint": "fedcba9876543210", "validUntil": "2026-12-08T10:00:00+00:00"},
    },
    "signingKey": {
        "fingerprint": "00112233aabbccdd",
        "createdAt": "2026-12-01T10:00:00+00:00",
        "previous": None,
    },
    "notification": {"notificationUrl": "https://shop.example/n", "signatureAlgorithm": "sha1"},
}


def _client(answer: dict) -> tuple[mb.Client, Recorder]:
    recorder = Recorder(reply(body=envelope(answer)))
    client = mb.Client(
        TOKEN, base_url=BASE_URL, transport=httpx.MockTransport(recorder), max_retries=0
    )
    return client, recorder


def test_credentials_are_read_without_secrets() -> None:
    client, recorder = _client(CREDENTIALS)

    found = client.credentials()

    assert recorder.last.method == "GET"
    assert recorder.last.url.path == "/v3/security/api/credentials"
    assert found.token.previous is not None
    assert found.token.previous.valid_until == dt.datetime(2026, 12, 8, 10, tzinfo=dt.UTC)
    assert found.signing_key.previous is None
    assert found.notification.signature_algorithm == "sha1"
    assert found.new_token is None


def test_rotation_sends_what_to_rotate_and_the_overlap() -> None:
    client, recorder = _client({**CREDENTIALS, "newToken": "t" * 32, "newSigningKey": None})

    rotated = client.rotate_credentials(signing_key=False, overlap=dt.timedelta(hours=2))

    assert recorder.last.url.path == "/v3/security/api/credentials/rotate"
    assert recorder.last_json() == {"credentials": ["token"], "overlapSeconds": 7200}
    assert rotated.new_token == "t" * 32
    assert "t" * 32 not in repr(rotated)  # a secret never lands in a log line by accident


@pytest.mark.parametrize("overlap", [-1, 7 * 24 * 3600 + 1, dt.timedelta(milliseconds=1)])
def test_a_bad_overlap_is_refused_before_sending(overlap: object) -> None:
    client, recorder = _client(CREDENTIALS)

    with pytest.raises(ValueError):
        client.rotate_credentials(overlap=overlap)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        client.rotate_credentials(token=False, signing_key=False)
    assert recorder.requests == []


def test_retire_previous_and_notification_settings() -> None:
    client, recorder = _client(CREDENTIALS)

    client.retire_previous_credentials(token=False)
    retire = recorder.last_json()
    client.set_notification("https://shop.example/n", signature_algorithm="sha256")

    assert retire == {"credentials": ["signingKey"]}
    assert recorder.last.method == "PUT"
    assert recorder.last.url.path == "/v3/security/api/notification"
    assert recorder.last_json() == {
        "notificationUrl": "https://shop.example/n",
        "signatureAlgorithm": "sha256",
    }
    client.set_notification(None, shipping_control=True, shipping_control_timeout_seconds=5)
    assert recorder.last_json() == {
        "notificationUrl": None,
        "shippingControl": True,
        "shippingControlTimeoutSeconds": 5,
    }


async def test_the_async_client_rotates_too() -> None:
    recorder = Recorder(reply(body=envelope({**CREDENTIALS, "newSigningKey": NEW_KEY})))
    async with mb.AsyncClient(
        TOKEN, base_url=BASE_URL, transport=httpx.MockTransport(recorder), max_retries=0
    ) as client:
        rotated = await client.rotate_credentials(token=False, overlap=0)
        await client.retire_previous_credentials()
        await client.set_notification(None)
        found = await client.credentials()

    assert rotated.new_signing_key == NEW_KEY
    assert [r.url.path.rsplit("/", 1)[-1] for r in recorder.requests] == [
        "rotate",
        "retire-previous",
        "notification",
        "credentials",
    ]
    assert found.merchant_id == MERCHANT_ID


# -- the verifier during an overlap ---------------------------------------------------------

BODY = (FIXTURES / "notification_vector.json").read_bytes()  # notifications.md §4
SHOP = json.loads(BODY)["merchantId"]


def _during_overlap() -> dict[str, str]:
    return {
        "X-Signature": mb.compute_signature(BODY, OLD_KEY),
        "X-Signature-Next": mb.compute_signature(BODY, NEW_KEY),
    }


@pytest.mark.parametrize("keys", [OLD_KEY, NEW_KEY, [OLD_KEY, NEW_KEY], (NEW_KEY,)])
def test_a_receiver_with_the_old_the_new_or_both_keys_accepts_during_the_overlap(
    keys: object,
) -> None:
    receiver = mb.NotificationReceiver(key=keys, merchant_id=SHOP, handler=lambda n: None)  # type: ignore[arg-type]

    assert receiver.handle(BODY, _during_overlap()) == {"status": "success"}


def test_verify_signature_takes_a_list_of_keys() -> None:
    signature = mb.compute_signature(BODY, NEW_KEY)

    assert mb.verify_signature(BODY, signature, [OLD_KEY, NEW_KEY])
    assert not mb.verify_signature(BODY, signature, [OLD_KEY])
    with pytest.raises(ValueError):
        mb.verify_signature(BODY, signature, [])


def test_a_foreign_key_fails_both_headers() -> None:
    receiver = mb.NotificationReceiver(key="other", merchant_id=SHOP, handler=lambda n: None)

    reply_body = receiver.handle(BODY, _during_overlap())

    assert reply_body["code"] == "signature_error"
    headers = {"X-Signature-Next": mb.compute_signature(BODY, NEW_KEY)}
    assert receiver.handle(BODY, headers)["code"] == "out_of_service"  # no X-Signature at all
    assert mb.SIGNATURE_NEXT_HEADER == "X-Signature-Next"
