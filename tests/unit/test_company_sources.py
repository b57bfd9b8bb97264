"""The company sources (marketbox.companies.sources): the bundled fixture is fictional and
valid, and MARKETBOX_COMPANY_LOOKUP names the source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from marketbox import ids, requisites
from marketbox.companies import service
from marketbox.companies.errors import InvalidInn
from marketbox.companies.schemas import MAX_LENGTHS
from marketbox.companies.sources import (
    FIXTURE_PATH,
    Company,
    CompanySource,
    FixtureSource,
    NoSource,
    SourceUnavailable,
    company_from_json,
    load_source,
)

FIXTURE = FixtureSource()


@pytest.mark.parametrize("company", FIXTURE.companies, ids=lambda c: c.vat_number)
def test_every_fixture_company_is_valid_and_fictional(company: Company) -> None:
    assert requisites.is_valid_inn(company.vat_number)
    # Region code 00 belongs to no tax office: no fixture INN, KPP or OGRN is a real one.
    assert company.vat_number.startswith("00")
    assert company.registration_number is not None
    assert requisites.is_valid_ogrn(company.registration_number)
    assert company.registration_number[3:5] == "00"
    if len(company.vat_number) == 12:  # a sole trader: no KPP, an OGRNIP
        assert company.tax_registration_reason_code is None
        assert len(company.registration_number) == 15
    else:
        kpp = company.tax_registration_reason_code
        assert kpp is not None and requisites.is_valid_kpp(kpp)
        assert kpp.startswith("00")
        assert len(company.registration_number) == 13
    row = service.counterparty(company)
    assert ids.is_uuid(row["id"])
    for name, limit in MAX_LENGTHS.items():  # nothing the service would have to cut
        assert getattr(company, _ATTRIBUTES[name]) == row[name]
        assert row[name] is None or len(row[name]) <= limit


_ATTRIBUTES = {
    "vatNumber": "vat_number",
    "taxRegistrationReasonCode": "tax_registration_reason_code",
    "name": "name",
    "nameFull": "name_full",
    "nameI18n": "name_i18n",
    "registrationNumber": "registration_number",
    "registrationAddress": "registration_address",
    "postAddress": "post_address",
    "postAddressZip": "post_address_zip",
}


def test_fixture_ids_are_unique_and_derived_from_inn_and_kpp() -> None:
    ids_ = [c.public_id for c in FIXTURE.companies]

    assert len(set(ids_)) == len(ids_)
    again = Company(
        FIXTURE.companies[0].vat_number, FIXTURE.companies[0].tax_registration_reason_code
    )
    assert again.public_id == ids_[0]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"vatNumber": "0001047186"}, "INN"),
        ({"taxRegistrationReasonCode": "0001010"}, "KPP"),
        ({"vatNumber": "000503194730"}, "KPP"),  # a sole trader has none
        ({"registrationNumber": "1160001012479"}, "OGRN"),
    ],
)
def test_a_broken_fixture_record_is_refused(change: dict, problem: str) -> None:
    record = json.loads(FIXTURE_PATH.read_text(encoding="utf-8"))["companies"][0]

    with pytest.raises(ValueError, match=problem):
        company_from_json({**record, **change})


def test_a_fixture_file_can_be_given(tmp_path: Path) -> None:
    path = tmp_path / "companies.json"
    path.write_text(json.dumps({"companies": [{"vatNumber": "1234567894"}]}), encoding="utf-8")

    source = FixtureSource(path)

    assert [c.vat_number for c in source.companies] == ["1234567894"]


def test_load_source_by_name() -> None:
    assert isinstance(load_source("fixture"), FixtureSource)
    assert isinstance(load_source("none"), NoSource)
    plugged = load_source("tests.support.company_sources:make_registry")
    assert isinstance(plugged, CompanySource)
    assert type(plugged).__name__ == "RegistrySource"
    assert type(load_source("tests.support.company_sources:BrokenSource")).__name__ == (
        "BrokenSource"
    )


async def test_no_source_is_unavailable() -> None:
    with pytest.raises(SourceUnavailable):
        await NoSource().find_by_inn("0001047185")


@pytest.mark.parametrize(("value", "code"), [(None, "required"), ("", "required"), ("1", None)])
def test_check_inn_names_vat_number(value: str | None, code: str | None) -> None:
    with pytest.raises(InvalidInn) as caught:
        service.check_inn(value)

    [field] = caught.value.fields
    assert field.name == "vatNumber"
    assert field.code == (code or "wrong_value")


def test_a_source_id_that_is_no_uuid_is_replaced() -> None:
    company = Company("1234567894", "123401001", id="registry-42")

    row = service.counterparty(company)

    assert row["id"] == Company("1234567894", "123401001").public_id
