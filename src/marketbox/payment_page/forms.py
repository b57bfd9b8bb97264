"""The payer form (customer object of api.md §8.1) and the form token.

Which fields a payer may touch comes from the main order's `invoiceSetting`:
`customerLocked` locks every field, `customerLockedFields` locks some, `customerHiddenFields`
hides some. A locked or hidden field always keeps the order's value: what a POST sends for it
is ignored. KPP has no name of its own in those lists; it follows `vatNumber` (INN and KPP
are one pair on documents). A locked field without a value is not shown at all.

Values are checked on the server only (the form is `novalidate`); real clients' checks are
reused where the spec lists them: INN checksum, KPP pattern, KPP only with a 10-digit INN.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marketbox import requisites
from marketbox.toolkit import form_tokens
from marketbox.toolkit.formatting import NBSP, format_phone

PRIVATE = "private"
LEGAL = "legal"
PAYER_TYPES = (PRIVATE, LEGAL)

# Customer key -> (form field name, max length, which payer types use it).
FIELDS: dict[str, tuple[str, int, tuple[str, ...]]] = {
    "vatNumber": ("inn", 12, (LEGAL,)),
    "name": ("name", 500, (PRIVATE, LEGAL)),
    "taxRegistrationReasonCode": ("kpp", 9, (LEGAL,)),
    "registrationAddress": ("address", 1000, (LEGAL,)),
    "phone": ("phone", 100, (PRIVATE, LEGAL)),
    "email": ("email", 100, (PRIVATE, LEGAL)),
}
# Required when the payer can fill them in (not locked, not hidden) for the chosen type.
REQUIRED: dict[str, tuple[str, ...]] = {
    PRIVATE: ("email",),
    LEGAL: ("vatNumber", "name", "email"),
}
# invoiceSetting names -> the customer keys they cover.
_SETTING_KEYS = {"vatNumber": ("vatNumber", "taxRegistrationReasonCode")}

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Digits are ASCII only everywhere here: `\d` and str.isdigit() also take "٣", "１" or "²".
_NOT_DIGIT_RE = re.compile(r"[^0-9]")


@dataclass
class Field:
    key: str  # customer key
    name: str  # form field name
    value: str  # what the input or the locked pair shows
    locked: bool
    payer_types: tuple[str, ...]
    required: bool = False  # for the payer type now chosen
    required_for: tuple[str, ...] = ()  # every payer type that must fill it in
    error: str | None = None


@dataclass
class PayerForm:
    type: str
    type_locked: bool
    type_hidden: bool
    fields: list[Field]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def type_editable(self) -> bool:
        return not (self.type_locked or self.type_hidden)

    def shown_for(self, payer_type: str) -> list[Field]:
        return [f for f in self.fields if payer_type in f.payer_types]


def _setting_set(invoice_setting: Mapping[str, Any], name: str) -> set[str]:
    keys: set[str] = set()
    for item in invoice_setting.get(name) or []:
        keys.update(_SETTING_KEYS.get(item, (item,)))
    return keys


def _fixed_keys(invoice_setting: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """(locked, hidden) customer keys."""
    locked = _setting_set(invoice_setting, "customerLockedFields")
    if invoice_setting.get("customerLocked"):
        locked |= {"type", *FIELDS}
    hidden = _setting_set(invoice_setting, "customerHiddenFields") - locked
    return locked, hidden


def _display(key: str, value: str) -> str:
    if key == "phone" and value:
        return format_phone(value).replace(NBSP, " ")
    return value


def build(
    customer: Mapping[str, Any],
    invoice_setting: Mapping[str, Any],
    *,
    payer: Mapping[str, Any] | None = None,
    submitted: Mapping[str, str] | None = None,
) -> PayerForm:
    """The form to render: the order's customer, then what the payer saved or just sent."""
    locked, hidden = _fixed_keys(invoice_setting)
    entered: Mapping[str, Any] = payer or customer
    order_type = str(customer["type"]) if customer.get("type") in PAYER_TYPES else PRIVATE
    if "type" in locked or "type" in hidden:
        payer_type = order_type
    elif submitted is not None and submitted.get("customer_type") in PAYER_TYPES:
        payer_type = str(submitted["customer_type"])
    else:
        payer_type = str(entered["type"]) if entered.get("type") in PAYER_TYPES else order_type
    fields = []
    for key, (name, _max, types) in FIELDS.items():
        if key in hidden:
            continue
        if key in locked:
            value = str(customer.get(key) or "")
            if value:
                fields.append(Field(key, name, _display(key, value), True, types))
            continue
        if submitted is not None:
            value = str(submitted.get(name) or "")
        else:
            value = _display(key, str(entered.get(key) or ""))
        required_for = tuple(t for t in types if key in REQUIRED[t])
        fields.append(
            Field(
                key,
                name,
                value,
                False,
                types,
                required=payer_type in required_for,
                required_for=required_for,
            )
        )
    if "type" in locked or "type" in hidden:
        fields = [f for f in fields if payer_type in f.payer_types]
    return PayerForm(payer_type, "type" in locked, "type" in hidden, fields)


def clean(
    customer: Mapping[str, Any], invoice_setting: Mapping[str, Any], submitted: Mapping[str, str]
) -> tuple[PayerForm, dict[str, Any] | None]:
    """Check a POST: the form with inline errors, and the payer object when it is valid.

    Locked and hidden fields take the order's values whatever was sent.
    """
    form = build(customer, invoice_setting, submitted=submitted)
    locked, hidden = _fixed_keys(invoice_setting)
    payer: dict[str, Any] = {"type": form.type}
    for key in FIELDS:
        if key in locked or key in hidden:
            if customer.get(key):
                payer[key] = customer[key]
    for item in form.fields:
        if item.locked or form.type not in item.payer_types:
            continue
        value = " ".join(item.value.split())
        error = _check(item.key, value, item.required, FIELDS[item.key][1])
        if error is None and item.key == "phone" and value:
            value = normalize_phone(value)
        if error is None and item.key == "taxRegistrationReasonCode" and value:
            inn = str(payer.get("vatNumber") or submitted.get("inn") or "").strip()
            if len(inn) == 12:
                error = "kpp_not_allowed"
        if error:
            item.error = error
            form.errors[item.name] = error
        elif value:
            payer[item.key] = value
    if form.type == PRIVATE:
        # Company details do not apply to a private payer unless the shop fixed them.
        for key in ("vatNumber", "taxRegistrationReasonCode", "registrationAddress"):
            if key not in locked and key not in hidden:
                payer.pop(key, None)
    if customer.get("countryId"):
        payer["countryId"] = customer["countryId"]
    return form, (None if form.errors else payer)


def _check(key: str, value: str, required: bool, max_length: int) -> str | None:
    if not value:
        return "required" if required else None
    if len(value) > max_length:
        return "too_long"
    if key == "email" and not _EMAIL_RE.match(value):
        return "invalid_email"
    if key == "phone" and not 10 <= len(_NOT_DIGIT_RE.sub("", value)) <= 15:
        return "invalid_phone"
    if key == "phone" and re.search(r"[^0-9\s()+-]", value):
        return "invalid_phone"
    if key == "vatNumber" and not requisites.is_valid_inn(value):
        return "invalid_inn"
    if key == "taxRegistrationReasonCode" and not requisites.is_valid_kpp(value):
        return "invalid_kpp"
    return None


def normalize_phone(value: str) -> str:
    """Russian numbers become 7XXXXXXXXXX (design.md §2 "Phone input"); others keep digits."""
    digits = _NOT_DIGIT_RE.sub("", value)
    if len(digits) == 11 and digits[0] == "8" and not value.strip().startswith("+"):
        return "7" + digits[1:]
    if len(digits) == 10 and digits[0] == "9":
        return "7" + digits
    return digits


# --- form token -----------------------------------------------------------------------------
# Double-submit: the page sets a random cookie and repeats it in a hidden field; a POST must
# carry both, equal. A page on another site can make the browser send the cookie, but cannot
# read it to put it into the form.

CSRF_COOKIE = "mb_pay_token"
CSRF_FIELD = "csrf_token"


def new_token() -> str:
    return secrets.token_urlsafe(24)


def token_matches(cookie: str | None, submitted: object) -> bool:
    """The field repeats the cookie, as the page shows it: masked per render (BREACH;
    toolkit/form_tokens.py)."""
    return form_tokens.matches(cookie, submitted)
