"""Company sources an operator might plug in (MARKETBOX_COMPANY_LOOKUP=module:factory), for
the tests of that mechanism: one that answers, one that fails, one that is too slow."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from marketbox.companies.sources import Company

PLUGGED_INN = "1234567894"  # any valid INN: the source decides what it knows
PLUGGED_ID = "0190a9a0-1111-7222-8333-444455556666"


class RegistrySource:
    """Answers one company, with a long name and a naive date to show the service's care."""

    async def find_by_inn(self, vat_number: str) -> Sequence[Company]:
        if vat_number != PLUGGED_INN:
            return []
        return [
            Company(
                vat_number=PLUGGED_INN,
                tax_registration_reason_code="123401001",
                name="Р" * 150,
                registration_date=datetime(2001, 5, 7, 12, 0),
                id=PLUGGED_ID.upper(),
            ),
            # Rows for another INN are dropped by the service: a source is not trusted.
            Company(vat_number="0001047185", name="Другая"),
        ]


def make_registry() -> RegistrySource:
    return RegistrySource()


class BrokenSource:
    async def find_by_inn(self, vat_number: str) -> Sequence[Company]:
        raise RuntimeError("registry is down")


class SlowSource:
    async def find_by_inn(self, vat_number: str) -> Sequence[Company]:
        await asyncio.sleep(5)
        return []


not_a_source = object()
