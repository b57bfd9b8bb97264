"""Add-on services: which points of sale may join an invoice (docs/security.md, item 1).

An add-on is another merchant's point of sale whose mini-app runs in `suborder` mode on the
payment page and adds its own order to the buyer's invoice (miniapps.md §1.1). What the page
offers and what the API accepts are decided by the same predicate, `_offered`:

    the point of sale is active, its mini-app has the suborder mode,
    the operator approved it as an add-on        (addon_status = approved),
    its addonRule holds for the invoice's metaData (no rule: every invoice),
    it is not the point of sale of the main order,
    and the main order allows add-ons             (orderSetting.allowAddons is not false).

Approval (`addon_status`):

    none ──(suborder mode saved)──► pending ──approve──► approved ──revoke──► revoked
                                       ▲                                         │
                                       └──────── mini-app changed (production) ──┘

Sandbox approves on save (so local development needs no operator); production waits for
`marketbox addon approve SHOP_ID`, and any change of the mini-app (URL, origins, modes, rule)
sends it back to `pending`, so a rule widened to every invoice is seen before it reaches one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import ids, money
from marketbox.errors import FieldError, Forbidden
from marketbox.marketplace import miniapp, repository
from marketbox.marketplace.errors import PointOfSaleNotFound

ADDON_STATUSES = ("none", "pending", "approved", "revoked")


class AddonNotAllowed(Forbidden):
    """Another merchant's order may join this invoice only as an approved add-on."""

    message = "This invoice accepts no order from this merchant"

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"This invoice accepts no order from this merchant: {reason}",
            fields=[FieldError("orderContainerId", "forbidden", reason)],
        )


@dataclass(frozen=True)
class Addon:
    """A point of sale whose suborder mini-app is offered for an invoice (a service card)."""

    shop_id: int
    merchant_id: str
    title: str
    description: str | None
    logo_url: str | None
    url: str
    origins: tuple[str, ...]
    # The invoice already holds an order with this shopId: show «Добавлено» / «Добавить ещё».
    added: bool = False
    min_order_sum: Decimal | None = field(default=None)


def addon_status_after_save(mini_app: dict[str, Any] | None, *, auto_approve: bool) -> str:
    """The approval state of a point of sale whose mini-app was just saved."""
    if not mini_app or "suborder" not in mini_app["modes"]:
        return "none"
    return "approved" if auto_approve else "pending"


def meta_data_of(rows: Sequence[Any]) -> list[Any]:
    """Each order's metaData, then every basket item's metaData (miniapps.md §3.2)."""
    out = [r.meta_data for r in rows if r.meta_data is not None]
    for r in rows:
        for item in r.basket_items or []:
            if isinstance(item, dict) and item.get("metaData") is not None:
                out.append(item["metaData"])
    return out


async def container_meta_data(conn: AsyncConnection, container_id: str) -> list[Any]:
    """What the host puts into `private.metaData` for a suborder mini-app of this invoice.

    Live orders only (canceled and expired orders and refunds are left out), oldest first:
    first every order's `metaData`, then every basket item's `metaData`. Orders and items
    without metadata add nothing. An unknown container gives ``[]``.
    """
    if not ids.is_uuid(container_id):
        return []
    rows = await repository.container_orders(conn, ids.normalize_uuid(container_id))
    return meta_data_of(rows)


@dataclass(frozen=True)
class _Invoice:
    """What the add-on predicate needs to know about an invoice."""

    main_shop_id: int | None
    allows_addons: bool
    meta_data: list[Any]
    shop_ids: frozenset[int]


def _invoice(rows: Sequence[Any]) -> _Invoice | None:
    main = next((r for r in rows if r.joined_as == "main"), None)
    if main is None:  # the main order is gone: the invoice is closed, nothing joins it
        return None
    setting = main.order_setting or {}
    return _Invoice(
        main_shop_id=main.shop_id,
        allows_addons=setting.get("allowAddons") is not False,
        meta_data=meta_data_of(rows),
        shop_ids=frozenset(r.shop_id for r in rows if r is not main and r.shop_id is not None),
    )


def _offered(point: Any, invoice: _Invoice) -> bool:
    """The one rule: does the invoice offer this point of sale as an add-on?"""
    app = point.mini_app or {}
    return (
        invoice.allows_addons
        and point.active
        and point.addon_status == "approved"
        and "suborder" in app.get("modes", ())
        and point.id != invoice.main_shop_id
        and miniapp.rule_matches(app.get("addonRule"), invoice.meta_data)
    )


async def addons_for_container(conn: AsyncConnection, container_id: str) -> list[Addon]:
    """Points of sale to offer as add-ons on the payment page of this invoice, oldest first.

    Offered: what `_offered` admits. Not left out: merchants that already have an order in
    the invoice (the airline may sell its own extras, a buyer may add a second taxi); such
    cards come with ``added=True`` when an order of the invoice carries their shopId. The
    container's status is not looked at: the page decides whether to show the strip. An
    unknown or empty container gives ``[]``.
    """
    if not ids.is_uuid(container_id):
        return []
    invoice = _invoice(await repository.container_orders(conn, ids.normalize_uuid(container_id)))
    if invoice is None:
        return []
    return [
        Addon(
            shop_id=point.id,
            merchant_id=point.merchant_id,
            title=point.title,
            description=point.description,
            logo_url=point.logo_url,
            url=point.mini_app["url"],
            origins=tuple(point.mini_app["origins"]),
            added=point.id in invoice.shop_ids,
            min_order_sum=money.from_minor(point.min_order_sum_minor)
            if point.min_order_sum_minor is not None
            else None,
        )
        for point in await repository.addon_candidates(conn)
        if _offered(point, invoice)
    ]


async def admit_addon(
    conn: AsyncConnection, *, merchant_id: str, shop_id: int | None, container_id: str
) -> int:
    """The point of sale through which `merchant_id` adds an order to another merchant's
    invoice: `shop_id` when given, else the merchant's first one the invoice offers.

    Raises AddonNotAllowed unless the payment page would offer that point of sale for this
    invoice. The caller holds the container's lock.
    """
    invoice = _invoice(await repository.container_orders(conn, container_id))
    if invoice is None:
        raise AddonNotAllowed("the invoice is closed")
    if not invoice.allows_addons:
        raise AddonNotAllowed("the seller turned add-on services off for this invoice")
    points = await repository.addon_candidates(conn, merchant_id=merchant_id)
    if shop_id is not None:
        points = [p for p in points if p.id == shop_id]
    for point in points:
        if _offered(point, invoice):
            return int(point.id)
    if shop_id is not None:
        raise AddonNotAllowed(f"point of sale {shop_id} is not an add-on offered for this invoice")
    raise AddonNotAllowed("none of your points of sale is an add-on offered for this invoice")


async def set_addon_status(conn: AsyncConnection, shop_id: int, status: str) -> dict[str, Any]:
    """The operator approves or revokes a point of sale as an add-on (`marketbox addon ...`)."""
    if status not in ("approved", "revoked"):
        raise ValueError(f"unknown add-on decision: {status}")
    point = await repository.get_point_of_sale(conn, shop_id, merchant_id=None)
    if point is None:
        raise PointOfSaleNotFound()
    if "suborder" not in (point.mini_app or {}).get("modes", ()):
        raise AddonNotAllowed(f"point of sale {shop_id} has no suborder mini-app")
    await repository.update_point_of_sale(conn, shop_id, {"addon_status": status})
    return {"id": shop_id, "title": point.title, "addonStatus": status}


async def list_addons(conn: AsyncConnection, *, status: str | None = None) -> list[dict[str, Any]]:
    """Points of sale with a suborder mini-app, for the operator (`marketbox addon list`)."""
    return [
        {
            "id": p.id,
            "merchantId": p.merchant_id,
            "title": p.title,
            "url": (p.mini_app or {}).get("url"),
            "addonRule": (p.mini_app or {}).get("addonRule"),
            "active": bool(p.active),
            "addonStatus": p.addon_status,
        }
        for p in await repository.addon_points(conn, status=status)
    ]


async def addon_origins(conn: AsyncConnection) -> list[str]:
    """Every origin an add-on mini-app may be framed from, offered for this invoice or not:
    the payment page's CSP `frame-src` lists them all, so a card that appears after the
    invoice changed (a rule that holds only now) can open its frame without a reload."""
    found: list[str] = []
    for point in await repository.addon_candidates(conn):
        app = point.mini_app or {}
        try:
            own = miniapp.origin_of(app.get("url", ""))
        except ValueError:
            own = ""
        for origin in (*app.get("origins", ()), own):
            if origin and origin not in found:
                found.append(origin)
    return found
