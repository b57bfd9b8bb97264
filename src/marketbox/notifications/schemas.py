"""The delivery log JSON of our API extension (docs/notifications.md §8). Documentation models
for OpenAPI, and the test notification's request; the answers are built by service.py."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from marketbox.orders.schemas import Url, _Model

Status = Literal["pending", "delivered", "rejected", "abandoned", "no_url"]


class NotificationResponse(_Model):
    """A notification as the log lists it (without its body)."""

    id: str
    orderId: str = Field(description="The order it is about (the test: ffffffff-…)")
    merchantId: str
    event: str
    url: str | None = Field(description="Where it is sent; null: nowhere (status no_url)")
    status: Status
    attemptCount: int
    nextAttemptAt: str | None = Field(description="When the next attempt is due (pending only)")
    inFlight: bool = Field(description="A dispatcher is sending it right now: no resend")
    lastError: str | None
    resentFrom: str | None = Field(description="The notification this one resends")
    createdAt: str
    finishedAt: str | None


class SentRequest(_Model):
    url: str | None
    headers: dict[str, str] | None = Field(description="X-Signature included")
    body: str = Field(description="The exact body bytes (UTF-8)")


class ShopReply(_Model):
    status: int
    headers: dict[str, str] | None
    body: str | None = Field(description="The first 2048 bytes of the reply")


class AttemptResponse(_Model):
    """One delivery attempt: the exact request, the shop's reply, our verdict."""

    attempt: int
    startedAt: str
    durationMs: int
    request: SentRequest
    response: ShopReply | None = Field(description="null: no HTTP reply (timeout, refused…)")
    outcome: Literal["success", "retry", "rejected"]
    reason: str | None = Field(
        description="delivered, rejected, blocked, shop_error, http_error, bad_reply, "
        "timeout or connection_error"
    )
    replyCode: str | None = Field(description="The shop's error code, if it sent one")
    error: str | None
    dispatcher: str


class NotificationDetail(NotificationResponse):
    request: SentRequest = Field(description="What every attempt of this record sends")
    attempts: list[AttemptResponse]


class ResendResponse(_Model):
    notificationIds: list[str] = Field(description="The records that carry the resends")


class TestNotificationRequest(_Model):
    url: Url | None = Field(default=None, description="Default: the merchant's notification URL")


class TestNotificationResponse(_Model):
    notificationId: str
    status: Status
    attempt: AttemptResponse | None
