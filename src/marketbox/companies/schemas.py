"""The `Counterparty` JSON shape of api.md §14 (the docs' "array of OrderResponse" is an erratum,
§15). Field lengths are the spec's; `id` and `vatNumber` are always present, the rest may be
null when the source does not know them."""

from __future__ import annotations

from pydantic import BaseModel, Field

# Spec lengths, also applied to what a source answers (service.counterparty).
MAX_LENGTHS = {
    "vatNumber": 20,
    "taxRegistrationReasonCode": 9,
    "name": 100,
    "nameFull": 300,
    "nameI18n": 300,
    "registrationNumber": 20,
    "registrationAddress": 200,
    "postAddress": 200,
    "postAddressZip": 6,
}


class Counterparty(BaseModel):
    id: str = Field(max_length=36, description="Stable id of this registration")
    vatNumber: str = Field(max_length=20, description="INN")
    taxRegistrationReasonCode: str | None = Field(None, max_length=9, description="KPP")
    name: str | None = Field(None, max_length=100, description="Short name")
    nameFull: str | None = Field(None, max_length=300, description="Full name")
    nameI18n: str | None = Field(
        None, max_length=300, description="Name in the language of the company's region"
    )
    registrationNumber: str | None = Field(
        None, max_length=20, description="State registration number (OGRN, OGRNIP)"
    )
    registrationDate: str | None = Field(None, json_schema_extra={"format": "date-time"})
    registrationAddress: str | None = Field(None, max_length=200)
    postAddress: str | None = Field(None, max_length=200)
    postAddressZip: str | None = Field(None, max_length=6)
