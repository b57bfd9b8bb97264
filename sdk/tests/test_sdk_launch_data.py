"""verify_launch_data: the documented vector (docs/miniapps.md "Signed launch data"),
tampering, staleness, rotation. The platform's signer makes the same vector
(tests/unit/test_launch_data.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from decimal import Decimal
from urllib.parse import parse_qsl, quote

import pytest

from marketbox_sdk import (
    InvalidLaunchData,
    LaunchDataError,
    StaleLaunchData,
    TamperedLaunchData,
    launch_meta_data_digest,
    verify_launch_data,
)

SECRET = "6d61726b6574626f782d6c61756e63682d7365637265742d746573742d303031"
ISSUED = 1796645400
VECTOR = (
    "authDate=1796645400&fullHeight=false&locale=ru"
    "&metaDataHash=58599272db61687b20da2b803432945984f254a0273340392c3f9318d433adef"
    "&minappType=suborder&orderContainerId=0190f0a1-0000-7000-8000-0000000000c1&shopId=42"
    "&userEmail=anna%40example.org"
    "&userName=%D0%90%D0%BD%D0%BD%D0%B0%20%D0%A1%D0%BC%D0%B8%D1%80%D0%BD%D0%BE%D0%B2%D0%B0"
    "&userPhone=%2B79005556677"
    "&hash=3984e021beaba4b889f916f6b36d81e6738ae46e2fdd37df0e7eb96e8b3724cf"
)


def _replace(signed: str, name: str, value: str) -> str:
    pairs = [(k, value if k == name else v) for k, v in parse_qsl(signed)]
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in pairs)


def _resign(signed: str, secrets: dict[str, str]) -> str:
    """Re-make the hashes of `signed` with the given secrets (hash / previousHash)."""
    facts = {k: v for k, v in parse_qsl(signed) if k not in ("hash", "previousHash")}
    check = "\n".join(f"{k}={facts[k]}" for k in sorted(facts)).encode()
    for name, secret in secrets.items():
        facts[name] = hmac.new(secret.encode(), check, hashlib.sha256).hexdigest()
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in facts.items())


def test_the_documented_vector_verifies() -> None:
    data = verify_launch_data(VECTOR, SECRET, now=ISSUED + 10)

    assert data.shop_id == 42
    assert data.minapp_type == "suborder"
    assert data.order_container_id == "0190f0a1-0000-7000-8000-0000000000c1"
    assert data.user_name == "Анна Смирнова"
    assert data.user_email == "anna@example.org"
    assert data.user_phone == "+79005556677"
    assert data.locale == "ru"
    assert data.full_height is False
    assert data.auth_date == dt.datetime(2026, 12, 7, 12, 10, tzinfo=dt.UTC)
    assert data.meta_data_hash == launch_meta_data_digest(
        [{"iataCode": "SVO", "price": Decimal("12.50")}]
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("userName", "Ева Злодеева"),
        ("orderContainerId", "0190f0a1-0000-7000-8000-0000000000c2"),
        ("shopId", "43"),
        ("userEmail", "eve@example.org"),
        ("authDate", str(ISSUED + 5)),
        ("metaDataHash", "0" * 64),
        ("hash", "0" * 64),
    ],
)
def test_a_changed_fact_is_refused(name: str, value: str) -> None:
    with pytest.raises(TamperedLaunchData):
        verify_launch_data(_replace(VECTOR, name, value), SECRET, now=ISSUED)


def test_another_secret_is_refused() -> None:
    with pytest.raises(TamperedLaunchData) as caught:
        verify_launch_data(VECTOR, "f" * 64, now=ISSUED)
    assert caught.value.code == "launch_data_tampered"
    assert isinstance(caught.value, LaunchDataError)


def test_an_added_fact_is_refused() -> None:
    with pytest.raises(TamperedLaunchData):
        verify_launch_data(VECTOR + "&isAdmin=true", SECRET, now=ISSUED)


@pytest.mark.parametrize(
    "signed",
    ["", "not a query", VECTOR.replace("&userPhone=%2B79005556677", ""), VECTOR + "&shopId=42"],
)
def test_missing_or_malformed_is_refused(signed: str) -> None:
    with pytest.raises(InvalidLaunchData):
        verify_launch_data(signed, SECRET, now=ISSUED)


def test_stale_and_future_launch_data_are_refused() -> None:
    assert verify_launch_data(VECTOR, SECRET, now=ISSUED + 3600).shop_id == 42
    with pytest.raises(StaleLaunchData):
        verify_launch_data(VECTOR, SECRET, now=ISSUED + 3601)
    with pytest.raises(StaleLaunchData):
        verify_launch_data(VECTOR, SECRET, now=ISSUED + 601, max_age=600)
    assert verify_launch_data(VECTOR, SECRET, now=ISSUED - 60).shop_id == 42
    with pytest.raises(StaleLaunchData):
        verify_launch_data(VECTOR, SECRET, now=ISSUED - 61)
    moment = dt.datetime.fromtimestamp(ISSUED + 7200, dt.UTC)
    with pytest.raises(StaleLaunchData):
        verify_launch_data(VECTOR, SECRET, now=moment)


def test_during_a_rotation_either_secret_verifies() -> None:
    new = "a" * 64
    signed = _resign(VECTOR, {"hash": new, "previousHash": SECRET})

    assert verify_launch_data(signed, SECRET, now=ISSUED).shop_id == 42
    assert verify_launch_data(signed, new, now=ISSUED).shop_id == 42
    assert verify_launch_data(signed, ["b" * 64, new], now=ISSUED).shop_id == 42
    with pytest.raises(TamperedLaunchData):
        verify_launch_data(signed, "b" * 64, now=ISSUED)


def test_order_mode_has_no_container() -> None:
    signed = _resign(
        "&".join(
            f"{k}={quote(v, safe='')}"
            for k, v in parse_qsl(VECTOR)
            if k not in ("orderContainerId", "hash")
        ),
        {"hash": SECRET},
    )
    assert verify_launch_data(signed, SECRET, now=ISSUED).order_container_id is None


def test_a_secret_is_required() -> None:
    with pytest.raises(ValueError):
        verify_launch_data(VECTOR, "", now=ISSUED)
    with pytest.raises(ValueError):
        verify_launch_data(VECTOR, [], now=ISSUED)
