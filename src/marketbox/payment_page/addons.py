"""The add-on services strip of the payment page (design.md §3 "Payment page" item 4,
miniapps.md §1.1 `suborder` mode, §8).

For a payable invoice: the points of sale whose suborder mini-app rule matches the container
(`marketplace.addons.addons_for_container`), each as a service card with the bridge
configuration of its frame (`marketplace.host.frame_config`, mode ``suborder``, the
container's id and ``private.metaData``). `web/static/addons.js` opens a card's mini-app in a
sheet; the page CSP must allow framing the add-ons' origins (`frame_sources`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox.marketplace import addons as marketplace_addons
from marketbox.marketplace import host
from marketbox.marketplace.session import Buyer, normalize_phone
from marketbox.payment_page.invoice import Invoice
from marketbox.toolkit.formatting import format_money


@dataclass(frozen=True)
class AddonCard:
    """One service card: what the template shows and the frame the card opens."""

    shop_id: int
    title: str
    description: str
    logo_url: str | None
    price_from: str  # «от 350 ₽», or "" without a minimum order sum
    added: bool
    origins: tuple[str, ...]
    frame: dict[str, Any]
    # What the invoice holds from this card's point of sale, on one line («Трансфер Комфорт ·
    # 1 200,00 ₽»; several orders joined by «; »), "" when nothing was added.
    summary: str = ""


async def load(
    conn: AsyncConnection,
    invoice: Invoice,
    *,
    lang: str,
    session_buyer: Buyer | None,
    payment_url_prefix: str,
    entered: Buyer | None = None,
) -> tuple[list[AddonCard], list[str]]:
    """The cards for `invoice` (none unless it is payable), in the operator's order and at
    most the operator's limit (`marketplace.addons.strip_for_container`), and, when there are
    any, every add-on origin the page's CSP lets it frame (`marketplace.addons.addon_origins`:
    a card the invoice comes to offer after a change opens without a reload).

    `entered`: what the buyer has typed into the page's payer form and not saved yet; its
    non-empty fields come first in the frames' init data (the page sends them as `updateData`).
    """
    if not invoice.is_payable:
        return [], []
    strip = await marketplace_addons.strip_for_container(conn, invoice.id)
    if not strip.addons:
        return [], []
    meta_data = strip.meta_data
    buyer = invoice_buyer(invoice, session_buyer, entered=entered)
    cards = []
    for addon in strip.addons:
        frame = host.frame_config(
            url=addon.url,
            origins=addon.origins,
            mode="suborder",
            shop_id=addon.shop_id,
            title=addon.title,
            locale=lang,
            buyer=buyer,
            payment_url_prefix=payment_url_prefix,
            order_container_id=invoice.id,
            meta_data=meta_data,
            launch_keys=addon.launch_keys,
        )
        price = (
            format_money(addon.min_order_sum, invoice.currency, lang, whole=True)
            if addon.min_order_sum
            else ""
        )
        cards.append(
            AddonCard(
                shop_id=addon.shop_id,
                title=addon.title,
                description=addon.description or "",
                logo_url=addon.logo_url,
                price_from=price,
                added=addon.added,
                origins=addon.origins,
                frame=frame,
                summary=added_summary(invoice, addon.shop_id, lang) if addon.added else "",
            )
        )
    return cards, strip.origins


def added_summary(invoice: Invoice, shop_id: int, lang: str) -> str:
    """What the invoice holds from point of sale `shop_id`, on one line: each add-on order's
    description (else its basket lines' names) and amount, «Трансфер Комфорт · 1 200,00 ₽»."""
    parts = []
    for order in invoice.orders:
        if order.is_main or order.shop_id != shop_id:
            continue
        what = order.description.strip() or ", ".join(line.name for line in order.lines)
        amount = format_money(order.amount, invoice.currency, lang)
        parts.append(f"{what} · {amount}" if what else amount)
    return "; ".join(parts)


def invoice_buyer(
    invoice: Invoice, session_buyer: Buyer | None, *, entered: Buyer | None = None
) -> Buyer:
    """What the host tells the mini-app about the buyer (init data `userName`/`userEmail`/
    `userPhone`): what the buyer typed into the payer form (`entered`), else the payer saved on
    the invoice, else the main order's customer, else the marketplace buyer session; field by
    field."""
    sources: list[dict[str, Any]] = [invoice.payer or {}, invoice.customer or {}]
    if entered is not None:
        sources.insert(0, {"name": entered.name, "email": entered.email, "phone": entered.phone})
    if session_buyer is not None:
        sources.append(
            {"name": session_buyer.name, "email": session_buyer.email, "phone": session_buyer.phone}
        )

    def first(key: str) -> str:
        for source in sources:
            value = source.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return ""

    phone = first("phone")
    return Buyer(name=first("name"), email=first("email"), phone=normalize_phone(phone) or phone)


def frame_sources(cards: Sequence[AddonCard]) -> list[str]:
    """The origins the page must allow in its CSP `frame-src`: every origin a card may frame
    (the registered origins and the origin of the mini-app URL), without duplicates."""
    found: list[str] = []
    for card in cards:
        for origin in (*card.origins, _origin(card.frame["url"])):
            if origin and origin not in found:
                found.append(origin)
    return found


def image_sources(cards: Iterable[AddonCard]) -> list[str]:
    """Origins of the cards' logos, for the CSP `img-src`."""
    found: list[str] = []
    for card in cards:
        origin = _origin(card.logo_url or "")
        if origin and origin not in found:
            found.append(origin)
    return found


def _origin(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc.lower()}"
