"""A merchant's own credentials and notification settings (our extension, docs/api.md
"Credentials and key rotation"): what exists, rotation with an overlap, ending the overlap
early, the default notification URL and signature algorithm.

Secrets are answered once, by `rotate`; `credentials` names them by fingerprint only. The
caller announces every change after its commit (SharedState.credentials_changed), so each
process drops the tokens it cached.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, netguard
from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import Merchant
from marketbox.orders import validation
from marketbox.orders.serializers import format_datetime
from marketbox.security import signing
from marketbox.security.schemas import (
    NotificationSettingsRequest,
    RetirePreviousRequest,
    RotateRequest,
)
from marketbox.storage.tables import merchants


async def credentials(conn: AsyncConnection, *, merchant: Merchant) -> dict[str, Any]:
    """The merchant's token, signing key and notification settings, without secrets. A
    previous credential is shown only while it still works."""
    row = (await conn.execute(select(merchants).where(merchants.c.id == merchant.id))).one()
    m = row._mapping
    now = clock.now()
    return {
        "merchantId": m["id"],
        "token": _info(
            m["token_hash"][:16],
            m["token_created_at"] or m["created_at"],
            m["previous_token_hash"] and m["previous_token_hash"][:16],
            m["previous_token_valid_until"],
            now,
        ),
        "signingKey": _info(
            signing.fingerprint(m["signing_key"]),
            m["signing_key_created_at"] or m["created_at"],
            m["previous_signing_key"] and signing.fingerprint(m["previous_signing_key"]),
            m["previous_signing_key_valid_until"],
            now,
        ),
        "notification": {
            "notificationUrl": m["notification_url"],
            "signatureAlgorithm": m["sign_algorithm"],
            "shippingControl": bool(m["shipping_control"]),
            "shippingControlTimeoutSeconds": m["shipping_control_timeout_seconds"],
        },
    }


def _info(
    fingerprint: str,
    created_at: datetime,
    previous: str | None,
    valid_until: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    in_force = previous and valid_until is not None and now < valid_until
    return {
        "fingerprint": fingerprint,
        "createdAt": format_datetime(created_at),
        "previous": {"fingerprint": previous, "validUntil": format_datetime(valid_until)}
        if in_force and valid_until is not None
        else None,
    }


async def rotate(
    conn: AsyncConnection, *, merchant: Merchant, request: RotateRequest
) -> dict[str, Any]:
    """New secrets for what the request names; the previous ones work `overlapSeconds` more.
    The answer is the only place the new secrets ever appear."""
    created = await merchants_service.rotate_merchant_credentials(
        conn,
        merchant.id,
        token="token" in request.credentials,
        signing_key="signingKey" in request.credentials,
        overlap=timedelta(seconds=request.overlapSeconds),
    )
    return {
        **await credentials(conn, merchant=merchant),
        "newToken": created.token or None,
        "newSigningKey": created.signing_key or None,
    }


async def retire_previous(
    conn: AsyncConnection, *, merchant: Merchant, request: RetirePreviousRequest
) -> dict[str, Any]:
    """End the overlap now: the previous token and/or key stop working."""
    await merchants_service.retire_previous_merchant_credentials(
        conn,
        merchant.id,
        token="token" in request.credentials,
        signing_key="signingKey" in request.credentials,
    )
    return await credentials(conn, merchant=merchant)


async def set_notification(
    conn: AsyncConnection,
    *,
    merchant: Merchant,
    request: NotificationSettingsRequest,
    production: bool,
) -> dict[str, Any]:
    """The default notification URL, checked as an order's `notificationUrl` is (https and
    public addresses only in production, netguard.py), the signature algorithm and the
    shipping control with its time limit (each kept as it is when not given)."""
    validation.check_notification_url(request.notificationUrl, require_https=production)
    if production:
        await netguard.check_url(request.notificationUrl, field="notificationUrl")
    values: dict[str, Any] = {"notification_url": request.notificationUrl}
    if request.signatureAlgorithm is not None:
        values["sign_algorithm"] = request.signatureAlgorithm
    if request.shippingControl is not None:
        values["shipping_control"] = request.shippingControl
    if request.shippingControlTimeoutSeconds is not None:
        values["shipping_control_timeout_seconds"] = request.shippingControlTimeoutSeconds
    await conn.execute(update(merchants).where(merchants.c.id == merchant.id).values(**values))
    return await credentials(conn, merchant=merchant)
