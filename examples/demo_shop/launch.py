"""Trusting the launch data: the shop orders only for what the platform signed.

The host hands the mini-app `public.signedLaunchData` (docs/miniapps.md "Signed launch
data"); the frontend sends it verbatim with the order request, and the backend verifies it
with the launch secret of the point of sale it names before anything else. The buyer, the
point of sale and the invoice (`orderContainerId`) of the platform order then come from the
verified data only: a changed name or container id, or none at all, is refused.

How the shop learns its secrets, as a real shop would: with its own API token,
`GET /v3/marketplace/api/shop/{id}` (`AsyncClient.get_shop`) answers `launchSecret` for its
own points of sale only (another merchant's is a 404, so launch data of a foreign point of
sale is refused too). A secret is read the first time its shop id is seen and kept in memory;
when verification fails it is read again (the merchant may have rotated it), at most once per
`refresh_seconds` per point of sale, so forged requests cannot make the shop hammer the API.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import parse_qsl

from marketbox_sdk import (
    DEFAULT_LAUNCH_MAX_AGE,
    AsyncClient,
    InvalidLaunchData,
    LaunchData,
    NotFound,
    TamperedLaunchData,
    verify_launch_data,
)

REFRESH_SECONDS = 60.0


class LaunchVerifier:
    """Verifies signed launch data with the secrets of the shop's own points of sale."""

    def __init__(
        self,
        *,
        max_age: float = DEFAULT_LAUNCH_MAX_AGE,
        refresh_seconds: float = REFRESH_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_age = max_age
        self.refresh_seconds = refresh_seconds
        self._monotonic = monotonic
        self._secrets: dict[int, tuple[str, float]] = {}

    async def verify(self, client: AsyncClient, signed: object) -> LaunchData:
        """The verified launch facts, or a `LaunchDataError` (missing, tampered, stale, or of a
        point of sale that is not ours). Platform failures (TransportError, …) pass through."""
        if not isinstance(signed, str) or not signed:
            raise InvalidLaunchData(
                "No signed launch data: open the shop from the marketplace or the payment page"
            )
        shop_id = _claimed_shop_id(signed)
        cached = self._secrets.get(shop_id)
        if cached is None:
            secret = await self._read(client, shop_id)
            return verify_launch_data(signed, secret, max_age=self.max_age)
        secret, read_at = cached
        try:
            return verify_launch_data(signed, secret, max_age=self.max_age)
        except TamperedLaunchData:
            if self._monotonic() - read_at < self.refresh_seconds:
                raise
        # Maybe rotated since we read it: read once more and decide with the fresh secret.
        fresh = await self._read(client, shop_id)
        return verify_launch_data(signed, fresh, max_age=self.max_age)

    async def _read(self, client: AsyncClient, shop_id: int) -> str:
        try:
            shop = await client.get_shop(shop_id)
        except NotFound:
            raise TamperedLaunchData(
                "The launch data names a point of sale that is not ours"
            ) from None
        if not shop.launch_secret:
            raise InvalidLaunchData("The point of sale has no launch secret")
        self._secrets[shop_id] = (shop.launch_secret, self._monotonic())
        return shop.launch_secret


def _claimed_shop_id(signed: str) -> int:
    """The shopId the (not yet verified) data names: it only picks the secret to verify with."""
    try:
        value = dict(parse_qsl(signed)).get("shopId", "")
        shop_id = int(value)
    except ValueError:
        raise InvalidLaunchData("The signed launch data names no point of sale") from None
    if not 0 < shop_id < 2**31:
        raise InvalidLaunchData("The signed launch data names no point of sale")
    return shop_id
