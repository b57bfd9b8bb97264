"""marketbox.miniapp_host.launch: the host signs init data's launch facts (docs/miniapps.md
"Signed launch data"); the fixed vector below is the one documented for other languages, and
the SDK's verifier (sdk/tests/test_launch.py) checks the same vector."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from marketbox.miniapp_host import launch
from marketbox.miniapp_host.protocol import build_init_data

SECRET = "6d61726b6574626f782d6c61756e63682d7365637265742d746573742d303031"
PREVIOUS = "0" * 64
META = [{"iataCode": "SVO", "price": Decimal("12.50")}]
VECTOR = (
    "authDate=1796645400&fullHeight=false&locale=ru"
    "&metaDataHash=58599272db61687b20da2b803432945984f254a0273340392c3f9318d433adef"
    "&minappType=suborder&orderContainerId=0190f0a1-0000-7000-8000-0000000000c1&shopId=42"
    "&userEmail=anna%40example.org"
    "&userName=%D0%90%D0%BD%D0%BD%D0%B0%20%D0%A1%D0%BC%D0%B8%D1%80%D0%BD%D0%BE%D0%B2%D0%B0"
    "&userPhone=%2B79005556677"
    "&hash=3984e021beaba4b889f916f6b36d81e6738ae46e2fdd37df0e7eb96e8b3724cf"
)


def _suborder(keys: launch.LaunchKeys | None, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "shop_id": 42,
        "user_name": "Анна Смирнова",
        "user_email": "anna@example.org",
        "user_phone": "+79005556677",
        "locale": "ru",
        "mode": "suborder",
        "order_container_id": "0190f0a1-0000-7000-8000-0000000000c1",
        "meta_data": META,
        "launch_keys": keys,
        "issued_at": 1796645400,
    }
    values.update(overrides)
    return dict(build_init_data(**values)["public"])


def test_the_documented_vector() -> None:
    public = _suborder(launch.LaunchKeys(current=SECRET))
    assert public["signedLaunchData"] == VECTOR


def test_the_hash_is_the_hmac_of_the_sorted_decoded_facts() -> None:
    facts = dict(parse_qsl(VECTOR, keep_blank_values=True))
    check = "\n".join(f"{k}={facts[k]}" for k in sorted(facts) if k != "hash")
    assert "userName=Анна Смирнова" in check.split("\n")
    expected = hmac.new(SECRET.encode(), check.encode(), hashlib.sha256).hexdigest()
    assert facts["hash"] == expected


def test_every_launch_fact_changes_the_hash() -> None:
    keys = launch.LaunchKeys(current=SECRET)
    base = _suborder(keys)["signedLaunchData"]
    for change in (
        {"shop_id": 43},
        {"user_name": "Анна Смирнов"},
        {"user_email": "eve@example.org"},
        {"user_phone": "+79005556678"},
        {"locale": "en"},
        {"order_container_id": "0190f0a1-0000-7000-8000-0000000000c2"},
        {"meta_data": [{"iataCode": "VKO", "price": Decimal("12.50")}]},
        {"meta_data": [{"iataCode": "SVO", "price": Decimal("12.5")}]},
        {"issued_at": 1796645401},
    ):
        assert _suborder(keys, **change)["signedLaunchData"] != base, change


def test_order_mode_has_no_container_and_is_full_height() -> None:
    public = _suborder(
        launch.LaunchKeys(current=SECRET),
        mode="order",
        order_container_id=None,
        meta_data=[],
    )
    facts = dict(parse_qsl(str(public["signedLaunchData"])))
    assert "orderContainerId" not in facts
    assert facts["minappType"] == "order"
    assert facts["fullHeight"] == "true"
    assert facts["metaDataHash"] == hashlib.sha256(b"[]").hexdigest()


def test_without_keys_nothing_is_added() -> None:
    assert "signedLaunchData" not in _suborder(None)


def test_previous_secret_signs_beside_the_new_one_while_the_overlap_lasts() -> None:
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    keys = launch.LaunchKeys.of(SECRET, PREVIOUS, now + timedelta(hours=1), now=now)
    assert keys is not None
    facts = dict(parse_qsl(str(_suborder(keys)["signedLaunchData"])))
    assert facts["hash"] == dict(parse_qsl(VECTOR))["hash"]
    check = launch.data_check_string(facts)
    assert facts["previousHash"] == hmac.new(b"0" * 64, check.encode(), "sha256").hexdigest()
    # After the overlap only the current secret signs; without a secret nothing does.
    assert launch.LaunchKeys.of(SECRET, PREVIOUS, now, now=now) == launch.LaunchKeys(SECRET)
    assert launch.LaunchKeys.of(None, PREVIOUS, now + timedelta(hours=1), now=now) is None


def test_keys_never_show_in_repr() -> None:
    assert SECRET not in repr(launch.LaunchKeys(current=SECRET, previous=PREVIOUS))
    assert PREVIOUS not in repr(launch.LaunchKeys(current=SECRET, previous=PREVIOUS))
