"""Property tests of the strict parsers (marketbox.parsing) and the list-query parser.

Every parser takes any text and either answers an in-range value or raises ParseError (a
ValueError): never another exception, never a value outside the documented range. Hypothesis
runs derandomized and bounded by count, so CI sees the same examples every time.
"""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from marketbox import jsonutil, money, parsing
from marketbox.errors import ValidationFailed
from marketbox.web import filters

PROPERTIES = settings(
    derandomize=True,
    max_examples=300,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Text that looks like numbers and dates, with the characters attackers use around them.
NUMBERISH = st.lists(
    st.sampled_from(
        [*string.digits, *"+-.eE:TZz ", "²", "٣", "１", "\x00", "NaN", "sNaN", "Infinity"]
    ),
    max_size=20,
).map("".join)
ANY_TEXT = st.one_of(st.text(max_size=40), NUMBERISH)
UNICODE_DIGITS = ["²", "٣", "１", "߂", "৪", "᠕"]


# --- integers ----------------------------------------------------------------------------------


@PROPERTIES
@given(ANY_TEXT)
@example("99999999999999999999")
@example("²")
@example("１２")
@example(" 7 ")
def test_parse_int_answers_an_in_range_int_or_parse_error(text: str) -> None:
    try:
        value = parsing.parse_int(text, minimum=1, maximum=parsing.INT32_MAX)
    except parsing.ParseError:
        return
    assert type(value) is int
    assert 1 <= value <= parsing.INT32_MAX
    assert text.strip().lstrip("+").lstrip("0") == str(value)


@PROPERTIES
@given(st.integers(min_value=-parsing.INT64_MAX, max_value=parsing.INT64_MAX))
def test_parse_int_reads_back_what_str_wrote(number: int) -> None:
    assert parsing.parse_int(str(number)) == number


@pytest.mark.parametrize("digit", UNICODE_DIGITS)
def test_digits_are_ascii_only(digit: str) -> None:
    assert digit.isdigit()  # what Python's own check would let through
    assert not parsing.is_ascii_digits(f"12{digit}")
    with pytest.raises(parsing.ParseError):
        parsing.parse_int(f"1{digit}")
    with pytest.raises(parsing.ParseError):
        parsing.parse_decimal(f"1{digit}.5")


@PROPERTIES
@given(st.text(max_size=30))
def test_is_ascii_digits_means_only_0_to_9(text: str) -> None:
    assert parsing.is_ascii_digits(text) == (text != "" and all(c in "0123456789" for c in text))


@PROPERTIES
@given(
    st.one_of(
        st.integers(),
        st.decimals(allow_nan=True, allow_infinity=True),
        st.text(max_size=25),
        st.booleans(),
        st.floats(),
        st.none(),
    )
)
def test_int_input_takes_only_integers_in_range(value: object) -> None:
    try:
        answer = parsing.int_input(value, minimum=1, maximum=parsing.INT32_MAX)
    except parsing.ParseError:
        return
    assert type(answer) is int
    assert 1 <= answer <= parsing.INT32_MAX
    assert not isinstance(value, bool | float)


# --- money -------------------------------------------------------------------------------------


@PROPERTIES
@given(ANY_TEXT)
@example("1e400")
@example("99999999999999999999999")
@example("sNaN")
@example("NaN")
@example("Infinity")
@example("-1e999")
@example("1e-400")
def test_parse_decimal_answers_a_finite_in_range_decimal_or_parse_error(text: str) -> None:
    try:
        value = parsing.parse_decimal(text)
    except parsing.ParseError:
        return
    assert value.is_finite()
    assert -parsing.MAX_AMOUNT <= value <= parsing.MAX_AMOUNT
    # Whatever came through can be rounded to cents and stored in minor units.
    assert abs(money.to_minor(money.round2(value))) < 2**63


@PROPERTIES
@given(st.decimals(min_value=-parsing.MAX_AMOUNT, max_value=parsing.MAX_AMOUNT, places=2))
def test_money_round_trips_through_text_json_and_minor_units(amount: Decimal) -> None:
    assert parsing.parse_decimal(str(amount)) == amount
    assert jsonutil.loads(jsonutil.dumps({"amount": amount}))["amount"] == amount
    assert money.from_minor(money.to_minor(amount)) == amount
    assert parsing.decimal_input(jsonutil.loads(jsonutil.dumps(amount))) == amount


@PROPERTIES
@given(
    st.one_of(
        st.decimals(allow_nan=True, allow_infinity=True),
        st.integers(),
        st.floats(),
        st.booleans(),
        ANY_TEXT,
    )
)
def test_decimal_input_refuses_float_bool_and_out_of_range(value: object) -> None:
    try:
        answer = parsing.decimal_input(value)
    except parsing.ParseError:
        return
    assert isinstance(answer, Decimal) and answer.is_finite()
    assert abs(answer) <= parsing.MAX_AMOUNT
    assert not isinstance(value, bool | float)


# --- dates -------------------------------------------------------------------------------------


DATEISH = st.one_of(
    st.text(max_size=40),
    st.datetimes(
        timezones=st.one_of(
            st.none(),
            st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23)).map(
                timezone
            ),
        )
    ).map(lambda d: d.isoformat()),
)


@PROPERTIES
@given(DATEISH)
@example("0001-01-01T00:00:00+03:00")
@example("9999-12-31T23:59:59-05:00")
@example("9999-12-31T23:00Z")
@example("２０２４-01-01T00:00:00Z")
@example("2024-07-26T00:00:00+00:00")
def test_parse_datetime_answers_utc_in_range_or_parse_error(text: str) -> None:
    try:
        value = parsing.parse_datetime(text)
    except parsing.ParseError:
        return
    assert value.utcoffset() == timedelta(0)
    assert parsing.DATETIME_MIN <= value <= parsing.DATETIME_MAX
    # In range means printable in any time zone a page may use.
    for hours in (-23, 3, 23):
        value.astimezone(timezone(timedelta(hours=hours))).isoformat()


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00+03:00",
        "9999-12-31T23:59:59-05:00",
        "9999-12-31T23:00Z",
        "0001-01-01T00:00:00Z",
        "2024-07-26T00:00:00+00:00\x00",
        "2024-07-2٦T00:00:00Z",
    ],
)
def test_dates_at_the_ends_of_the_calendar_are_refused(text: str) -> None:
    with pytest.raises(parsing.ParseError):
        parsing.parse_datetime(text)


def test_offsets_are_moved_to_utc() -> None:
    assert parsing.parse_datetime("2024-07-26T03:00:00+03:00") == datetime(2024, 7, 26, tzinfo=UTC)
    assert parsing.parse_datetime("2024-07-26T00:00:00") == datetime(2024, 7, 26, tzinfo=UTC)


@pytest.mark.parametrize(
    ("timezone_type", "zone", "expected"),
    [
        (1, "+03:00", datetime(2030, 1, 1, 9, tzinfo=UTC)),
        (1, "-0530", datetime(2030, 1, 1, 17, 30, tzinfo=UTC)),
        (2, "MSK", datetime(2030, 1, 1, 9, tzinfo=UTC)),
        (2, "edt", datetime(2030, 1, 1, 16, tzinfo=UTC)),
        (3, "Europe/Moscow", datetime(2030, 1, 1, 9, tzinfo=UTC)),
        (3, "America/New_York", datetime(2030, 1, 1, 17, tzinfo=UTC)),  # EST in January
        (3, "UTC", datetime(2030, 1, 1, 12, tzinfo=UTC)),
    ],
)
def test_a_php_datetime_is_its_wall_time_in_its_zone(
    timezone_type: int, zone: str, expected: datetime
) -> None:
    value = {"date": "2030-01-01 12:00:00.000000", "timezone_type": timezone_type, "timezone": zone}
    assert parsing.parse_php_datetime(value) == expected


@PROPERTIES
@given(
    st.fixed_dictionaries(
        {
            "date": st.one_of(
                DATEISH,
                st.datetimes().map(
                    lambda d: f"{d.year:04d}-{d:%m-%d %H:%M:%S}.{d.microsecond:06d}"
                ),
            ),
            "timezone_type": st.one_of(st.integers(-1, 4), st.booleans(), st.none(), st.text()),
            "timezone": st.one_of(
                st.sampled_from(["UTC", "+03:00", "MSK", "../../etc/passwd", "Europe", "/", ""]),
                st.text(max_size=40),
            ),
        }
    )
)
def test_parse_php_datetime_answers_utc_in_range_or_parse_error(value: dict) -> None:
    try:
        moment = parsing.parse_php_datetime(value)
    except parsing.ParseError:
        return
    assert moment.utcoffset() == timedelta(0)
    assert parsing.DATETIME_MIN <= moment <= parsing.DATETIME_MAX


# --- list queries ------------------------------------------------------------------------------

FIELDS: dict[str, filters.Parser] = {
    "createdAt": filters.parse_datetime,
    "amount": filters.parse_decimal,
    "shopId": filters.parse_int,
    "status": filters.parse_str,
}
QUERY_VALUE = st.one_of(ANY_TEXT, st.sampled_from(["1e400", "99999999999999999999", "²", "%00"]))


@PROPERTIES
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "page",
                    "pageSize",
                    "_page",
                    "createdAt[_ge]",
                    "amount[lt]",
                    "shopId[]",
                    "shopId[²]",
                    "status",
                    "_order[createdAt]",
                    "unknown",
                ]
            ),
            QUERY_VALUE,
        ),
        max_size=5,
    )
)
def test_list_query_answers_in_range_values_or_validation_failed(
    pairs: list[tuple[str, str]],
) -> None:
    from urllib.parse import urlencode

    try:
        query = filters.parse_list_query(urlencode(pairs), FIELDS, {"createdAt"})
    except ValidationFailed as exc:
        assert exc.fields
        return
    assert 1 <= query.page <= filters.MAX_PAGE
    assert 1 <= query.page_size <= filters.MAX_PAGE_SIZE
    assert query.offset < 2**31
    for condition in query.conditions:
        for value in condition.values:
            if condition.field == "shopId":
                assert 0 <= abs(value) <= parsing.INT32_MAX
            elif condition.field == "amount":
                assert value.is_finite() and abs(value) <= parsing.MAX_AMOUNT
            elif condition.field == "createdAt":
                assert parsing.DATETIME_MIN <= value <= parsing.DATETIME_MAX
            else:
                assert "\x00" not in value


# --- JSON documents ----------------------------------------------------------------------------


@PROPERTIES
@given(st.integers(min_value=0, max_value=6000))
def test_nesting_depth_counts_levels_without_recursion(depth: int) -> None:
    document = "[" * depth + "]" * depth
    assert jsonutil.nesting_depth(document) == depth
    assert jsonutil.nesting_depth('{"a": "[[[[", "b": [1, "]]"]}') == 2


def test_a_deep_document_is_refused_before_parsing() -> None:
    with pytest.raises(jsonutil.JSONDecodeError):
        jsonutil.loads("[" * 5000 + "]" * 5000, max_depth=jsonutil.MAX_DEPTH)
    assert jsonutil.loads("[" * 10 + "]" * 10, max_depth=jsonutil.MAX_DEPTH) == [[[[[[[[[[]]]]]]]]]]


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({"a": "x\x00"}, "a"),
        ({"customer": {"name": "\x00"}}, "customer.name"),
        ({"items": [{"sku": "ok"}, {"sku": "bad\ud800"}]}, "items[1].sku"),
        ({"k\x00": 1}, "k\x00"),
        ("\x00", "body"),
        ({"fine": ["text", 1, None, {"x": "y"}]}, None),
    ],
)
def test_unstorable_text_names_the_first_bad_string(document: object, path: str | None) -> None:
    assert parsing.unstorable_text(document) == path


_JSON_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=8)
_DOCUMENTS = st.recursive(
    st.none() | st.booleans() | st.integers() | _JSON_TEXT,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(_JSON_TEXT, children, max_size=3)
    ),
    max_leaves=8,
)


@PROPERTIES
@given(_DOCUMENTS, st.sampled_from(["escaped", "utf-8", "utf-16"]))
@example({"a": "\ud800"}, "utf-8")
@example({"a": "x\x00"}, "utf-8")
@example(["\udfff"], "utf-16")
def test_the_unstorable_text_shortcut_never_skips_a_bad_string(document: object, form: str) -> None:
    """read_json skips the walk when `may_hold_unstorable` says no: it must never say no to a
    body whose parsed document holds a NUL or a lone surrogate, however the body is encoded."""
    if form == "escaped":
        raw = json.dumps(document).encode()
    else:
        text = json.dumps(document, ensure_ascii=False)
        raw = text.encode(form, "surrogatepass")
    if parsing.unstorable_text(jsonutil.loads(raw)) is not None:
        assert parsing.may_hold_unstorable(raw)


def test_a_surrogate_sent_as_raw_utf8_bytes_is_still_found() -> None:
    raw = b'{"name": "\xed\xa0\x80"}'
    assert parsing.may_hold_unstorable(raw)
    assert parsing.unstorable_text(jsonutil.loads(raw)) == "name"
    assert not parsing.may_hold_unstorable('{"name": "Кофейня"}'.encode())
