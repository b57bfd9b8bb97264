"""INN, KPP and OGRN checks (marketbox.requisites), shared by the payer form, the company
lookup and the guarantee actions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketbox import requisites

PROPERTIES = settings(derandomize=True, max_examples=300, database=None, deadline=None)


@pytest.mark.parametrize(
    "inn",
    [
        "1234567894",
        "7804445210",  # the docs' notification example
        "0001047185",  # the sandbox fixture (region 00)
        "123456789047",  # 12 digits
        "000503194730",
    ],
)
def test_valid_inns(inn: str) -> None:
    assert requisites.is_valid_inn(inn)
    assert requisites.inn_problem(inn) is None


@pytest.mark.parametrize(
    ("inn", "problem"),
    [
        ("1234567895", "check digits"),
        ("123456789048", "check digits"),
        ("123456789147", "check digits"),  # the first of the two 12-digit check digits off
        ("123456789", "10 digits"),
        ("12345678941", "10 digits"),
        ("", "ASCII digits"),
        ("12345678 4", "ASCII digits"),
        ("١٢٣٤٥٦٧٨٩٤", "ASCII digits"),
        ("１２３４５６７８９４", "ASCII digits"),
        ("+234567894", "ASCII digits"),
    ],
)
def test_invalid_inns_say_why(inn: str, problem: str) -> None:
    assert not requisites.is_valid_inn(inn)
    assert problem in (requisites.inn_problem(inn) or "")


@PROPERTIES
@given(st.text(max_size=14))
def test_any_text_is_judged_without_an_exception(text: str) -> None:
    assert requisites.is_valid_inn(text) == (requisites.inn_problem(text) is None)


@PROPERTIES
@given(st.from_regex(r"[0-9]{9}", fullmatch=True))
def test_exactly_one_check_digit_completes_ten_digits(prefix: str) -> None:
    assert sum(requisites.is_valid_inn(prefix + d) for d in "0123456789") == 1


@pytest.mark.parametrize(
    ("kpp", "valid"),
    [
        ("770201001", True),
        ("7702AB001", True),
        ("7702ab001", False),
        ("77020100", False),
        ("770201001\n", False),
        ("٧٧٠٢٠١٠٠١", False),
    ],
)
def test_kpp(kpp: str, valid: bool) -> None:
    assert requisites.is_valid_kpp(kpp) is valid


@pytest.mark.parametrize(
    ("ogrn", "valid"),
    [
        ("1230045678906", True),  # 13 digits, a company
        ("1230045678905", False),
        ("323001234567896", True),  # 15 digits, a sole trader
        ("323001234567897", False),
        ("12300456789060", False),
        ("", False),
    ],
)
def test_ogrn(ogrn: str, valid: bool) -> None:
    assert requisites.is_valid_ogrn(ogrn) is valid
