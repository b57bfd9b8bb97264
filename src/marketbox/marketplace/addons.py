"""Add-on services: which points of sale may join an invoice (docs/security.md, item 1).

An add-on is another merchant's point of sale whose mini-app runs in `suborder` mode on the
payment page and adds its own order to the buyer's invoice (miniapps.md §1.1). What the page
offers and what the API accepts are decided by the same rule, `_shown`:

    the point of sale is active, its mini-app has the suborder mode,
    the operator approved it as an add-on        (addon_status = approved),
    its addonRule holds for the invoice's metaData (no rule: every invoice),
    it is not the point of sale of the main order,
    the main order allows add-ons: its orderSetting.allowAddons, or when the order does not
      say, the allowAddons default of the main order's point of sale (no point of sale: yes),
    and it is among the first `addon_strip_limit` such points of sale in the operator's
      order (addon_position, then oldest first; no limit: all of them).

Approval (`addon_status`):

    none ──(suborder mode saved)──► pending ──approve──► approved ──revoke──► revoked
                                       ▲                                         │
                                       └──────── mini-app changed (production) ──┘

Sandbox approves on save (so local development needs no operator); production waits for
`marketbox addon approve SHOP_ID`, and any change of the mini-app (URL, origins, modes, rule)
sends it back to `pending`, so a rule widened to every invoice is seen before it reaches one.
The operator's order and limit (`marketbox addon position|limit`, the office's operator page)
are in the database, so every process shows the same strip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, ids, money
from marketbox.errors import FieldError, Forbidden
from marketbox.marketplace import miniapp, repository
from marketbox.marketplace.errors import PointOfSaleNotFound
from marketbox.miniapp_host import launch

ADDON_STATUSES = ("none", "pending", "approved", "revoked")


# The operator's limit of the strip (marketplace_settings): JSON null or no row = no limit.
STRIP_LIMIT_SETTING = "addon_strip_limit"
MAX_STRIP_LIMIT = 100
MAX_POSITION = 10_000


class AddonNotAllowed(Forbidden):
    """Another merchant's order may join this invoice only as an approved add-on.

    `code` is the code of the `orderContainerId` field in the error envelope: `addons_off`
    when the seller turned add-ons off for the invoice, `forbidden` otherwise."""

    message = "This invoice accepts no order from this merchant"

    def __init__(self, reason: str, *, code: str = "forbidden") -> None:
        super().__init__(
            f"This invoice accepts no order from this merchant: {reason}",
            fields=[FieldError("orderContainerId", code, reason)],
        )


class BadStripSetting(ValueError):
    """A position or limit the operator typed is not a whole number in range."""


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
    # What its launch data is signed with (miniapp_host/launch.py); never shown.
    launch_keys: launch.LaunchKeys | None = field(default=None, repr=False)


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


def _invoice(rows: Sequence[Any], *, point_allows: bool = True) -> _Invoice | None:
    main = next((r for r in rows if r.joined_as == "main"), None)
    if main is None:  # the main order is gone: the invoice is closed, nothing joins it
        return None
    said = (main.order_setting or {}).get("allowAddons")
    return _Invoice(
        main_shop_id=main.shop_id,
        allows_addons=said if isinstance(said, bool) else point_allows,
        meta_data=meta_data_of(rows),
        shop_ids=frozenset(r.shop_id for r in rows if r is not main and r.shop_id is not None),
    )


async def _load_invoice(conn: AsyncConnection, container_id: str) -> _Invoice | None:
    """The invoice's live orders, and its main point of sale's default when the order is
    silent (one more query only then)."""
    rows = await repository.container_orders(conn, container_id)
    main = next((r for r in rows if r.joined_as == "main"), None)
    point_allows = True
    if (
        main is not None
        and main.shop_id is not None
        and not isinstance((main.order_setting or {}).get("allowAddons"), bool)
    ):
        point_allows = await repository.main_point_allows_addons(conn, main.shop_id)
    return _invoice(rows, point_allows=point_allows)


def _offered(point: Any, invoice: _Invoice) -> bool:
    """Does the invoice offer this point of sale as an add-on, the operator's limit aside?"""
    app = point.mini_app or {}
    return (
        invoice.allows_addons
        and point.active
        and point.addon_status == "approved"
        and "suborder" in app.get("modes", ())
        and point.id != invoice.main_shop_id
        and miniapp.rule_matches(app.get("addonRule"), invoice.meta_data)
    )


async def strip_limit(conn: AsyncConnection) -> int | None:
    """The most add-on cards a payment page shows (the operator's); None: no limit."""
    value = await repository.get_setting(conn, STRIP_LIMIT_SETTING)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def _shown(
    conn: AsyncConnection, invoice: _Invoice, candidates: Sequence[Any] | None = None
) -> list[Any]:
    """The one rule: the points of sale the invoice offers, in the strip's order, at most the
    operator's limit (`candidates`: `repository.addon_candidates`, when already read)."""
    if candidates is None:
        candidates = await repository.addon_candidates(conn)
    offered = [p for p in candidates if _offered(p, invoice)]
    if not offered:  # most invoices: no query for the limit
        return []
    limit = await strip_limit(conn)
    return offered if limit is None else offered[:limit]


async def addons_for_container(conn: AsyncConnection, container_id: str) -> list[Addon]:
    """Points of sale to offer as add-ons on the payment page of this invoice, in the
    operator's order (its positions first, then oldest first) and at most its limit.

    Offered: what `_shown` admits. Not left out: merchants that already have an order in
    the invoice (the airline may sell its own extras, a buyer may add a second taxi); such
    cards come with ``added=True`` when an order of the invoice carries their shopId. The
    container's status is not looked at: the page decides whether to show the strip. An
    unknown or empty container gives ``[]``.
    """
    return (await strip_for_container(conn, container_id)).addons


@dataclass(frozen=True)
class Strip:
    """What a payment page's add-on strip needs, each read once: the cards to offer
    (`addons_for_container`), the invoice's `private.metaData` (`container_meta_data`) and
    every add-on origin for the page's CSP (`addon_origins`)."""

    addons: list[Addon]
    meta_data: list[Any]
    origins: list[str]


async def strip_for_container(conn: AsyncConnection, container_id: str) -> Strip:
    """`addons_for_container`, `container_meta_data` and `addon_origins` of one invoice in
    one pass; nothing offered (`Strip([], [], [])`) reads no more than the offer needed."""
    nothing = Strip([], [], [])
    if not ids.is_uuid(container_id):
        return nothing
    invoice = await _load_invoice(conn, ids.normalize_uuid(container_id))
    if invoice is None or not invoice.allows_addons:
        return nothing
    candidates = await repository.addon_candidates(conn)
    offered = _addons(invoice, await _shown(conn, invoice, candidates))
    if not offered:
        return nothing
    return Strip(offered, invoice.meta_data, _origins_of(candidates))


def _addons(invoice: _Invoice, points: Sequence[Any]) -> list[Addon]:
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
            launch_keys=launch.LaunchKeys.of(
                point.launch_secret,
                point.previous_launch_secret,
                point.previous_launch_secret_valid_until,
            ),
        )
        for point in points
    ]


async def admit_addon(
    conn: AsyncConnection, *, merchant_id: str, shop_id: int | None, container_id: str
) -> int:
    """The point of sale through which `merchant_id` adds an order to another merchant's
    invoice: `shop_id` when given, else the merchant's first one the strip shows.

    Raises AddonNotAllowed unless the payment page shows that point of sale for this
    invoice (an add-on past the operator's limit is not shown, so not admitted either).
    The caller holds the container's lock.
    """
    invoice = await _load_invoice(conn, container_id)
    if invoice is None:
        raise AddonNotAllowed("the invoice is closed")
    if not invoice.allows_addons:
        raise AddonNotAllowed(
            "the seller turned add-on services off for this invoice", code="addons_off"
        )
    shown = [p for p in await _shown(conn, invoice) if p.merchant_id == merchant_id]
    if shop_id is not None:
        shown = [p for p in shown if p.id == shop_id]
    if shown:
        return int(shown[0].id)
    if shop_id is not None:
        raise AddonNotAllowed(f"point of sale {shop_id} is not an add-on shown for this invoice")
    raise AddonNotAllowed("none of your points of sale is an add-on shown for this invoice")


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
    """Points of sale with a suborder mini-app, in the strip's order, for the operator
    (`marketbox addon list`, the office's add-ons page)."""
    return [
        {
            "id": p.id,
            "merchantId": p.merchant_id,
            "title": p.title,
            "url": (p.mini_app or {}).get("url"),
            "addonRule": (p.mini_app or {}).get("addonRule"),
            "active": bool(p.active),
            "addonStatus": p.addon_status,
            "position": p.addon_position,
        }
        for p in await repository.addon_points(conn, status=status)
    ]


def parse_strip_number(text: str | int | None, *, maximum: int) -> int | None:
    """A position or limit as typed by the operator: a whole number 1..maximum, or empty /
    "none" / "-" for none. Raises BadStripSetting otherwise."""
    if text is None:
        return None
    if isinstance(text, int) and not isinstance(text, bool):
        number = text
    else:
        cleaned = str(text).strip().lower()
        if cleaned in ("", "none", "-"):
            return None
        if not (cleaned.isascii() and cleaned.isdigit()) or len(cleaned) > 6:
            raise BadStripSetting(f"a whole number from 1 to {maximum}, or none")
        number = int(cleaned)
    if not 1 <= number <= maximum:
        raise BadStripSetting(f"a whole number from 1 to {maximum}, or none")
    return number


async def set_addon_position(
    conn: AsyncConnection, shop_id: int, position: int | None
) -> dict[str, Any]:
    """The operator places an add-on on the strip (1 first; None: after the placed ones)."""
    if position is not None and not 1 <= position <= MAX_POSITION:
        raise BadStripSetting(f"a whole number from 1 to {MAX_POSITION}, or none")
    point = await repository.get_point_of_sale(conn, shop_id, merchant_id=None)
    if point is None:
        raise PointOfSaleNotFound()
    if "suborder" not in (point.mini_app or {}).get("modes", ()):
        raise AddonNotAllowed(f"point of sale {shop_id} has no suborder mini-app")
    await repository.update_point_of_sale(conn, shop_id, {"addon_position": position})
    return {"id": shop_id, "title": point.title, "position": position}


async def set_strip_limit(conn: AsyncConnection, limit: int | None) -> int | None:
    """The operator sets the most add-on cards a payment page shows (None: no limit)."""
    if limit is not None and not 1 <= limit <= MAX_STRIP_LIMIT:
        raise BadStripSetting(f"a whole number from 1 to {MAX_STRIP_LIMIT}, or none")
    await repository.set_setting(conn, STRIP_LIMIT_SETTING, limit, clock.now())
    return limit


async def addon_origins(conn: AsyncConnection) -> list[str]:
    """Every origin an add-on mini-app may be framed from, offered for this invoice or not:
    the payment page's CSP `frame-src` lists them all, so a card that appears after the
    invoice changed (a rule that holds only now) can open its frame without a reload."""
    return _origins_of(await repository.addon_candidates(conn))


def _origins_of(candidates: Sequence[Any]) -> list[str]:
    found: list[str] = []
    for point in candidates:
        app = point.mini_app or {}
        try:
            own = miniapp.origin_of(app.get("url", ""))
        except ValueError:
            own = ""
        for origin in (*app.get("origins", ()), own):
            if origin and origin not in found:
                found.append(origin)
    return found
