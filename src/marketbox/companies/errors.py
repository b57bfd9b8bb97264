"""Company lookup errors."""

from __future__ import annotations

from marketbox.errors import AppError, FieldError, ValidationFailed


class InvalidInn(ValidationFailed):
    """`vatNumber` is missing or is not an INN (ASCII digits, 10 or 12, valid check digits)."""

    message = "vatNumber must be a valid INN"

    def __init__(self, problem: str, *, code: str = "wrong_value") -> None:
        super().__init__(f"vatNumber: {problem}", fields=[FieldError("vatNumber", code, problem)])


class LookupUnavailable(AppError):
    """The company source is not configured, failed or did not answer in time."""

    status = 503
    code = "out_of_service"
    message = "Company lookup is unavailable; try again later"
