"""Playground refusals.

BadRun    422 validation_error   the posted run is not {"context": {...}, "log": [...]}
"""

from __future__ import annotations

from marketbox.errors import FieldError, ValidationFailed


class BadRun(ValidationFailed):
    """The posted run is not a context object and a list of log entries."""

    message = 'A run is {"context": {...}, "log": [...]}'

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(fields=[FieldError(field, "wrong_value", detail)])
