"""Errors of the notification log API (docs/notifications.md "The delivery log API").

NotificationNotFound      404 not_found (also another merchant's notification)
NotificationInFlight      409 notification_in_flight (a dispatcher is sending it now)
NoNotificationUrl         422 validation_error on `url` (nowhere to send a test)
"""

from __future__ import annotations

from marketbox.errors import Conflict, FieldError, NotFound, ValidationFailed


class NotificationNotFound(NotFound):
    message = "Notification not found"


class NotificationInFlight(Conflict):
    code = "notification_in_flight"
    message = (
        "The notification is being delivered right now; wait for this attempt to be recorded, "
        "then resend"
    )


class NoNotificationUrl(ValidationFailed):
    message = "No URL to send to: give one, or set the merchant's notification URL"

    def __init__(self) -> None:
        super().__init__(fields=[FieldError("url", "required", "")])
