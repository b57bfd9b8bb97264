"""The mail message JSON of our API extension (docs/api.md "Mail messages"). A documentation
model for OpenAPI; the answers are built by listing.message_response."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from marketbox.orders.schemas import _Model


class MailMessageResponse(_Model):
    """A letter the platform wrote: to the buyer or to the merchant, and where it stands."""

    id: str
    merchantId: str | None = Field(
        description="Whose letter it is: the merchant a notice is addressed to, or the merchant "
        "of the invoice's main order for the buyer's letter"
    )
    kind: Literal["buyer_receipt", "merchant_payment"]
    to: str = Field(description="The recipient's e-mail address")
    language: Literal["ru", "en"]
    subject: str
    text: str = Field(description="The plain-text body, exactly as sent (or to be sent)")
    status: Literal["pending", "sent", "captured", "failed"] = Field(
        description="pending: not sent yet; sent: the SMTP server accepted it; captured: "
        "sandbox without SMTP, stored and never sent; failed: given up after the last retry"
    )
    attempts: int = Field(description="SMTP attempts so far")
    lastError: str | None = Field(description="Why the last attempt failed")
    orderContainerId: str
    orderId: str | None = Field(description="The order, when the letter is about one order")
    createdAt: str
    nextAttemptAt: str | None = Field(description="When a pending letter is tried next")
    sentAt: str | None = Field(description="When the SMTP server accepted it")
