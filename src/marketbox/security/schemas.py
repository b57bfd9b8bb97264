"""Request and response models of the credentials API (our extension, docs/api.md
"Credentials and key rotation")."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from marketbox.merchants.service import DEFAULT_OVERLAP, MAX_OVERLAP
from marketbox.orders.schemas import Url

Credential = Literal["token", "signingKey"]
SignatureAlgorithm = Literal["sha1", "sha256", "sha512", "md5"]
MAX_OVERLAP_SECONDS = int(MAX_OVERLAP.total_seconds())
# How long the payment page waits for the shop's answer under shipping control (spec
# notifications.md §6-§7: at most 20 s).
MIN_SHIPPING_CONTROL_SECONDS = 1
MAX_SHIPPING_CONTROL_SECONDS = 20
DEFAULT_OVERLAP_SECONDS = int(DEFAULT_OVERLAP.total_seconds())


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=False)


class RotateRequest(_Model):
    """What to rotate (both by default) and how long the previous one keeps working."""

    credentials: Annotated[list[Credential], Field(min_length=1)] = ["token", "signingKey"]
    overlapSeconds: Annotated[int, Field(ge=0, le=MAX_OVERLAP_SECONDS)] = DEFAULT_OVERLAP_SECONDS


class RetirePreviousRequest(_Model):
    """Which previous credentials stop now (both by default)."""

    credentials: Annotated[list[Credential], Field(min_length=1)] = ["token", "signingKey"]


class NotificationSettingsRequest(_Model):
    """The merchant's default notification URL (null: none) and, when given, the signature
    algorithm and the shipping control (docs/miniapps.md "Shipping control"); an order's own
    `notificationUrl` still wins."""

    notificationUrl: Url | None
    signatureAlgorithm: SignatureAlgorithm | None = None
    shippingControl: bool | None = None
    shippingControlTimeoutSeconds: (
        Annotated[int, Field(ge=MIN_SHIPPING_CONTROL_SECONDS, le=MAX_SHIPPING_CONTROL_SECONDS)]
        | None
    ) = None


class PreviousCredential(BaseModel):
    fingerprint: str
    validUntil: str


class CredentialInfo(BaseModel):
    """A token or a key, named by its fingerprint (the first 16 hex digits of its SHA-256)."""

    fingerprint: str
    createdAt: str
    previous: PreviousCredential | None


class NotificationSettings(BaseModel):
    notificationUrl: str | None
    signatureAlgorithm: SignatureAlgorithm
    shippingControl: bool
    shippingControlTimeoutSeconds: int


class CredentialsResponse(BaseModel):
    """What exists, never the secrets."""

    merchantId: str
    token: CredentialInfo
    signingKey: CredentialInfo
    notification: NotificationSettings


class RotatedCredentials(CredentialsResponse):
    """The rotation's answer: the new secrets, shown this once, and the state after it."""

    newToken: str | None
    newSigningKey: str | None
