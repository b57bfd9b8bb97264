"""The 54-FZ dictionaries a receipt record uses, and the API's string forms mapped onto them
(docs/receipts.md "Tags"). Pure functions: no database, no web."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marketbox import money

# Tag 1054, the calculation sign of the whole receipt.
INCOME = "income"  # приход
INCOME_RETURN = "income_return"  # возврат прихода
CALCULATION_SIGN = {INCOME: 1, INCOME_RETURN: 2}

# Tag 1214, the payment method sign of each line; the API's `paymentType` names four of them.
FULL_PREPAYMENT = 1  # предоплата 100 %
PREPAYMENT = 2  # предоплата (partial)
ADVANCE = 3  # аванс
FULL_SETTLEMENT = 4  # полный расчёт
PAYMENT_METHOD_SIGN = {
    "full_prepayment": FULL_PREPAYMENT,
    "prepayment": PREPAYMENT,
    "advance": ADVANCE,
    "full_payment": FULL_SETTLEMENT,
}

# Tag 1212, the subject of settlement (spec payments.md §8.2): the API's strings, or the code.
SUBJECT_BY_TYPE = {"commodity": 1, "service": 4}
SUBJECT_PAYMENT = 10  # «платёж»: what an advance (1214 = 3) settles, not yet an item
SUBJECT_CODES = frozenset(range(1, 28)) | frozenset(range(30, 34))

# Tag 2108, the quantity measure, from the line's OKEI `measureCode` (spec payments.md §8.3).
MEASURE_BY_OKEI = {
    "796": 0,
    "163": 10,
    "166": 11,
    "168": 12,
    "004": 20,
    "005": 21,
    "006": 22,
    "051": 30,
    "053": 31,
    "055": 32,
    "112": 41,
    "113": 42,
    "359": 70,
    "356": 71,
}
MEASURE_PIECE = 0
MEASURE_OTHER = 255

# Tag 1081: every payment through the platform is electronic (no cash).
PAYMENT_FORM_ELECTRONIC = "electronic"


def payment_method_sign(payment_type: Any) -> int:
    """Tag 1214 for the API's `paymentType`; a line without one is settled in full."""
    return PAYMENT_METHOD_SIGN.get(str(payment_type), FULL_SETTLEMENT)


def subject_sign(item_type: Any, method_sign: int) -> int:
    """Tag 1212 for the API's `type` (`commodity` -> 1, `service` -> 4, or the code itself).

    An advance (1214 = 3) is paid before the item is defined: its subject is «платёж» (10).
    """
    if method_sign == ADVANCE:
        return SUBJECT_PAYMENT
    if isinstance(item_type, str) and item_type in SUBJECT_BY_TYPE:
        return SUBJECT_BY_TYPE[item_type]
    try:
        code = int(item_type)
    except (TypeError, ValueError):
        return SUBJECT_BY_TYPE["service"]
    return code if code in SUBJECT_CODES else SUBJECT_BY_TYPE["service"]


def measure_sign(measure_code: Any) -> int:
    """Tag 2108 for the line's OKEI code; without a code, a piece (0), as the registrar does."""
    if measure_code is None or str(measure_code).strip() == "":
        return MEASURE_PIECE
    code = str(measure_code).strip()
    if code.isascii() and code.isdigit():
        code = code.zfill(3)
    return MEASURE_BY_OKEI.get(code, MEASURE_OTHER)


def vat_rate(vat_code: str) -> Decimal | None:
    """The VAT percentage of the line's `vatCode`; None when the line is not subject to VAT."""
    return money.vat_rate(vat_code)
