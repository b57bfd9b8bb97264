"""Sandbox refusals.

SandboxOnly      403 sandbox_only     the deployment runs in production mode
BadDuration      422 validation_error `advance` is not a duration such as "2h"
TriggerRefused   409 conflict         the order cannot take this trigger in its state
"""

from __future__ import annotations

from marketbox.errors import Conflict, FieldError, Forbidden, ValidationFailed


class SandboxOnly(Forbidden):
    """Sandbox controls are disabled in production mode (MARKETBOX_MODE=production)."""

    code = "sandbox_only"
    message = "Sandbox controls are disabled in production mode"


class BadDuration(ValidationFailed):
    message = "advance must be a positive duration such as 30m, 2h, 1d or 1d12h"

    def __init__(self, detail: str) -> None:
        super().__init__(fields=[FieldError("advance", "wrong_value", detail)])


class TriggerRefused(Conflict):
    """The order cannot take this trigger now (already paid, canceled, expired…)."""

    message = "The order cannot take this trigger in its current state"
