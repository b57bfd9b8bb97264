"""Signed launch data as the host makes it, for tests that play a mini-app's frontend
(docs/miniapps.md "Signed launch data")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from marketbox.miniapp_host.launch import LaunchKeys
from marketbox.miniapp_host.protocol import build_init_data


def signed_launch_data(
    shop_id: int,
    secret: str,
    *,
    order_container_id: str | None = None,
    customer: Mapping[str, Any] | None = None,
    locale: str = "ru",
    meta_data: Iterable[Any] = (),
    issued_at: int | None = None,
) -> str:
    """`public.signedLaunchData` for point of sale `shop_id` (its `launchSecret`): suborder
    mode with `order_container_id`, else order mode; the buyer from `customer`'s name, email,
    phone."""
    customer = customer or {}
    public = build_init_data(
        shop_id=shop_id,
        user_name=customer.get("name"),
        user_email=customer.get("email"),
        user_phone=customer.get("phone"),
        locale=locale,
        mode="suborder" if order_container_id else "order",
        order_container_id=order_container_id,
        meta_data=meta_data,
        launch_keys=LaunchKeys(current=secret),
        issued_at=issued_at,
    )["public"]
    return public["signedLaunchData"]
