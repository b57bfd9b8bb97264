"""Russian company requisites and their check digits: INN, KPP, OGRN.

One place for the checks real clients make before calling (spec/api.md §8.1 "Customer"):
the payer form, the company lookup and the guarantee actions use the same ones.

* INN (ИНН): 10 ASCII digits for a company, 12 for a person or sole trader; each check digit
  is the weighted sum of the digits before it, mod 11, mod 10.
* KPP (КПП): 4 digits, 2 digits or capital Latin letters, 3 digits; companies only.
* OGRN (ОГРН): 13 digits for a company, the last being (first 12 as a number mod 11) mod 10;
  OGRNIP (ОГРНИП): 15 digits for a sole trader, (first 14 mod 13) mod 10.

Digits are ASCII only everywhere: `\\d` and ``str.isdigit()`` also take "٣", "１" or "²".
"""

from __future__ import annotations

import re

from marketbox import parsing

INN_COMPANY_LENGTH = 10
INN_PERSON_LENGTH = 12

_KPP_RE = re.compile(r"[0-9]{4}[0-9A-Z]{2}[0-9]{3}")
_INN10_WEIGHTS = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12_WEIGHTS_1 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12_WEIGHTS_2 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)


def is_valid_inn(value: str) -> bool:
    """10-digit (company) or 12-digit (person, sole trader) INN with its check digits."""
    if not isinstance(value, str) or not parsing.is_ascii_digits(value):
        return False
    if len(value) not in (INN_COMPANY_LENGTH, INN_PERSON_LENGTH):
        return False
    digits = [int(c) for c in value]

    def check(weights: tuple[int, ...]) -> int:
        return sum(w * d for w, d in zip(weights, digits, strict=False)) % 11 % 10

    if len(digits) == INN_COMPANY_LENGTH:
        return check(_INN10_WEIGHTS) == digits[9]
    return check(_INN12_WEIGHTS_1) == digits[10] and check(_INN12_WEIGHTS_2) == digits[11]


def inn_problem(value: str) -> str | None:
    """Why `value` is not an INN, in one sentence for an API client; None when it is one."""
    if not isinstance(value, str) or not parsing.is_ascii_digits(value):
        return "an INN is ASCII digits only"
    if len(value) not in (INN_COMPANY_LENGTH, INN_PERSON_LENGTH):
        return "an INN has 10 digits (company) or 12 digits (sole trader)"
    if not is_valid_inn(value):
        return "the INN check digits do not match"
    return None


def is_valid_kpp(value: str) -> bool:
    return isinstance(value, str) and _KPP_RE.fullmatch(value) is not None


def is_valid_ogrn(value: str) -> bool:
    """OGRN (13 digits, a company) or OGRNIP (15 digits, a sole trader) with its check digit."""
    if not isinstance(value, str) or not parsing.is_ascii_digits(value):
        return False
    if len(value) == 13:
        return int(value[:12]) % 11 % 10 == int(value[12])
    if len(value) == 15:
        return int(value[:14]) % 13 % 10 == int(value[14])
    return False
