"""Company lookup: check the INN, ask the configured source, answer the spec's Counterparty rows.

What a source answers is data from outside: only rows for the INN asked are kept, text is cut
to the spec's lengths, an id that is not a UUID is replaced by the derived one, and a source
that fails or is slower than the configured timeout answers 503 `out_of_service`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from marketbox import ids, requisites
from marketbox.companies.errors import InvalidInn, LookupUnavailable
from marketbox.companies.schemas import MAX_LENGTHS
from marketbox.companies.sources import Company, CompanySource, SourceUnavailable

log = logging.getLogger("marketbox.companies")


def check_inn(vat_number: str | None) -> str:
    if vat_number is None or vat_number == "":
        raise InvalidInn("an INN is required", code="required")
    problem = requisites.inn_problem(vat_number)
    if problem is not None:
        raise InvalidInn(problem)
    return vat_number


async def lookup(
    source: CompanySource,
    *,
    vat_number: str | None,
    page: int,
    page_size: int,
    timeout: float,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the registrations with this INN and how many there are; none is `[]`."""
    inn = check_inn(vat_number)
    try:
        found = await asyncio.wait_for(source.find_by_inn(inn), timeout)
    except SourceUnavailable as exc:
        raise LookupUnavailable(str(exc)) from exc
    except TimeoutError as exc:
        log.warning("company source timed out after %ss inn=%s", timeout, inn)
        raise LookupUnavailable("The company source did not answer in time") from exc
    except Exception as exc:
        # An operator's source is outside code: its failure is an outage, not our crash.
        log.exception("company source failed inn=%s", inn)
        raise LookupUnavailable() from exc
    rows = [counterparty(c) for c in found if isinstance(c, Company) and c.vat_number == inn]
    start = (page - 1) * page_size
    return rows[start : start + page_size], len(rows)


def counterparty(company: Company) -> dict[str, Any]:
    """The Counterparty JSON of one registration (api.md §14)."""
    public_id = company.public_id
    if not ids.is_uuid(public_id):
        public_id = Company(company.vat_number, company.tax_registration_reason_code).public_id
    row: dict[str, Any] = {
        "id": ids.normalize_uuid(public_id),
        "vatNumber": company.vat_number,
        "taxRegistrationReasonCode": company.tax_registration_reason_code,
        "name": company.name,
        "nameFull": company.name_full,
        "nameI18n": company.name_i18n,
        "registrationNumber": company.registration_number,
        "registrationDate": _format_date(company.registration_date),
        "registrationAddress": company.registration_address,
        "postAddress": company.post_address,
        "postAddressZip": company.post_address_zip,
    }
    for name, limit in MAX_LENGTHS.items():
        value = row[name]
        row[name] = value[:limit] if isinstance(value, str) else None
    return row


def _format_date(value: datetime | None) -> str | None:
    if not isinstance(value, datetime):
        return None
    moved = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return moved.strftime("%Y-%m-%dT%H:%M:%S+00:00")
