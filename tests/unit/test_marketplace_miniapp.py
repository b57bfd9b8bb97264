"""The miniApp extension (marketplace/miniapp.py), the buyer cookie (session.py), page texts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from marketbox.errors import ValidationFailed
from marketbox.marketplace import host, miniapp, schemas, session, texts

FLIGHT_SVO_LED: list[Any] = [
    {
        "@type": "ReservationPackage",
        "subReservation": [
            {
                "@type": "FlightReservation",
                "reservationFor": {
                    "@type": "Flight",
                    "flightNumber": "SU1234",
                    "departureAirport": {"@type": "Airport", "iataCode": "SVO"},
                    "arrivalAirport": {"@type": "Airport", "iataCode": "LED"},
                },
            }
        ],
    }
]
FLIGHT_KZN_AER: list[Any] = [
    {"departureAirport": {"iataCode": "KZN"}, "arrivalAirport": {"iataCode": "AER"}}
]


@pytest.mark.parametrize(
    ("rule", "meta", "expected"),
    [
        (None, [], True),
        ({"key": "iataCode", "values": ["SVO", "VKO", "DME"]}, FLIGHT_SVO_LED, True),
        ({"key": "iataCode", "values": ["SVO", "VKO", "DME"]}, FLIGHT_KZN_AER, False),
        ({"key": "iataCode"}, FLIGHT_KZN_AER, True),
        ({"key": "iataCode"}, [], False),
        (
            {"any": [{"key": "iataCode", "values": ["VKO"]}, {"key": "flightNumber"}]},
            FLIGHT_SVO_LED,
            True,
        ),
        (
            {
                "all": [
                    {"key": "iataCode", "values": ["SVO"]},
                    {"key": "iataCode", "values": ["AER"]},
                ]
            },
            FLIGHT_SVO_LED,
            False,
        ),
        ({"not": {"key": "iataCode", "values": ["LED"]}}, FLIGHT_SVO_LED, False),
        ({"not": {"key": "iataCode", "values": ["LED"]}}, FLIGHT_KZN_AER, True),
        # deep equality as in the SDK: "1" is not 1, objects compare structurally
        ({"key": "n", "values": ["1"]}, [{"n": 1}], False),
        ({"key": "n", "values": [Decimal("1.0")]}, [{"n": 1}], True),
        ({"key": "departureAirport", "values": [{"iataCode": "KZN"}]}, FLIGHT_KZN_AER, True),
    ],
)
def test_rule_matches(rule: Any, meta: list[Any], expected: bool) -> None:
    assert miniapp.rule_matches(rule, meta) is expected


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ([], "miniApp.addonRule"),
        ({"any": []}, "miniApp.addonRule.any"),
        ({"any": [{"key": ""}]}, "miniApp.addonRule.any[0].key"),
        ({"all": [{"key": "a", "values": []}]}, "miniApp.addonRule.all[0].values"),
        ({"key": "a", "values": ["x"], "extra": 1}, "miniApp.addonRule"),
        ({"not": {"not": {"not": {"not": {"not": {"not": {"key": "a"}}}}}}}, None),
    ],
)
def test_bad_rules_name_the_field(rule: Any, field: str | None) -> None:
    errors = miniapp.check_rule(rule, "miniApp.addonRule")
    assert errors
    if field is not None:
        assert errors[0].name == field


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://shop.example", "https://shop.example"),
        ("http://127.0.0.1:8001", "http://127.0.0.1:8001"),
        ("https://Shop.Example", "https://shop.example"),
        ("https://shop.example:443", "https://shop.example"),
        ("https://shop.example/", "https://shop.example"),
        ("https://[::1]:8443", "https://[::1]:8443"),
        ("https://shop.example/app", None),
        ("https://shop.example?x=1", None),
        ("https://user@shop.example", None),
        ("ftp://shop.example", None),
        ("shop.example", None),
    ],
)
def test_canonical_origin(value: str, expected: str | None) -> None:
    assert miniapp.canonical_origin(value) == expected


def clean(require_https: bool = False, **fields: Any) -> dict[str, Any]:
    return miniapp.clean_mini_app(schemas.MiniApp(**fields), require_https=require_https)


def test_origins_default_to_the_url_origin_and_modes_to_order() -> None:
    assert clean(url="http://127.0.0.1:8001/app?x=1") == {
        "url": "http://127.0.0.1:8001/app?x=1",
        "origins": ["http://127.0.0.1:8001"],
        "modes": ["order"],
        "addonRule": None,
    }


def test_origins_must_be_written_exactly() -> None:
    with pytest.raises(ValidationFailed) as caught:
        clean(url="https://a.example/app", origins=["https://A.example:443", "https://a.example/x"])
    names = [(f.name, f.message) for f in caught.value.fields]
    assert names[0] == ("miniApp.origins[0]", "write it exactly as https://a.example")
    assert names[1][0] == "miniApp.origins[1]"


def test_production_requires_https() -> None:
    with pytest.raises(ValidationFailed) as caught:
        clean(require_https=True, url="http://a.example/app", origins=["http://a.example"])
    assert [f.name for f in caught.value.fields] == ["miniApp.url", "miniApp.origins[0]"]
    assert clean(require_https=True, url="https://a.example/app")["origins"] == [
        "https://a.example"
    ]


def test_addon_rule_needs_the_suborder_mode() -> None:
    with pytest.raises(ValidationFailed) as caught:
        clean(url="https://a.example", addonRule={"key": "iataCode", "values": ["SVO"]})
    assert caught.value.fields[0].name == "miniApp.addonRule"


def test_frame_url_allowed_only_on_the_mini_app_origins() -> None:
    app = clean(url="https://a.example/app", origins=["https://a.example", "https://b.example"])
    assert miniapp.frame_url_allowed("https://b.example/success?order=1", app)
    assert not miniapp.frame_url_allowed("https://evil.example/success", app)
    assert not miniapp.frame_url_allowed("javascript:alert(1)", app)


def test_buyer_cookie_round_trip_and_tampering() -> None:
    buyer = session.Buyer(name="Анна Смирнова", email="anna@example.org", phone="+79005556677")
    value = session.encode(buyer, secret="s1", now=1000)
    assert session.decode(value, secret="s1", now=1000 + 60) == buyer
    assert session.decode(value, secret="s2", now=1060) is None
    assert session.decode(value, secret="s1", now=1000 + session.MAX_AGE_SECONDS + 1) is None
    body, issued, signature = value.split(".")
    assert session.decode(f"{body}.{int(issued) + 1}.{signature}", secret="s1", now=1060) is None
    assert session.decode("garbage", secret="s1", now=1060) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("8 (900) 555-66-77", "+79005556677"),
        ("+7 900 555 66 77", "+79005556677"),
        ("9005556677", "+79005556677"),
        ("+44 20 7946 0958", "+442079460958"),
        ("12", None),
    ],
)
def test_normalize_phone(raw: str, expected: str | None) -> None:
    assert session.normalize_phone(raw) == expected


def test_clean_reports_bad_fields_by_key() -> None:
    buyer, errors = session.clean("  Анна   С. ", "not-an-email", "12")
    assert buyer.name == "Анна С."
    assert errors == {"email": "buyer.error_email", "phone": "buyer.error_phone"}


def test_script_json_cannot_close_the_script_element() -> None:
    text = str(host.script_json({"t": "</script><!-- & \u2028", "n": Decimal("0.10")}))
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert '"n":0.10' in text


def test_page_texts_come_from_the_catalogue_in_the_page_language() -> None:
    assert texts.mt("offers.title", "ru") == "Специальные предложения"
    assert texts.mt("offers.title", "en") == "Special offers"
    assert texts.mt("offers.where", "en", shop="Кофейни") == "At: Кофейни"
