"""marketbox.miniapp_host.protocol: init data shape, metadata search, JS/Python constant sync."""

from __future__ import annotations

import copy
import json
import math
import re
from decimal import Decimal
from pathlib import Path

import pytest

from marketbox.miniapp_host import protocol
from marketbox.miniapp_host.protocol import (
    ChildAction,
    HostAction,
    MiniAppMode,
    PaymentResult,
    build_init_data,
    get_meta_data_values,
    match_meta_data_values,
)

STATIC = Path(protocol.__file__).parent / "static"

CONTAINER_ID = "0190f0a1-0000-7000-8000-0000000000c1"

# payments.md §9.1, the single-segment flight example.
FLIGHT = {
    "@type": "ReservationPackage",
    "subReservation": [
        {
            "@type": "FlightReservation",
            "reservationId": "ABC123",
            "underName": {"@type": "Person", "name": "Petr Petrov"},
            "reservationFor": {
                "@type": "Flight",
                "flightNumber": "SU1234",
                "provider": {"@type": "Airline", "name": "Aeroflot", "iataCode": "SU"},
                "departureAirport": {
                    "@type": "Airport",
                    "name": "Moscow Sheremetyevo",
                    "iataCode": "SVO",
                },
                "departureTime": "2024-08-01T10:00:00+03:00",
                "arrivalAirport": {
                    "@type": "Airport",
                    "name": "Saint Petersburg Pulkovo",
                    "iataCode": "LED",
                },
                "arrivalTime": "2024-08-01T11:30:00+03:00",
            },
        }
    ],
}


def _wire_block(filename: str) -> dict[str, object]:
    text = (STATIC / filename).read_text(encoding="utf-8")
    match = re.search(
        r"/\* protocol:begin \*/\s*const WIRE = (\{.*?\});\s*/\* protocol:end \*/", text, re.S
    )
    assert match, f"no protocol block in {filename}"
    return json.loads(match.group(1))


# --- init data ----------


def test_init_data_order_mode() -> None:
    data = build_init_data(
        shop_id=42,
        user_name="Anna Smirnova",
        user_email="anna@example.org",
        user_phone="+79005556677",
        locale="ru",
        mode="order",
    )

    assert data == {
        "public": {
            "shopId": 42,
            "userEmail": "anna@example.org",
            "userName": "Anna Smirnova",
            "userPhone": "+79005556677",
            "locale": "ru",
            "minappType": "order",
            "fullHeight": True,
        },
        "private": {"metaData": []},
    }
    assert "orderContainerId" not in data["public"]


def test_init_data_suborder_mode_matches_the_spec_example() -> None:
    meta = [FLIGHT]

    data = build_init_data(
        shop_id=42,
        user_name="Anna Smirnova",
        user_email="anna@example.org",
        user_phone="+79005556677",
        locale="ru",
        mode=MiniAppMode.SUBORDER,
        order_container_id=CONTAINER_ID,
        meta_data=meta,
    )

    assert list(data["public"]) == [
        "shopId",
        "userEmail",
        "userName",
        "userPhone",
        "locale",
        "minappType",
        "orderContainerId",
        "fullHeight",
    ]
    assert data["public"]["minappType"] == "suborder"
    assert data["public"]["orderContainerId"] == CONTAINER_ID
    assert data["public"]["fullHeight"] is False
    assert data["private"] == {"metaData": [FLIGHT]}
    assert data["private"]["metaData"] is not meta
    json.dumps(data)  # plain JSON, ready to be embedded in the page


def test_init_data_unknown_buyer_fields_are_empty_strings() -> None:
    data = build_init_data(
        shop_id=1, user_name=None, user_email=None, user_phone="", locale="en", mode="order"
    )

    assert data["public"]["userName"] == ""
    assert data["public"]["userEmail"] == ""
    assert data["public"]["userPhone"] == ""


@pytest.mark.parametrize(
    ("mode", "container_id", "error"),
    [
        ("suborder", None, ValueError),
        ("order", CONTAINER_ID, ValueError),
        ("popup", None, ValueError),
    ],
)
def test_init_data_rejects_inconsistent_arguments(
    mode: str, container_id: str | None, error: type[Exception]
) -> None:
    with pytest.raises(error):
        build_init_data(
            shop_id=1,
            user_name="",
            user_email="",
            user_phone="",
            locale="ru",
            mode=mode,
            order_container_id=container_id,
        )


def test_init_data_shop_id_must_be_an_int() -> None:
    with pytest.raises(TypeError):
        build_init_data(
            shop_id=True, user_name="", user_email="", user_phone="", locale="ru", mode="order"
        )


# --- matchMetaDataValues ----------


@pytest.mark.parametrize(
    ("key", "values", "expected"),
    [
        ("iataCode", ["VKO", "DME", "SVO"], True),
        ("iataCode", ["LED"], True),  # the arrival airport of this example
        ("iataCode", ["AER"], False),
        ("IATACODE", ["SVO"], False),  # keys are case-sensitive
        ("flightNumber", ["SU1234"], True),
        ("departureAirport", [{"iataCode": "SVO"}], False),  # deep-equal, not a subset
        (
            "departureAirport",
            [{"iataCode": "SVO", "name": "Moscow Sheremetyevo", "@type": "Airport"}],
            True,  # key order does not matter
        ),
        ("@type", ["Person"], True),
        ("iataCode", [], False),
    ],
)
def test_match_meta_data_values_on_the_flight_example(
    key: str, values: list[object], expected: bool
) -> None:
    assert match_meta_data_values([FLIGHT], key, values) is expected


def test_match_is_false_for_led_when_the_trip_does_not_touch_it() -> None:
    meta = copy.deepcopy(FLIGHT)
    meta["subReservation"][0]["reservationFor"]["arrivalAirport"]["iataCode"] = "AER"  # type: ignore[index]

    assert match_meta_data_values([meta], "iataCode", ["LED"]) is False
    assert match_meta_data_values([meta], "iataCode", ["VKO", "DME", "SVO"]) is True


def test_aeroexpress_emulator_metadata() -> None:
    assert match_meta_data_values([{"iataCode": "VKO"}], "iataCode", ["VKO", "DME", "SVO"])


@pytest.mark.parametrize(
    ("stored", "wanted", "expected"),
    [
        ("1", 1, False),
        (1, "1", False),
        (True, 1, False),
        (1, True, False),
        (0, False, False),
        (None, False, False),
        (None, None, True),
        (1, 1.0, True),
        (1, Decimal("1"), True),
        (math.nan, math.nan, True),
        ([1, 2], [1, 2], True),
        ([1, 2], [2, 1], False),
        ([1, 2], (1, 2), True),
        ([], {}, False),
        ({"0": "a"}, ["a"], False),
        ({"a": 1, "b": [1, {"c": None}]}, {"b": [1, {"c": None}], "a": 1}, True),
        ({"a": 1}, {"a": 1, "b": None}, False),
    ],
)
def test_values_are_compared_like_lodash_is_equal(
    stored: object, wanted: object, expected: bool
) -> None:
    assert match_meta_data_values([{"k": stored}], "k", [wanted]) is expected


def test_arrays_are_traversed_by_index() -> None:
    meta = [{"codes": ["SVO", "LED"]}]

    assert match_meta_data_values(meta, "1", ["LED"]) is True
    assert match_meta_data_values(meta, "0", [{"codes": ["SVO", "LED"]}]) is True
    assert get_meta_data_values(meta, "1") == ["LED"]


def test_search_continues_into_a_value_whose_key_matched() -> None:
    meta = [{"a": {"a": 2}}]

    assert match_meta_data_values(meta, "a", [2]) is True
    assert get_meta_data_values(meta, "a") == [{"a": 2}, 2]


def test_non_container_metadata_finds_nothing() -> None:
    assert match_meta_data_values("iataCode", "iataCode", ["iataCode"]) is False
    assert match_meta_data_values(None, "x", [None]) is False
    assert get_meta_data_values("abc", "0") == []


# --- getMetaDataValues ----------


def test_get_meta_data_values_on_the_flight_example() -> None:
    assert get_meta_data_values([FLIGHT], ["flightNumber", "departureTime"]) == [
        "SU1234",
        "2024-08-01T10:00:00+03:00",
    ]


def test_get_meta_data_values_is_pre_order_then_key_by_key() -> None:
    assert get_meta_data_values([FLIGHT], "iataCode") == ["SU", "SVO", "LED"]
    assert get_meta_data_values([FLIGHT], ["iataCode", "flightNumber"]) == [
        "SU",
        "SVO",
        "LED",
        "SU1234",
    ]


def test_get_meta_data_values_removes_deep_duplicates_keeping_the_first() -> None:
    meta = [
        {"seat": {"row": 1, "letter": "A"}, "n": 1},
        {"seat": {"letter": "A", "row": 1}, "n": 1.0},
        {"seat": {"row": 2, "letter": "A"}, "n": "1"},
        {"n": True},
    ]

    assert get_meta_data_values(meta, "seat") == [
        {"row": 1, "letter": "A"},
        {"row": 2, "letter": "A"},
    ]
    assert get_meta_data_values(meta, "n") == [1, "1", True]


def test_get_meta_data_values_follows_javascript_key_order() -> None:
    # for…in visits integer-like keys first (ascending), then the rest in insertion order.
    meta = [
        {"b": {"x": "b"}, "10": {"x": "10"}, "2": {"x": "2"}, "a": {"x": "a"}, "01": {"x": "01"}}
    ]

    assert get_meta_data_values(meta, "x") == ["2", "10", "b", "a", "01"]


def test_get_meta_data_values_accepts_a_tuple_of_keys() -> None:
    assert get_meta_data_values([FLIGHT], ("reservationId",)) == ["ABC123"]


# --- the JS mirrors ----------


@pytest.mark.parametrize("filename", ["bridge.js", "minapp-client.js"])
def test_js_wire_constants_match_python(filename: str) -> None:
    wire = _wire_block(filename)

    assert wire["version"] == protocol.PROTOCOL_VERSION
    assert wire["childToHost"] == {a.name: a.value for a in ChildAction}
    assert wire["hostToChild"] == {a.name: a.value for a in HostAction}
    assert wire["paymentResults"] == [s.value for s in PaymentResult]


def test_bridge_ui_constants_match_python() -> None:
    wire = _wire_block("bridge.js")

    assert wire["heightMin"] == protocol.HEIGHT_MIN
    assert wire["heightMax"] == protocol.HEIGHT_MAX
    assert wire["initTimeoutMs"] == protocol.INIT_TIMEOUT_MS
    assert wire["defaultErrorText"] == dict(protocol.DEFAULT_ERROR_TEXT)
