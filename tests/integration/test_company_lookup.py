"""Company lookup by INN (api.md §14, `GET /v3/filter/api/counterparty-detail`) over HTTP on
SQLite and PostgreSQL: the sandbox fixture, refusals, and sources plugged in by configuration."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from marketbox.app import create_app
from marketbox.config import Settings
from marketbox.merchants import service as merchants_service
from marketbox.storage.db import Database
from tests.conftest import DEMO_AUTH, TEST_PUBLIC_URL, make_settings, read
from tests.integration.test_openapi import check
from tests.support.company_sources import PLUGGED_ID, PLUGGED_INN

LOOKUP = "/v3/filter/api/counterparty-detail"
COMPANY_INN = "0004088341"  # ООО "Лавка у пруда": one registration
BRANCHED_INN = "0001047185"  # ООО "Кедровый причал": head office and a Moscow branch
SOLE_TRADER_INN = "000503194730"  # ИП Кузнецова А. В.
UNKNOWN_INN = "0008001535"  # valid check digits, in no fixture
UNKNOWN_PERSON_INN = "000700551236"
COUNTERPARTY_FIELDS = {
    "id",
    "vatNumber",
    "taxRegistrationReasonCode",
    "name",
    "nameFull",
    "nameI18n",
    "registrationNumber",
    "registrationDate",
    "registrationAddress",
    "postAddress",
    "postAddressZip",
}


@pytest.fixture
async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    return (await client.get("/openapi.json")).json()


async def app_client(
    database_url: str, db: Database, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(database_url, **overrides), db=db, migrate=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=TEST_PUBLIC_URL, headers=DEMO_AUTH
    ) as http:
        yield http


def field_names(response: httpx.Response) -> list[str]:
    return [f["name"] for f in read(response)["error"]["fields"]]


# --- the sandbox fixture ---------------------------------------------------------------------


async def test_a_company_is_found_with_every_field(
    api: httpx.AsyncClient, spec: dict[str, Any]
) -> None:
    response = await api.get(LOOKUP, params={"vatNumber": COMPANY_INN})

    assert response.status_code == 200, response.text
    check(spec, LOOKUP, "get", response)
    answer = read(response)
    assert answer["metaData"] == {"totalCount": 1, "pageSize": 30, "page": 1}
    assert answer["extendedData"] == []
    [company] = answer["data"]
    assert set(company) == COUNTERPARTY_FIELDS
    assert company["vatNumber"] == COMPANY_INN
    assert company["taxRegistrationReasonCode"] == "000401001"
    assert company["name"] == 'ООО "ЛАВКА У ПРУДА"'
    assert company["nameFull"] == 'ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ "ЛАВКА У ПРУДА"'
    assert company["registrationNumber"] == "1190004073159"
    assert company["registrationDate"] == "2019-05-30T00:00:00+00:00"
    assert company["postAddressZip"] == "125475"
    assert company["registrationAddress"].startswith("125475, г. Москва")
    assert len(company["id"]) == 36


async def test_ids_are_stable_between_calls(api: httpx.AsyncClient) -> None:
    first = read(await api.get(LOOKUP, params={"vatNumber": BRANCHED_INN}))["data"]
    again = read(await api.get(LOOKUP, params={"vatNumber": BRANCHED_INN}))["data"]

    assert [c["id"] for c in first] == [c["id"] for c in again]
    assert len({c["id"] for c in first}) == 2


async def test_every_registration_of_an_inn_is_listed(api: httpx.AsyncClient) -> None:
    answer = read(await api.get(LOOKUP, params={"vatNumber": BRANCHED_INN}))

    assert answer["metaData"]["totalCount"] == 2
    kpps = [c["taxRegistrationReasonCode"] for c in answer["data"]]
    assert kpps == ["000101001", "000243001"]
    assert {c["registrationNumber"] for c in answer["data"]} == {"1160001012478"}


async def test_a_sole_trader_has_no_kpp(api: httpx.AsyncClient) -> None:
    [trader] = read(await api.get(LOOKUP, params={"vatNumber": SOLE_TRADER_INN}))["data"]

    assert trader["taxRegistrationReasonCode"] is None
    assert trader["name"] == "ИП Кузнецова Анна Викторовна"
    assert len(trader["registrationNumber"]) == 15  # OGRNIP
    assert trader["postAddress"] is None


async def test_a_name_in_the_regions_language(api: httpx.AsyncClient) -> None:
    [company] = read(await api.get(LOOKUP, params={"vatNumber": "0006014779"}))["data"]

    assert company["nameI18n"] == '"ЯШЕЛ ҮЗӘН" ҖАВАПЛЫЛЫГЫ ЧИКЛӘНГӘН ҖӘМГЫЯТЬ'


@pytest.mark.parametrize("inn", [UNKNOWN_INN, UNKNOWN_PERSON_INN])
async def test_an_unknown_valid_inn_is_an_empty_list(
    api: httpx.AsyncClient, spec: dict[str, Any], inn: str
) -> None:
    response = await api.get(LOOKUP, params={"vatNumber": inn})

    assert response.status_code == 200
    check(spec, LOOKUP, "get", response)
    assert read(response)["data"] == []
    assert read(response)["metaData"]["totalCount"] == 0


async def test_paging_in_both_spellings(api: httpx.AsyncClient) -> None:
    plain = read(await api.get(LOOKUP, params={"vatNumber": BRANCHED_INN, "pageSize": 1}))
    second = read(
        await api.get(LOOKUP, params={"vatNumber": BRANCHED_INN, "_page": 2, "_pageSize": 1})
    )

    assert plain["metaData"] == {"totalCount": 2, "pageSize": 1, "page": 1}
    assert [c["taxRegistrationReasonCode"] for c in plain["data"]] == ["000101001"]
    assert second["metaData"] == {"totalCount": 2, "pageSize": 1, "page": 2}
    assert [c["taxRegistrationReasonCode"] for c in second["data"]] == ["000243001"]


async def test_the_filter_may_be_written_with_eq(api: httpx.AsyncClient) -> None:
    response = await api.get(f"{LOOKUP}?vatNumber%5B_eq%5D={COMPANY_INN}")

    assert response.status_code == 200
    assert read(response)["data"][0]["vatNumber"] == COMPANY_INN


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "inn",
    [
        "0004088342",  # a check digit off
        "000503194731",  # a 12-digit one with the last check digit off
        "000408834",  # 9 digits
        "00040883411",  # 11 digits
        "0004088341 ",  # a trailing blank
        "000408834x",
        "٠٠٠٤٠٨٨٣٤١",  # Arabic-Indic digits
        "０００４０８８３４１",  # fullwidth digits
        "-004088341",
    ],
)
async def test_a_bad_inn_is_422_naming_vat_number(
    api: httpx.AsyncClient, spec: dict[str, Any], inn: str
) -> None:
    response = await api.get(LOOKUP, params={"vatNumber": inn})

    assert response.status_code == 422
    check(spec, LOOKUP, "get", response)
    assert read(response)["error"]["code"] == "validation_error"
    assert field_names(response) == ["vatNumber"]


@pytest.mark.parametrize("query", ["", "?vatNumber=", "?page=1"])
async def test_a_missing_inn_is_required(api: httpx.AsyncClient, query: str) -> None:
    response = await api.get(f"{LOOKUP}{query}")

    assert response.status_code == 422
    [problem] = read(response)["error"]["fields"]
    assert problem["name"] == "vatNumber"
    assert problem["code"] == "required"


@pytest.mark.parametrize(
    "query",
    [
        f"vatNumber%5B%5D={COMPANY_INN}&vatNumber%5B%5D={BRANCHED_INN}",  # a list
        f"vatNumber={COMPANY_INN}&vatNumber={BRANCHED_INN}",  # a repeated key
        "vatNumber%5B_start%5D=0001",  # a prefix walk of the registry
        f"vatNumber%5B_ne%5D={COMPANY_INN}",
    ],
)
async def test_one_inn_by_equality_only(api: httpx.AsyncClient, query: str) -> None:
    response = await api.get(f"{LOOKUP}?{query}")

    assert response.status_code == 422
    assert field_names(response) == ["vatNumber"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (f"vatNumber={COMPANY_INN}&name=x", "name"),
        (f"vatNumber={COMPANY_INN}&_order%5BcreatedAt%5D=desc", "_order[createdAt]"),
        (f"vatNumber={COMPANY_INN}&pageSize=101", "pageSize"),
        (f"vatNumber={COMPANY_INN}%00", "vatNumber"),
    ],
)
async def test_other_parameters_are_refused(api: httpx.AsyncClient, query: str, field: str) -> None:
    response = await api.get(f"{LOOKUP}?{query}")

    assert response.status_code == 422
    assert field in field_names(response)


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}], ids=["no-token", "unknown-token"]
)
async def test_a_merchant_token_is_required(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get(LOOKUP, params={"vatNumber": COMPANY_INN}, headers=headers)

    assert response.status_code == 401
    assert read(response)["error"]["code"] == "unauthorized"


async def test_an_instrument_token_is_no_merchant_token(
    client: httpx.AsyncClient, db: Database
) -> None:
    async with db.transaction() as conn:
        bank = await merchants_service.create_instrument(conn, name="Банк")

    response = await client.get(
        LOOKUP,
        params={"vatNumber": COMPANY_INN},
        headers={"Authorization": f"Bearer {bank.token}"},
    )

    assert response.status_code == 401


# --- configured sources ----------------------------------------------------------------------


async def test_without_a_source_the_lookup_is_out_of_service(
    database_url: str, db: Database, spec: dict[str, Any]
) -> None:
    async for http in app_client(database_url, db, company_lookup="none"):
        response = await http.get(LOOKUP, params={"vatNumber": COMPANY_INN})
        bad = await http.get(LOOKUP, params={"vatNumber": "123"})

    assert response.status_code == 503
    check(spec, LOOKUP, "get", response)
    assert read(response)["error"]["code"] == "out_of_service"
    assert bad.status_code == 422  # the INN is still checked first


async def test_production_answers_out_of_service_by_default(
    database_url: str, db: Database
) -> None:
    async for http in app_client(database_url, db, mode="production", session_secret="s" * 32):
        response = await http.get(LOOKUP, params={"vatNumber": COMPANY_INN})

    assert response.status_code == 503


async def test_a_plugged_source_answers_and_is_not_trusted(database_url: str, db: Database) -> None:
    source = "tests.support.company_sources:make_registry"
    async for http in app_client(database_url, db, company_lookup=source):
        found = await http.get(LOOKUP, params={"vatNumber": PLUGGED_INN})
        fixture_inn = await http.get(LOOKUP, params={"vatNumber": COMPANY_INN})

    assert found.status_code == 200, found.text
    [company] = read(found)["data"]  # the row for another INN is dropped
    assert company["id"] == PLUGGED_ID  # lowercased
    assert len(company["name"]) == 100  # cut to the spec's length
    assert company["registrationDate"] == "2001-05-07T12:00:00+00:00"  # naive read as UTC
    assert company["nameFull"] is None
    assert read(fixture_inn)["data"] == []  # the fixture is not consulted


@pytest.mark.parametrize(
    ("source", "timeout"),
    [
        ("tests.support.company_sources:BrokenSource", 10.0),
        ("tests.support.company_sources:SlowSource", 0.05),
    ],
    ids=["failing", "too-slow"],
)
async def test_a_failing_or_slow_source_is_out_of_service(
    database_url: str, db: Database, source: str, timeout: float
) -> None:
    async for http in app_client(
        database_url, db, company_lookup=source, company_lookup_timeout_seconds=timeout
    ):
        response = await http.get(LOOKUP, params={"vatNumber": PLUGGED_INN})

    assert response.status_code == 503
    assert read(response)["error"]["code"] == "out_of_service"


@pytest.mark.parametrize(
    "source",
    [
        "nowhere.module:factory",
        "tests.support.company_sources:missing",
        "tests.support.company_sources:not_a_source",
        "registry",
    ],
)
def test_a_source_that_cannot_be_loaded_stops_start_up(sqlite_url: str, source: str) -> None:
    settings = make_settings(sqlite_url, company_lookup=source)

    with pytest.raises(ValueError, match="MARKETBOX_COMPANY_LOOKUP"):
        create_app(settings, migrate=False)


def test_production_refuses_the_fixture(sqlite_url: str) -> None:
    with pytest.raises(ValueError, match="fictional"):
        Settings(
            database_url=sqlite_url,
            mode="production",
            session_secret="s" * 32,
            company_lookup="fixture",
        )
