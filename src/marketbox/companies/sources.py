"""Where company details come from: one small interface, chosen by configuration.

    MARKETBOX_COMPANY_LOOKUP=fixture                 the bundled fictional companies (sandbox)
    MARKETBOX_COMPANY_LOOKUP=none                    no source: lookups answer 503 out_of_service
    MARKETBOX_COMPANY_LOOKUP=package.module:factory  an operator's source (docs/companies.md)

A source is any object with ``async def find_by_inn(vat_number) -> Sequence[Company]``: every
registration the INN has (a company's head office and its branches differ by KPP), or nothing.
The factory is called once, without arguments, when the app is built, so a source that cannot
be loaded stops start-up with the variable's name in the message. What a source answers is
treated as untrusted data: the service keeps only rows for the INN asked and checks lengths.
"""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from marketbox import parsing, requisites

FIXTURE_PATH = Path(__file__).parent / "data" / "companies.json"
SETTING = "MARKETBOX_COMPANY_LOOKUP"

# Ids of companies whose source has none of its own: a UUID derived from INN and KPP, so the
# same registration always has the same id, whichever process answers.
_ID_NAMESPACE = uuid.UUID("6f1b2d9e-3c0a-5e4b-9a51-2f7c8d4e0b13")


@dataclass(frozen=True)
class Company:
    """One registration of a company or sole trader (the `Counterparty` of api.md §14)."""

    vat_number: str
    tax_registration_reason_code: str | None = None
    name: str | None = None
    name_full: str | None = None
    name_i18n: str | None = None
    registration_number: str | None = None
    registration_date: datetime | None = None
    registration_address: str | None = None
    post_address: str | None = None
    post_address_zip: str | None = None
    # The source's own stable id, if it has one (36-character UUID); else derived.
    id: str | None = None

    @property
    def public_id(self) -> str:
        if self.id is not None:
            return self.id
        key = f"{self.vat_number}/{self.tax_registration_reason_code or ''}"
        return str(uuid.uuid5(_ID_NAMESPACE, key))


@runtime_checkable
class CompanySource(Protocol):
    async def find_by_inn(self, vat_number: str) -> Sequence[Company]:
        """Every registration with this INN (already checked to be a valid one), or none."""
        ...


class SourceUnavailable(Exception):
    """The source cannot answer now (not configured, down, too slow)."""


class FixtureSource:
    """The bundled fictional companies (`data/companies.json`), read once."""

    def __init__(self, path: Path = FIXTURE_PATH) -> None:
        document = json.loads(path.read_text(encoding="utf-8"))
        self._by_inn: dict[str, list[Company]] = {}
        for record in document["companies"]:
            company = company_from_json(record)
            self._by_inn.setdefault(company.vat_number, []).append(company)

    @property
    def companies(self) -> list[Company]:
        return [c for found in self._by_inn.values() for c in found]

    async def find_by_inn(self, vat_number: str) -> Sequence[Company]:
        return tuple(self._by_inn.get(vat_number, ()))


class NoSource:
    """No company source configured (production's default): every lookup is refused."""

    async def find_by_inn(self, vat_number: str) -> Sequence[Company]:
        raise SourceUnavailable("company lookup is not configured on this platform")


def company_from_json(record: dict[str, Any]) -> Company:
    """A fixture record (the response field names, without `id`) as a Company; a record that
    is not a valid registration is a broken fixture and raises ValueError."""
    vat_number = record["vatNumber"]
    if not requisites.is_valid_inn(vat_number):
        raise ValueError(f"fixture company {vat_number!r}: not a valid INN")
    kpp = record.get("taxRegistrationReasonCode")
    if kpp is not None and (len(vat_number) != 10 or not requisites.is_valid_kpp(kpp)):
        raise ValueError(f"fixture company {vat_number!r}: KPP {kpp!r} does not fit")
    ogrn = record.get("registrationNumber")
    if ogrn is not None and not requisites.is_valid_ogrn(ogrn):
        raise ValueError(f"fixture company {vat_number!r}: OGRN {ogrn!r} is not valid")
    date = record.get("registrationDate")
    return Company(
        vat_number=vat_number,
        tax_registration_reason_code=kpp,
        name=record.get("name"),
        name_full=record.get("nameFull"),
        name_i18n=record.get("nameI18n"),
        registration_number=ogrn,
        registration_date=parsing.parse_datetime(date) if date is not None else None,
        registration_address=record.get("registrationAddress"),
        post_address=record.get("postAddress"),
        post_address_zip=record.get("postAddressZip"),
        id=record.get("id"),
    )


def load_source(name: str) -> CompanySource:
    """The source `name` stands for; ValueError naming the setting when it cannot be had."""
    if name == "fixture":
        return FixtureSource()
    if name == "none":
        return NoSource()
    module_name, _, attribute = name.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{SETTING}={name!r}: expected fixture, none or package.module:factory")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"{SETTING}={name!r}: cannot load it ({exc})") from exc
    # A class or a factory function is called; a ready-made source object is used as it is.
    if isinstance(factory, type) or not hasattr(factory, "find_by_inn"):
        source = factory() if callable(factory) else factory
    else:
        source = factory
    if not isinstance(source, CompanySource):
        raise ValueError(f"{SETTING}={name!r}: the source has no find_by_inn(vat_number) method")
    return source
